"""Rumour clusters by reach, and the cascade page: one cluster's spread across groups over
time, drawn as a graph (ECharts, vendored) with the same tree as a nested list beside it; the
forwarding circuit breaker set by hand (rumors.clusters, as the API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.rumors import clusters
from qunguan.web.forms import FormErrors, attempt
from qunguan.web.i18n import N_, OFFICER, Gettext, gettext_for
from qunguan.web.officer.common import OfficerAccount, chart_json, officer_explain, parse_positive
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 50
STATES = {"none": N_("Not tripped"), "tripped": N_("Tripped: forwards limited"),
          "lifted": N_("Lifted by an officer")}
BREAKER_CHOICES = {"tripped": N_("Trip: limit forwards"), "lifted": N_("Lift: no limit")}


@router.get("/officer/clusters")
def cluster_list(request: Request, uow: UowDep, me: OfficerAccount,
                 min_groups: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                 offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    rows = clusters.list_clusters(uow, viewer=me, min_groups=min_groups, offset=offset,
                                  limit=PAGE)
    return page(request, "officer/clusters.html", clusters=rows, states=STATES,
                min_groups=min_groups,
                next_offset=offset + len(rows) if len(rows) == PAGE else None)


def cascade_chart(nodes: list[dict[str, Any]], _: Gettext) -> dict[str, Any]:
    """The spread as an ECharts graph on a grid: across, minutes since the first copy; down,
    the groups in the order the claim reached them; an edge from each forward to its parent
    (dashed from a copy to the message it copies)."""
    if not nodes:
        return {}
    start = min(n["created_at"] for n in nodes)
    groups: list[str] = []
    for n in nodes:
        label = f'{n["group_name"]} ({n["group_id"]})'
        if label not in groups:
            groups.append(label)
    ids = {n["message_id"] for n in nodes}
    data = [{"name": str(n["message_id"]),
             "value": [round((n["created_at"] - start).total_seconds() / 60, 2),
                       groups.index(f'{n["group_name"]} ({n["group_id"]})')],
             "symbolSize": 16 if n["new_group"] else 9,
             "tooltip": {"formatter": _("Message %(id)s · hop %(hop)s · %(who)s",
                                        id=n["message_id"], hop=n["hop"],
                                        who=n["sender_display_name"])}}
            for n in nodes]
    links = []
    for n in nodes:
        source = n["parent_id"] or n["copy_of_id"]
        if source in ids:
            links.append({"source": str(source), "target": str(n["message_id"]),
                          "lineStyle": {"type": "solid" if n["parent_id"] else "dashed"}})
    return {"animation": False, "tooltip": {}, "grid": {"left": 8, "right": 16, "top": 16,
                                                        "bottom": 40, "containLabel": True},
            "xAxis": {"type": "value", "name": _("minutes since the first copy"),
                      "nameLocation": "middle", "nameGap": 26},
            "yAxis": {"type": "category", "data": groups, "inverse": True},
            "series": [{"type": "graph", "coordinateSystem": "cartesian2d", "data": data,
                        "links": links, "edgeSymbol": ["none", "arrow"], "edgeSymbolSize": 6,
                        "itemStyle": {"color": "#a8071a"},
                        "lineStyle": {"color": "#595959", "width": 1.2}}]}


def _tree(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes nested under their parents (or the message they copy), for the list view."""
    by_id = {n["message_id"]: {**n, "children": []} for n in nodes}
    roots: list[dict[str, Any]] = []
    for node in by_id.values():
        parent = by_id.get(node["parent_id"] or node["copy_of_id"] or 0)
        (parent["children"] if parent is not None else roots).append(node)
    return roots


def _cascade(uow: UnitOfWork, me: Account, cluster_id: int, lang: str) -> dict[str, Any]:
    stats, nodes, truncated = clusters.cluster_detail(uow, viewer=me, cluster_id=cluster_id)
    _ = gettext_for(lang, OFFICER)
    return {"stats": stats, "cluster": stats.cluster, "nodes": nodes, "truncated": truncated,
            "tree": _tree(nodes), "chart": chart_json(cascade_chart(nodes, _)),
            "states": STATES, "breaker_choices": BREAKER_CHOICES}


@router.get("/officer/clusters/{cluster_id}")
def cascade(request: Request, cluster_id: IdPath, uow: UowDep, me: OfficerAccount) -> Response:
    return page(request, "officer/cascade.html", errors=FormErrors(), values={},
                **_cascade(uow, me, cluster_id, language(request)))


@router.post("/officer/clusters/{cluster_id}/breaker")
def set_breaker(request: Request, cluster_id: IdPath, uow: UowDep, me: OfficerAccount,
                _csrf: Csrf, state: Annotated[str, Form()] = "",
                max_targets: Annotated[str, Form()] = "",
                reason: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(language(request), OFFICER)
    values = {"state": state, "max_targets": max_targets[:12], "reason": reason[:500]}
    errors = FormErrors()
    if state not in ("tripped", "lifted"):
        errors.add("state", _("Choose trip or lift."))
    limit = parse_positive(max_targets, maximum=1000) if max_targets.strip() else None
    if max_targets.strip() and limit is None:
        errors.add("max_targets", _("Enter a whole number from 1 to 1,000."))
    if not reason.strip() or len(reason) > 500:
        errors.add("reason", _("Give a reason (at most 500 characters)."))
    if not errors:
        result = attempt(uow, lambda: clusters.do_set_breaker(
            uow, acting=me, cluster_id=cluster_id, state=state, max_targets=limit,
            reason=reason))
        if not isinstance(result, QunguanError):
            return redirect(f"/officer/clusters/{cluster_id}?saved=1")
        errors = officer_explain(result, _)
    return page(request, "officer/cascade.html", status=422, errors=errors, values=values,
                **_cascade(uow, me, cluster_id, language(request)))
