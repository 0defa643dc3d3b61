"""Dual-control unmasking (CR-7, PI-3, PI-4): two officers before a legal name is seen.

Officer A requests, with a reason and a case, to see the legal name and ID number an account
verified with; a different officer B approves or rejects; after approval A (and only A) may
read the identity once, within ``QUNGUAN_UNMASK_REVEAL_MINUTES``. Each step is an audit
record; the read itself goes through ``vault.reveal``, which writes its own VAULT_READ record
with the request as its reference. No row here ever holds the identity.

Identity sits below enforcement and rumours, so it cannot tell whether a case exists or who
started a cascade: the caller (``governance.actions``) resolves and checks those and passes
the account, the case id and the basis.
"""

from __future__ import annotations

import enum
from datetime import timedelta

from sqlalchemy import select

from qunguan.identity import queries, vault
from qunguan.identity.models import Account, UnmaskRequest, UnmaskStatus, Verification
from qunguan.identity.models import VerificationStatus as VStatus
from qunguan.kernel.errors import QunguanError, define_error
from qunguan.kernel.events import EventType
from qunguan.kernel.text import require_reason
from qunguan.kernel.uow import UnitOfWork, record_audit

define_error("no_sealed_identity", 409, "The account has no verified legal name and ID number "
             "in the vault to unmask (it verified with a network identity, or not at all).")
define_error("same_officer", 403, "Dual control (PI-3): an unmasking request must be approved "
             "or rejected by an officer other than the one who made it.")
define_error("unmask_decided", 409, "The unmasking request was already approved or rejected; "
             "details.status says which.")
define_error("unmask_not_approved", 409, "The unmasking request has not been approved (it is "
             "pending or was rejected; details.status).")
define_error("already_revealed", 409, "The identity of this unmasking request was already "
             "shown once; a new request is needed to see it again.")
define_error("reveal_window_passed", 409, "The approved identity was not read before "
             "details.reveal_until; a new request is needed.")


class Basis(enum.StrEnum):
    ACCOUNT = "account"  # the officer named the account
    CASCADE_ORIGINATOR = "cascade_originator"  # the first sender of a rumour cascade


def _sealed_identity(uow: UnitOfWork, account_id: int) -> Verification | None:
    """The accepted verification that sealed the account's legal name and ID number."""
    return uow.session.scalar(
        select(Verification).where(Verification.account_id == account_id,
                                   Verification.status == VStatus.VERIFIED,
                                   Verification.vault_record_id.is_not(None))
        .order_by(Verification.id.desc()).limit(1))


def _view(row: UnmaskRequest) -> dict[str, object]:
    return {"request_id": row.id, "account_id": row.account_id, "basis": row.basis,
            "cluster_id": row.cluster_id, "case_id": row.case_id}


