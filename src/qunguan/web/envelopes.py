"""Member pages of red envelopes: a group's envelopes, sending (fixed or lucky), opening,
who claimed how much, refunds; the wallet and its sandbox top-up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from qunguan.envelopes import Split
from qunguan.envelopes import actions as envelope_actions
from qunguan.envelopes import queries as envelope_queries
from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.ids import new_token
from qunguan.kernel.uow import UnitOfWork
from qunguan.kernel.web import IdPath, UowDep
from qunguan.web.forms import MAX_YUAN_FIELD, FormErrors, attempt, explain, yuan_field
from qunguan.web.i18n import Gettext, gettext_for
from qunguan.web.pages import WebRoute, redirect
from qunguan.web.render import page
from qunguan.web.session import Csrf, WebAccount, language

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Text = Annotated[str, Form()]
SPLITS = ("lucky", "fixed")


def _amount(errors: FormErrors, _: Gettext, name: str, text: str) -> int | None:
    return yuan_field(errors, name, text, _("Enter an amount in yuan, such as 8.88."))


def _envelopes_page(request: Request, uow: UnitOfWork, me: Account, group_id: int, *,
                    errors: FormErrors, values: dict[str, str], status: int = 200,
                    failed: str | None = None,
                    opened: dict[str, Any] | None = None) -> Response:
    group, _ = group_queries.access_membership(uow, viewer=me, group_id=group_id)
    rows = envelope_queries.group_envelopes(uow, viewer=me, group_id=group_id)
    return page(request, "member/envelopes.html", status=status, group=group,
                limits=envelope_queries.envelope_limits(uow, group),
                envelopes=[envelope_queries.render(uow, e, viewer=me) for e in rows],
                wallet=envelope_queries.render_wallet(uow, me.id), errors=errors,
                values=values, key=new_token(12), opened=opened, now=uow.now(),
                failed=failed)


@router.get("/groups/{group_id}/envelopes")
def group_envelopes(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount) -> Response:
    return _envelopes_page(request, uow, me, group_id, errors=FormErrors(),
                           values={"split": "lucky"})


@router.post("/groups/{group_id}/envelopes")
def send(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
         total_yuan: Text = "", parts: Text = "", split: Text = "lucky",
         key: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    total = _amount(errors, _, "total_yuan", total_yuan)
    count = int(parts) if parts.strip().isdigit() and len(parts.strip()) <= 6 else None
    if count is None or count < 1:
        errors.add("parts", _("Enter how many parts, from 1."))
    if split not in SPLITS:
        errors.add("split", _("Choose lucky or fixed."))
    if not 8 <= len(key) <= 64:
        errors.add(None, _("This form expired. Go back, reload the page and try again."))
    if not errors and total is not None and count is not None:
        def work() -> None:
            plan = envelope_actions.check_send_envelope(
                uow, acting=me, group_id=group_id, total_fen=total, parts=count,
                split=Split(split), idempotency_key=key)
            envelope_actions.do_send_envelope(uow, plan, acting=me)
        result = attempt(uow, work)
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}/envelopes")
        errors = explain(result, _)
    return _envelopes_page(request, uow, me, group_id, errors=errors, status=422, failed="send",
                           values={"total_yuan": total_yuan[:MAX_YUAN_FIELD], "parts": parts[:8],
                                   "split": split if split in SPLITS else "lucky"})


@router.post("/envelopes/{envelope_id}/open")
def open_envelope(request: Request, envelope_id: IdPath, uow: UowDep, me: WebAccount,
                  _csrf: Csrf) -> Response:
    _ = gettext_for(language(request))
    envelope = envelope_queries.access_envelope(uow, viewer=me, envelope_id=envelope_id)
    group_id = envelope.group_id
    result = attempt(uow, lambda: envelope_actions.do_claim_envelope(
        uow, acting=me, envelope_id=envelope_id))
    if isinstance(result, QunguanError):
        return _envelopes_page(request, uow, me, group_id, errors=explain(result, _),
                               values={"split": "lucky"}, status=409, failed="open")
    return _envelopes_page(request, uow, me, group_id, errors=FormErrors(),
                           values={"split": "lucky"},
                           opened={"envelope_id": envelope_id, "amount_fen": result.amount_fen})


@router.post("/groups/{group_id}/wallet/topup")
def topup(request: Request, group_id: IdPath, uow: UowDep, me: WebAccount, _csrf: Csrf,
          amount_yuan: Text = "", key: Text = "") -> Response:
    _ = gettext_for(language(request))
    errors = FormErrors()
    amount = _amount(errors, _, "amount_yuan", amount_yuan)
    if not 8 <= len(key) <= 64:
        errors.add(None, _("This form expired. Go back, reload the page and try again."))
    if not errors and amount is not None:
        result = attempt(uow, lambda: envelope_actions.do_topup(
            uow, acting=me, amount_fen=amount, idempotency_key=key))
        if not isinstance(result, QunguanError):
            return redirect(f"/groups/{group_id}/envelopes")
        errors = explain(result, _)
    return _envelopes_page(request, uow, me, group_id, errors=errors, status=422,
                           failed="topup",
                           values={"amount_yuan": amount_yuan[:MAX_YUAN_FIELD], "split": "lucky"})
