"""``report.html`` of ``qunguan audit``: one self-contained file (inline CSS and SVG, no
script, nothing fetched), rendered with Jinja2 from an ``AuditSummary``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from qunguan.importers.elections import envelope_detectors
from qunguan.importers.svg import day_bars, span_text, spread_lines
from qunguan.kernel.money import format_fen

if TYPE_CHECKING:
    from qunguan.importers.audit import AuditSummary

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("qunguan.importers", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
CLUSTERS_CHARTED = 8
CLUSTERS_LISTED = 100


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _envelope_sections(summary: AuditSummary) -> list[dict[str, Any]]:
    t = summary.tally
    sections = []
    for group in sorted(t.envelope_days, key=lambda g: -sum(t.envelope_days[g].values())):
        counts = t.envelope_days[group]
        shaded = [(e.start, e.end) for e in summary.elections
                  if e.group in (group, t.groups[group].name)]
        alerts = [f for f in summary.envelope_findings if f.get("group") == group]
        marked = {d for f in alerts if (d := _day(f.get("time"))) is not None}
        fen: dict[date, int] = dict(t.envelope_fen.get(group, {}))
        in_elections = sum(n for d, n in counts.items() if any(a <= d <= b for a, b in shaded))
        sections.append({
            "group": group, "name": t.groups[group].name, "count": sum(counts.values()),
            "in_elections": in_elections, "known_yuan": format_fen(sum(fen.values())),
            "unknown": t.envelope_unknown_amount.get(group, 0), "alerts": alerts,
            "elections": [e for e in summary.elections
                          if e.group in (group, t.groups[group].name)],
            "chart": day_bars(dict(counts), shaded=shaded, marked=marked, unit="envelopes",
                              title=f"Red envelopes per day in {t.groups[group].name}")})
    return sections


def write_report(summary: AuditSummary, path: Path) -> None:
    t = summary.tally
    clusters = summary.clusters[:CLUSTERS_LISTED]
    chart = spread_lines([(f"{c['cluster']} ({c['groups']} groups)", c["times"])
                          for c in clusters[:CLUSTERS_CHARTED]],
                         title="Copies of each rumour cluster over time")
    group_chart = spread_lines(
        [(f"{c['cluster']}: groups reached",
          sorted(datetime.fromisoformat(v.replace("Z", "+00:00"))
                 for v in c["group_reached"].values()))
         for c in clusters[:CLUSTERS_CHARTED]],
        title="Groups reached by each rumour cluster over time")
    groups = sorted(t.groups.items(), key=lambda kv: (-kv[1].flagged, -kv[1].messages, kv[0]))
    # Rendered piece by piece into the file, the examples read group by group: the page grows
    # with the groups and their flagged messages, and holding it whole (and its encoded copy)
    # was the main process's peak at the end of a large audit.
    pieces = _ENV.get_template("audit_report.html").generate(
        s=summary, t=t, o=summary.options, groups=groups, clusters=clusters,
        cluster_chart=chart, group_chart=group_chart, span=span_text,
        examples=summary.examples,
        envelopes=_envelope_sections(summary), detectors=sorted(envelope_detectors()),
        generated=summary.started.strftime("%Y-%m-%d %H:%M UTC"))
    with path.open("w", encoding="utf-8") as f:
        f.writelines(pieces)
