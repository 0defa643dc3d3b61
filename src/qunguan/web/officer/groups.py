"""Groups in the console: every group (as ``GET /api/officer/groups``), and one group's page:
its category and tier, founder and admins, size, open review items and reports, the elections
covering it, the admin actions recorded in it (who did what, GA-8), and a link to its
red-envelope alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from qunguan.auditlog import queries as audit_queries
from qunguan.enforcement import ItemStatus, review
from qunguan.enforcement import reports as enforcement_reports
from qunguan.groups import queries as group_queries
from qunguan.kernel.events import EventType
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.chat import CATEGORY_NAMES
from qunguan.web.i18n import N_
from qunguan.web.me import REPORT_OUTCOMES, REPORT_REASONS
from qunguan.web.membership import JOIN_POLICIES, TIERS
from qunguan.web.officer.common import OfficerAccount, display_names, subject_text
from qunguan.web.officer.review import SOURCES
from qunguan.web.pages import WebRoute
from qunguan.web.render import page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ITEMS = 50
REPORTS = 50
ACTIONS = 30
# The admin actions of a group's founder and admins, as their audit records name them.
ADMIN_ACTIONS = {
    EventType.JOIN_APPROVED: N_("approved a request to join"),
    EventType.JOIN_REJECTED: N_("rejected a request to join"),
    EventType.MEMBER_INVITED: N_("invited the account"),
    EventType.MEMBER_REMOVED: N_("removed the member"),
    EventType.MEMBER_MUTED: N_("muted the member"),
    EventType.MEMBER_UNMUTED: N_("unmuted the member"),
    EventType.RULES_PINNED: N_("pinned new rules"),
    EventType.FOUNDER_TRANSFERRED: N_("handed the founder role to"),
    EventType.ROLE_CHANGED: N_("changed the role of"),
    EventType.MESSAGE_DELETED: N_("deleted a message of"),
}
ROLES = {"founder": N_("Founder"), "admin": N_("Admin"), "member": N_("Member")}


@router.get("/officer/groups")
def groups(request: Request, uow: UowDep, me: OfficerAccount) -> Response:
    return page(request, "officer/groups.html", groups=group_queries.all_groups(uow, viewer=me),
                categories=CATEGORY_NAMES)


@router.get("/officer/groups/{group_id}")
def group(request: Request, group_id: IdPath, uow: UowDep, me: OfficerAccount) -> Response:
    found = group_queries.access_group(uow, viewer=me, group_id=group_id)
    managers = [m for m in group_queries.members(uow, viewer=me, group_id=group_id)
                if m.role in ("founder", "admin")]
    items = review.list_items(uow, viewer=me, status=ItemStatus.OPEN, group_id=group_id,
                              limit=ITEMS)
    reports = enforcement_reports.group_reports(uow, viewer=me, group_id=group_id,
                                                limit=REPORTS)
    records, _ = audit_queries.list_records(uow, viewer=me, group_id=group_id, limit=ACTIONS,
                                            event_types=list(ADMIN_ACTIONS))
    actions: list[dict[str, Any]] = []
    people: list[int | None] = [m.account_id for m in managers]
    for r in records:
        extra = r.extra if isinstance(r.extra, dict) else {}
        subject = int(r.subject_id) if r.subject_type == "account" and r.subject_id \
            and r.subject_id.isdigit() else None
        # A deleted message's author (the record's subject is the message).
        sender = extra.get("sender_id") if isinstance(extra.get("sender_id"), int) else None
        actions.append({"id": r.id, "at": r.occurred_at, "acting_id": r.acting_id,
                        "what": ADMIN_ACTIONS[EventType(r.event_type)],
                        "whom": subject or sender, "new_role": extra.get("new"),
                        "reason": extra.get("reason")})
        people += [r.acting_id, subject or sender]
    names = display_names(uow, people)
    elections = [group_queries.render_election(uow, e)
                 for e in group_queries.elections_covering(uow, found)]
    return page(request, "officer/group.html", group=found,
                category=CATEGORY_NAMES.get(found.category, found.category),
                tier=TIERS.get(str(found.tier), str(found.tier)),
                join_policy=JOIN_POLICIES.get(found.join_policy, found.join_policy),
                managers=managers, roles=ROLES, items=items, sources=SOURCES,
                reports=reports, reasons=REPORT_REASONS, outcomes=REPORT_OUTCOMES,
                actions=actions, names=names, elections=elections,
                subject_text=subject_text, now=uow.now())
