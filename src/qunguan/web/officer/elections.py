"""Election periods, as officers declared them (groups.queries): each with its window, vote day,
policy, the groups it covers and its candidates by display name. Read-only here; declaring and
cancelling stay with the API and the CLI for now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qunguan.groups import queries as group_queries
from qunguan.kernel.web import UowDep
from qunguan.web.officer.common import OfficerAccount
from qunguan.web.pages import WebRoute
from qunguan.web.render import page

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/officer/elections")
def elections(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    rows = [group_queries.render_election(uow, e)
            for e in group_queries.list_elections(uow, viewer=me)]
    return page(request, "officer/elections.html", elections=rows)
