"""Red-envelope alerts (docs/envelopes.md): what the vote-buying detectors found, each with its
explanation and evidence (the election, the envelopes' ledger extract, the recipients by
display name), linking to the review item it was queued as and to the group's other alerts.

Every alert reaches the review queue as a rule of a review item about the sender's account
(``envelopes.handlers``), with the evidence recorded there; the page reads them through
``enforcement.review.detector_findings``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from qunguan.enforcement import SubjectType, review
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import MAX_ID
from qunguan.kernel.money import format_fen
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import UowDep
from qunguan.web.i18n import N_
from qunguan.web.officer.common import OfficerAccount, display_names
from qunguan.web.pages import WebRoute
from qunguan.web.render import page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

DETECTOR = "votebuying"
PAGE = 50
MAX_ROWS = 50  # ledger rows and recipients shown per alert (the case page has them all)
PATTERNS = {
    "candidate": N_("A candidate or an associate sent red envelopes"),
    "fanout": N_("One sender's envelopes reached most of the group"),
    "rounds": N_("Rounds of envelopes to the same members before the vote"),
    "splitting": N_("Many small envelopes where one would do"),
    "collusion": N_("Several senders sent to the same members"),
    "jump": N_("A sender's total jumped far above their usual"),
}
DECIDED = {"dismiss": N_("Dismissed"), "remove": N_("Removed"), "sanction": N_("Sanctioned")}


def _pattern(rule: str) -> str:
    return rule.removeprefix(f"{DETECTOR}_")


def _alert(finding: dict[str, Any]) -> dict[str, Any]:
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
    assert isinstance(evidence, dict)
    details = evidence.get("details") if isinstance(evidence.get("details"), dict) else {}
    assert isinstance(details, dict)
    ledger = [t for t in evidence.get("ledger") or [] if isinstance(t, dict)]
    total = details.get("total_fen")
    return {
        "alert_id": finding.get("alert_id"), "pattern": _pattern(str(finding.get("rule"))),
        "explanation": str(finding.get("explanation") or ""),
        "item_id": finding["item_id"], "item_status": finding["item_status"],
        "decision": finding["decision"], "queued_at": finding["item_created_at"],
        "group_id": finding["group_id"], "sender_id": finding["subject_id"],
        "total_yuan": format_fen(total) if isinstance(total, int) else None,
        "election": evidence.get("election") if isinstance(evidence.get("election"),
                                                           dict) else None,
        "recipients": [r for r in evidence.get("recipients") or []
                       if isinstance(r, dict)][:MAX_ROWS],
        "recipient_count": evidence.get("recipient_count"),
        "ledger": [{**t, "amounts": [format_fen(p["amount_fen"]) for p in t.get("postings", [])
                                     if isinstance(p, dict)
                                     and isinstance(p.get("amount_fen"), int)
                                     and p["amount_fen"] > 0]} for t in ledger[:MAX_ROWS]],
        "ledger_count": len(ledger),
    }


def _groups(uow: UnitOfWork, me: Account, ids: set[int]) -> dict[int, Any]:
    found = {}
    for group_id in sorted(ids):
        try:
            found[group_id] = group_queries.access_group(uow, viewer=me, group_id=group_id)
        except QunguanError:  # pragma: no cover - a group is never deleted
            continue
    return found


@router.get("/officer/alerts")
def alerts(request: Request, uow: UowDep, me: OfficerAccount,
           group_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    findings, next_before = review.detector_findings(
        uow, viewer=me, detector=DETECTOR, subject_type=SubjectType.ACCOUNT,
        group_id=group_id, before_id=before_id, limit=PAGE)
    rows = [_alert(f) for f in findings]
    groups = _groups(uow, me, {r["group_id"] for r in rows if r["group_id"] is not None}
                     | ({group_id} if group_id else set()))
    return page(request, "officer/alerts.html", alerts=rows, groups=groups,
                names=display_names(uow, [r["sender_id"] for r in rows]),
                patterns=PATTERNS, decided=DECIDED, group_id=group_id,
                next_before=next_before)