def do_request_unmasking(uow: UnitOfWork, *, acting: Account, account_id: int, case_id: int,
                         reason: str, basis: Basis = Basis.ACCOUNT,
                         cluster_id: int | None = None) -> UnmaskRequest:
    """Officer A asks. ``case_id`` must already be checked by the caller."""
    queries.require_officer(acting)
    reason = require_reason(reason)
    target = queries.get_account(uow, account_id)
    if _sealed_identity(uow, target.id) is None:
        raise QunguanError("no_sealed_identity", "This account has no verified legal name "
                           "and ID number to unmask (it verified another way, or not yet).",
                           account_id=target.id)
    row = UnmaskRequest(account_id=target.id, basis=Basis(basis).value, cluster_id=cluster_id,
                        case_id=case_id, reason=reason, status=UnmaskStatus.PENDING,
                        requested_by=acting.id, requested_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    record_audit(uow, EventType.UNMASK_REQUESTED, acting=acting, subject_type="unmask_request",
                 subject_id=row.id, extra={**_view(row), "reason": reason})
    uow.emit(EventType.UNMASK_REQUESTED, request_id=row.id, case_id=case_id)
    return row


def access_request(uow: UnitOfWork, *, viewer: Account, request_id: int) -> UnmaskRequest:
    queries.require_officer(viewer)
    row = uow.session.get(UnmaskRequest, request_id)
    if row is None:
        raise QunguanError("not_found", "No such unmasking request.")
    return row


def _locked_pending(uow: UnitOfWork, acting: Account, request_id: int) -> UnmaskRequest:
    row = access_request(uow, viewer=acting, request_id=request_id)
    uow.session.refresh(row, with_for_update=True)  # two approvers at once: one decides
    if row.status != UnmaskStatus.PENDING:
        raise QunguanError("unmask_decided", "This request was already decided.",
                           status=row.status)
    if acting.id == row.requested_by:
        raise QunguanError("same_officer", "Dual control (PI-3): a different officer must "
                           "decide your own unmasking request.")
    return row


def do_approve_unmasking(uow: UnitOfWork, *, acting: Account, request_id: int,
                         note: str | None = None) -> UnmaskRequest:
    row = _locked_pending(uow, acting, request_id)
    now = uow.now()
    row.status = UnmaskStatus.APPROVED
    row.decided_by = acting.id
    row.decided_at = now
    row.decision_note = require_reason(note, "note") if note else None
    row.reveal_until = now + timedelta(minutes=uow.settings.unmask_reveal_minutes)
    record_audit(uow, EventType.UNMASK_APPROVED, acting=acting, subject_type="unmask_request",
                 subject_id=row.id, extra={**_view(row), "note": row.decision_note,
                                           "reveal_until": row.reveal_until.isoformat()})
    uow.emit(EventType.UNMASK_APPROVED, account_ids=(row.requested_by,), request_id=row.id)
    return row


def do_reject_unmasking(uow: UnitOfWork, *, acting: Account, request_id: int,
                        note: str) -> UnmaskRequest:
    row = _locked_pending(uow, acting, request_id)
    row.status = UnmaskStatus.REJECTED
    row.decided_by = acting.id
    row.decided_at = uow.now()
    row.decision_note = require_reason(note, "note")
    record_audit(uow, EventType.UNMASK_REJECTED, acting=acting, subject_type="unmask_request",
                 subject_id=row.id, extra={**_view(row), "note": row.decision_note})
    uow.emit(EventType.UNMASK_REJECTED, account_ids=(row.requested_by,), request_id=row.id)
    return row


def do_reveal_unmasked(uow: UnitOfWork, *, acting: Account,
                       request_id: int) -> tuple[UnmaskRequest, dict[str, str]]:
    """The requester reads the identity: once, within the window. Anyone else (the approver
    included) gets not_found, as for a request they may not see."""
    row = access_request(uow, viewer=acting, request_id=request_id)
    if row.requested_by != acting.id:
        raise QunguanError("not_found", "No such unmasking request.")
    uow.session.refresh(row, with_for_update=True)  # a double click reads it once
    if row.status == UnmaskStatus.REVEALED:
        raise QunguanError("already_revealed", "The identity was already shown once.",
                           revealed_at=row.revealed_at.isoformat() if row.revealed_at else None)
    if row.status != UnmaskStatus.APPROVED or row.reveal_until is None:
        raise QunguanError("unmask_not_approved", "A second officer has not approved this "
                           "request.", status=row.status)
    now = uow.now()
    if now > row.reveal_until:
        raise QunguanError("reveal_window_passed", "The time to read the approved identity "
                           "has passed; request again.",
                           reveal_until=row.reveal_until.isoformat())
    sealed = _sealed_identity(uow, row.account_id)
    if sealed is None or sealed.vault_record_id is None:
        raise QunguanError("no_sealed_identity", "The account no longer has a sealed identity.",
                           account_id=row.account_id)
    row.status = UnmaskStatus.REVEALED
    row.revealed_at = now
    fields = vault.reveal(uow, sealed.vault_record_id, acting=acting,
                          purpose=f"dual-control unmasking for case {row.case_id}: {row.reason}",
                          request_ref=f"unmask-request-{row.id}")
    record_audit(uow, EventType.UNMASK_REVEALED, acting=acting, subject_type="unmask_request",
                 subject_id=row.id, extra={**_view(row), "approved_by": row.decided_by,
                                           "vault_record_id": sealed.vault_record_id})
    # Oversight only: the event carries references and goes to no socket.
    uow.emit(EventType.UNMASK_REVEALED, request_id=row.id)
    return row, fields


def list_unmaskings(uow: UnitOfWork, *, viewer: Account, limit: int = 500) -> list[UnmaskRequest]:
    """Every unmasking of the unit (the deployment is one institution's unit), newest first."""
    queries.require_officer(viewer)
    return list(uow.session.scalars(select(UnmaskRequest).order_by(UnmaskRequest.id.desc())
                                    .limit(limit)))
