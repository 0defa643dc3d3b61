"""Case bundles and the tamper-evident audit log (issue 6 parts 1-4).

``attach`` puts into a bundle the latest signed checkpoint and one inclusion proof per audit
record of the case (the exporter first appends pending records and signs a checkpoint, so
every record is covered); ``checker`` is what ``verify-bundle`` runs over them offline, with
the log's public keys only::

    "proofs": {"origin": …, "tree_size": N, "checkpoint": "<signed note>",
               "records": [RecordProof.as_dict(): {"record_id", "leaf_index", "tree_size",
                            "leaf", "leaf_hash", "proof"} (hashes in base64), …]}

The checker runs the audit log's own offline check (``auditlog.export.verify_record_proofs``:
the checkpoint's signature, each proof against its root, each leaf against the hash logged),
then re-derives each audit record's leaf (``auditlog.leaves``) from the record as the bundle
shows it and requires it to be the leaf proven. A record whose content was purged is checked
against the content hash its leaf committed to.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from qunguan.auditlog import actions as auditlog_actions
from qunguan.auditlog import export as auditlog_export
from qunguan.auditlog import leaves, notes
from qunguan.auditlog import queries as auditlog_queries
from qunguan.governance.bundle import BundleError, ProofChecker
from qunguan.identity import Account, AccountKind
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import UnitOfWork
from qunguan.messaging.fingerprint import fingerprint


def bring_log_up_to_date(uow: UnitOfWork, *, acting: Account) -> None:
    """Append every committed audit record and sign a checkpoint if the log grew (what the
    log's worker does at its interval; an export must not wait for it). Commits."""
    while auditlog_actions.do_append(uow, acting=acting):
        continue
    checkpoint = auditlog_actions.do_sign_checkpoint(uow, acting=acting)
    uow.commit()
    if checkpoint is not None:
        auditlog_actions.publish_checkpoint(uow.settings, checkpoint)


def attach(uow: UnitOfWork, bundle: dict[str, Any], *, acting: Account) -> dict[str, Any]:
    """The ``proofs`` of ``bundle``'s audit records in the latest checkpoint."""
    viewer = None if acting.kind == AccountKind.SYSTEM else acting
    ids = [r["id"] for r in bundle["sections"]["audit_records"]]
    found = auditlog_queries.proofs_for_records(uow, viewer=viewer, record_ids=ids)
    return {"origin": uow.settings.auditlog_origin, "tree_size": found.checkpoint.tree_size,
            "checkpoint": found.checkpoint.note,
            "records": [p.as_dict() for p in found.proofs]}


# --- offline ----------------------------------------------------------------------------------


def _as_record(r: dict[str, Any]) -> SimpleNamespace:
    try:
        occurred = datetime.fromisoformat(r["occurred_at"])
    except (KeyError, TypeError, ValueError):
        raise BundleError(f"audit record {r.get('id')!r} has no valid occurred_at") from None
    return SimpleNamespace(
        id=r.get("id"), event_type=r.get("event_type"), occurred_at=occurred,
        acting_id=r.get("acting_id"), subject_type=r.get("subject_type"),
        subject_id=r.get("subject_id"), group_id=r.get("group_id"),
        source_ip=r.get("source_ip"), source_port=r.get("source_port"),
        client_fingerprint=r.get("client_fingerprint"), request_id=r.get("request_id"),
        extra=r.get("extra") or {})


def _check_leaf(record: dict[str, Any], entry: dict[str, Any]) -> None:
    """The leaf the proof is about must be the one re-derived from the record as the bundle
    shows it (with the content hash its leaf committed to, when retention purged the
    content): else the record was changed after it was logged."""
    where = f"audit record {record.get('id')}"
    leaf = entry.get("leaf")
    if not isinstance(leaf, str):
        raise BundleError(f"{where}: its proof has no leaf")
    try:
        fields = leaves.parse_leaf(leaf.encode("utf-8"))
        ns = _as_record(record)
        derived = leaves.leaf_entry(ns)
        if derived != leaf.encode("utf-8") and leaves.is_purged(leaves.content_of(ns)):
            derived = leaves.leaf_entry(ns, bytes.fromhex(fields["content_sha256"]))
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{where} cannot be serialised as a leaf: {exc}") from None
    if derived != leaf.encode("utf-8"):
        raise BundleError(f"{where} differs from what the audit log recorded: it was changed")


_WRITES = {int(EventType.MESSAGE_POSTED), int(EventType.MESSAGE_FORWARDED),
           int(EventType.MESSAGE_HELD)}


def _check_messages(bundle: dict[str, Any]) -> None:
    """Each message text of the bundle against the proven record of its writing: the record
    keeps the fingerprint of the text (messaging.fingerprint), the sender and the group, so a
    text, sender or group changed in the bundle (digests recomputed) is caught. A message
    whose record's content was purged, or which has no record in the bundle, is not checked."""
    written = {}
    for r in bundle["sections"]["audit_records"]:
        extra = r.get("extra") or {}
        if r.get("event_type") in _WRITES and r.get("subject_type") == "message" \
                and "fingerprint" in extra:
            written[r.get("subject_id")] = r
    messages = bundle["sections"]["messages"]
    if not isinstance(messages, list):
        raise BundleError("section 'messages' is not a list")
    for m in messages:
        record = written.get(str(m.get("id"))) if isinstance(m, dict) else None
        if record is None:
            continue
        text = m.get("text")
        if (m.get("sender_id"), m.get("group_id")) != (record.get("acting_id"),
                                                       record.get("group_id")):
            raise BundleError(f"message {m.get('id')}: its sender or group differs from its "
                              f"proven audit record {record.get('id')}")
        if isinstance(text, str) and fingerprint(text) != record["extra"]["fingerprint"]:
            raise BundleError(f"message {m.get('id')}: its text differs from the one its "
                              f"proven audit record {record.get('id')} fingerprinted")


def checker(public_keys: list[str]) -> ProofChecker:
    """The offline proof check for bundles, trusting ``public_keys`` (``qunguan auditlog
    keys`` prints them)."""

    def check(bundle: dict[str, Any], proofs: dict[str, Any]) -> int:
        if not public_keys:
            raise BundleError("the bundle carries a signed checkpoint but no public key was "
                              "given to check it (--key; `qunguan auditlog keys`)")
        try:
            verifiers = [notes.parse_verifier(k) for k in public_keys]
        except notes.NoteError as exc:
            raise BundleError(f"public key: {exc}") from None
        if not isinstance(proofs, dict) or not isinstance(proofs.get("checkpoint"), str):
            raise BundleError("proofs: no signed checkpoint")
        entries = proofs.get("records")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BundleError("proofs: records is not a list of objects")
        problems = auditlog_export.verify_record_proofs(proofs["checkpoint"], entries,
                                                        verifiers)
        if problems:
            raise BundleError(problems[0])
        by_id = {e.get("record_id"): e for e in entries}
        proven = 0
        for record in bundle["sections"]["audit_records"]:
            if not isinstance(record, dict):
                raise BundleError("an audit record is not a JSON object")
            entry = by_id.get(record.get("id"))
            if entry is None:
                raise BundleError(f"audit record {record.get('id')} has no inclusion proof")
            _check_leaf(record, entry)
            proven += 1
        _check_messages(bundle)
        return proven

    return check
