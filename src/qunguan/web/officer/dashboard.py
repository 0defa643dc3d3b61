"""The dashboard: what waits, and three charts (ECharts, vendored): flagged messages per day
by rule, rumour clusters by reach, red-envelope volume per group. Each chart has its numbers
as a table beside it, for screen readers and pages without scripts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from qunguan.enforcement import AppealStatus, review
from qunguan.enforcement import queries as enforcement_queries
from qunguan.envelopes import queries as envelope_queries
from qunguan.groups import queries as group_queries
from qunguan.kernel.money import format_fen
from qunguan.kernel.web import UowDep
from qunguan.rumors import clusters
from qunguan.screening import queries as screening_queries
from qunguan.web.i18n import OFFICER, gettext_for
from qunguan.web.officer.common import OfficerAccount, chart_json
from qunguan.web.pages import WebRoute
from qunguan.web.render import page
from qunguan.web.session import language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

TOP_CLUSTERS = 15
PALETTE = ["#1d39c4", "#a8071a", "#237804", "#ad4e00", "#531dab", "#006d75", "#614700",
           "#c41d7f"]


def _days(start: Any, days: int) -> list[str]:
    return [(start + timedelta(days=i)).date().isoformat() for i in range(days + 1)]


def flagged_chart(rows: list[tuple[str, str, int]], days: list[str], title: str
                  ) -> dict[str, Any]:
    rules = sorted({rule for _, rule, _ in rows})
    counts = {(d, rule): n for d, rule, n in rows}
    return {"animation": False, "color": PALETTE, "tooltip": {"trigger": "axis"},
            "legend": {"type": "scroll", "bottom": 0}, "title": {"show": False, "text": title},
            "grid": {"left": 8, "right": 8, "top": 16, "bottom": 48, "containLabel": True},
            "xAxis": {"type": "category", "data": days},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "stack": "hits", "name": rule,
                        "data": [counts.get((d, rule), 0) for d in days]} for rule in rules]}


def reach_chart(names: list[str], reached: list[int], first_hour: list[int], groups: str,
                fast: str) -> dict[str, Any]:
    return {"animation": False, "color": PALETTE, "tooltip": {"trigger": "axis"},
            "legend": {"bottom": 0},
            "grid": {"left": 8, "right": 16, "top": 16, "bottom": 40, "containLabel": True},
            "xAxis": {"type": "value", "minInterval": 1},
            "yAxis": {"type": "category", "data": names, "inverse": True},
            "series": [{"type": "bar", "name": groups, "data": reached},
                       {"type": "bar", "name": fast, "data": first_hour}]}


def election_areas(elections: list[Any], days: list[str]) -> list[list[dict[str, Any]]]:
    """Election periods that overlap the days shown, as shaded x ranges (clipped to them)."""
    areas = []
    for e in elections:
        start, end = e.starts_at.date().isoformat(), e.ends_at.date().isoformat()
        if e.cancelled_at is not None or end < days[0] or start > days[-1]:
            continue
        areas.append([{"name": e.name, "xAxis": max(start, days[0])},
                      {"xAxis": min(end, days[-1])}])
    return areas


def envelope_chart(rows: list[tuple[str, int, int, int]], days: list[str], label: str,
                   areas: list[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    groups = sorted({g for _, g, _, _ in rows})
    totals = {(d, g): fen for d, g, _, fen in rows}
    shade = {"silent": True, "itemStyle": {"color": "rgba(173, 78, 0, 0.12)"},
             "label": {"color": "#7a4b00"}, "data": areas or []}
    # Yuan as decimal strings (integer fen formatted, never a float); ECharts reads them.
    return {"animation": False, "color": PALETTE, "tooltip": {"trigger": "axis"},
            "legend": {"type": "scroll", "bottom": 0},
            "grid": {"left": 8, "right": 8, "top": 16, "bottom": 48, "containLabel": True},
            "xAxis": {"type": "category", "data": days},
            "yAxis": {"type": "value", "name": label},
            "series": [{"type": "line", "name": f"#{g}",
                        "data": [format_fen(totals.get((d, g), 0)) for d in days],
                        **({"markArea": shade} if i == 0 else {})}
                       for i, g in enumerate(groups)]}


@router.get("/officer")
def dashboard(request: Request, uow: UowDep, me: OfficerAccount,
              days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    _ = gettext_for(language(request), OFFICER)
    now = uow.now()
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    axis = _days(start, days)
    hits = screening_queries.hits_per_day(uow, viewer=me, since=start)
    volume = envelope_queries.volume_per_day(uow, viewer=me, since=start)
    top = clusters.list_clusters(uow, viewer=me, limit=TOP_CLUSTERS)
    names = [_("Cluster %(id)s", id=s.cluster.id) for s in top]
    elections = group_queries.list_elections(uow, viewer=me)
    waiting = len(review.list_items(uow, viewer=me, limit=review.MAX_PAGE))
    appeals = len(enforcement_queries.officer_appeals(uow, viewer=me, status=AppealStatus.OPEN,
                                                      limit=200))
    return page(request, "officer/dashboard.html", days=days, waiting=waiting,
                open_appeals=appeals, hits=hits, volume=volume, top=top,
                flagged=chart_json(flagged_chart(hits, axis, _("Flagged messages per day"))),
                reach=chart_json(reach_chart(names, [s.cluster.groups_reached for s in top],
                                             [s.groups_first_hour for s in top],
                                             _("Groups reached"), _("In the first hour"))),
                elections=elections,
                envelopes=chart_json(envelope_chart(volume, axis, _("yuan"),
                                                    election_areas(elections, axis))))
