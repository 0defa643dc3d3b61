"""Red envelopes API: wallet top-up (sandbox), send, claim, show; a group's limits and the
officers' per-group override. Thin: no rules here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from qunguan.envelopes import actions, queries
from qunguan.envelopes.export import ExportFilters
from qunguan.envelopes.schemas import (
    ClaimPublic,
    EnvelopeCreate,
    EnvelopePublic,
    ExportIn,
    LimitClear,
    LimitIn,
    LimitsPublic,
    TopupIn,
    WalletPublic,
)
from qunguan.identity import CurrentAccount
from qunguan.kernel.web import IdPath, UowDep

router = APIRouter(prefix="/api", tags=["envelopes"])

# A retry carrying the same key returns the first result and moves no money twice.
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=128,
                                       pattern=r"^[A-Za-z0-9._:-]+$")]
OptionalIdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                      max_length=128,
                                                      pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/me/wallet", response_model=WalletPublic)
def my_wallet(uow: UowDep, me: CurrentAccount) -> WalletPublic:
    return WalletPublic.model_validate(queries.render_wallet(uow, me.id))


@router.post("/me/wallet/topup", status_code=201, response_model=WalletPublic)
def topup(body: TopupIn, uow: UowDep, me: CurrentAccount,
          idempotency_key: IdempotencyKey) -> WalletPublic:
    actions.do_topup(uow, acting=me, amount_fen=body.amount_fen,
                     idempotency_key=idempotency_key)
    return WalletPublic.model_validate(queries.render_wallet(uow, me.id))


@router.post("/groups/{group_id}/envelopes", status_code=201, response_model=EnvelopePublic)
def send_envelope(group_id: IdPath, body: EnvelopeCreate, uow: UowDep, me: CurrentAccount,
                  idempotency_key: IdempotencyKey) -> EnvelopePublic:
    plan = actions.check_send_envelope(uow, acting=me, group_id=group_id,
                                       total_fen=body.total_fen, parts=body.parts,
                                       split=body.split, recipient_id=body.recipient_id,
                                       idempotency_key=idempotency_key)
    envelope = actions.do_send_envelope(uow, plan, acting=me)
    return EnvelopePublic.model_validate(queries.render(uow, envelope, viewer=me))


@router.get("/envelopes/{envelope_id}", response_model=EnvelopePublic)
def get_envelope(envelope_id: IdPath, uow: UowDep, me: CurrentAccount) -> EnvelopePublic:
    envelope = queries.access_envelope(uow, viewer=me, envelope_id=envelope_id)
    return EnvelopePublic.model_validate(queries.render(uow, envelope, viewer=me))


@router.post("/envelopes/{envelope_id}/claim", response_model=ClaimPublic)
def claim_envelope(envelope_id: IdPath, uow: UowDep, me: CurrentAccount,
                   idempotency_key: OptionalIdempotencyKey = None) -> ClaimPublic:
    claim = actions.do_claim_envelope(uow, acting=me, envelope_id=envelope_id,
                                      idempotency_key=idempotency_key)
    return ClaimPublic.model_validate(queries.render_claim(claim))


@router.post("/officer/envelopes/export", response_class=Response,
             responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
def export_envelopes(body: ExportIn, uow: UowDep, me: CurrentAccount) -> Response:
    """PAY-5: the red-envelope trail as JSON or CSV, for a discipline inspection request."""
    content = actions.do_export_envelopes(
        uow, acting=me, fmt=body.format, request_reference=body.request_reference,
        filters=ExportFilters(since=body.since, until=body.until, group_id=body.group_id,
                              sender_id=body.sender_id, election_id=body.election_id))
    media = "text/csv; charset=utf-8" if body.format == "csv" else "application/json"
    return Response(content, media_type=media)


@router.get("/groups/{group_id}/envelope-limits", response_model=LimitsPublic)
def group_limits(group_id: IdPath, uow: UowDep, me: CurrentAccount) -> LimitsPublic:
    limits = queries.access_envelope_limits(uow, viewer=me, group_id=group_id)
    return LimitsPublic.model_validate(queries.render_limits(limits, me))


@router.put("/officer/groups/{group_id}/envelope-limits", response_model=LimitsPublic)
def set_group_limit(group_id: IdPath, body: LimitIn, uow: UowDep,
                    me: CurrentAccount) -> LimitsPublic:
    limits = actions.do_set_envelope_limit(uow, acting=me, group_id=group_id,
                                           max_fen=body.max_fen, reason=body.reason)
    return LimitsPublic.model_validate(queries.render_limits(limits, me))


@router.post("/officer/groups/{group_id}/envelope-limits/clear", response_model=LimitsPublic)
def clear_group_limit(group_id: IdPath, body: LimitClear, uow: UowDep,
                      me: CurrentAccount) -> LimitsPublic:
    limits = actions.do_clear_envelope_limit(uow, acting=me, group_id=group_id,
                                             reason=body.reason)
    return LimitsPublic.model_validate(queries.render_limits(limits, me))
