"""Small inline SVG charts for the audit report, drawn here so the report needs no script
and no network: a bar chart over days with shaded periods and marked alerts, and step lines
of cumulative counts over time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf")


def _frame(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def day_bars(counts: dict[date, int], *, shaded: list[tuple[date, date]] | None = None,
             marked: set[date] | None = None, title: str = "", unit: str = "",
             width: int = 720, height: int = 180) -> str:
    """Bars per day from the first to the last day with a count or a shaded period; shaded
    periods (elections) in yellow, marked days (alerts) with a red triangle."""
    shaded = shaded or []
    marked = marked or set()
    days = set(counts) | {d for a, b in shaded for d in (a, b)}
    if not days:
        return _frame(width, 40, ['<text x="4" y="24" font-size="12">nothing to show</text>'],
                      title)
    first, last = min(days), max(days)
    span = (last - first).days + 1
    left, bottom, top = 48, height - 24, 12
    step = (width - left - 8) / span
    peak = max(counts.values(), default=0) or 1
    body: list[str] = []
    for a, b in shaded:
        x = left + (a - first).days * step
        w = ((b - a).days + 1) * step
        body.append(f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bottom - top}" '
                    'fill="#fff3b0"><title>election period</title></rect>')
    for d, n in sorted(counts.items()):
        x = left + (d - first).days * step
        h = (bottom - top) * n / peak
        body.append(f'<rect x="{x + step * 0.1:.1f}" y="{bottom - h:.1f}" '
                    f'width="{max(step * 0.8, 1):.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
                    f"<title>{d.isoformat()}: {n} {escape(unit)}</title></rect>")
    for d in sorted(marked):
        x = left + ((d - first).days + 0.5) * step
        body.append(f'<path d="M{x - 5:.1f},{top - 2} L{x + 5:.1f},{top - 2} L{x:.1f},{top + 7} '
                    f'Z" fill="#d62728"><title>alert on {d.isoformat()}</title></path>')
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{width - 8}" y2="{bottom}" '
                'stroke="#333"/>')
    body.append(f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">{peak}'
                "</text>")
    body.append(f'<text x="{left - 4}" y="{bottom}" font-size="10" text-anchor="end">0</text>')
    body.append(f'<text x="{left}" y="{height - 6}" font-size="10">{first.isoformat()}</text>')
    body.append(f'<text x="{width - 8}" y="{height - 6}" font-size="10" text-anchor="end">'
                f"{last.isoformat()}</text>")
    return _frame(width, height, body, title)


def spread_lines(series: list[tuple[str, list[datetime]]], *, title: str = "",
                 width: int = 720, height: int = 200) -> str:
    """One step line per series: how many copies had been seen by each moment."""
    times = [t for _, ts in series for t in ts]
    if not times:
        return _frame(width, 40, ['<text x="4" y="24" font-size="12">nothing to show</text>'],
                      title)
    first, last = min(times), max(times)
    total = max((last - first).total_seconds(), 60.0)
    left, bottom, top = 48, height - 24, 10
    peak = max(len(ts) for _, ts in series) or 1
    body: list[str] = []
    for i, (name, ts) in enumerate(series):
        points = [f"{left},{bottom}"]
        for n, t in enumerate(sorted(ts), 1):
            x = left + (width - left - 8) * (t - first).total_seconds() / total
            y = bottom - (bottom - top) * n / peak
            points.append(f"{x:.1f},{points[-1].split(',')[1]} {x:.1f},{y:.1f}")
        body.append(f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
                    f'stroke-width="1.5" points="{" ".join(points)}">'
                    f"<title>{escape(name)}: {len(ts)} copies</title></polyline>")
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{width - 8}" y2="{bottom}" '
                'stroke="#333"/>')
    body.append(f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">{peak}'
                "</text>")
    body.append(f'<text x="{left}" y="{height - 6}" font-size="10">'
                f"{first.strftime('%Y-%m-%d %H:%M')}</text>")
    body.append(f'<text x="{width - 8}" y="{height - 6}" font-size="10" text-anchor="end">'
                f"{last.strftime('%Y-%m-%d %H:%M')} (+{_span(last - first)})</text>")
    return _frame(width, height, body, title)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


span_text = _span
