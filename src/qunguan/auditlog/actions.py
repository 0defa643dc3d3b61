"""State changes of the Merkle log: append records, sign checkpoints, rotate the signing key,
record a self-check and an export.

Appending and signing write no audit record of their own: each would be a new record to
append, so the log would never be still. Signing emits an outbox event
(AUDITLOG_CHECKPOINT_SIGNED); key rotation, exports and a failed self-check are audit records.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import select

from qunguan.auditlog import log as store
from qunguan.auditlog import notes
from qunguan.auditlog.models import Checkpoint
from qunguan.auditlog.selfcheck import check_stored
from qunguan.config import Settings
from qunguan.kernel.events import EventType
from qunguan.kernel.uow import HasId, UnitOfWork, record_audit

log = logging.getLogger(__name__)

_KEYS: dict[tuple[Path, str], notes.SigningKeys] = {}
_KEYS_LOCK = threading.Lock()


def signing_keys(settings: Settings) -> notes.SigningKeys:
    """The log's signing keys (generated on first use in the key directory)."""
    where = (settings.resolved_key_dir.resolve(), settings.auditlog_origin)
    with _KEYS_LOCK:
        if where not in _KEYS:
            _KEYS[where] = notes.SigningKeys(where[0], settings.auditlog_origin)
        return _KEYS[where]


def latest_checkpoint(uow: UnitOfWork) -> Checkpoint | None:
    return uow.session.scalar(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))


def do_append(uow: UnitOfWork, *, acting: HasId | int, limit: int | None = None) -> int:
    """Append the next batch of committed audit records; commits. Returns how many.

    ``acting`` is the system account; appending is the log's own bookkeeping (see above)."""
    del acting
    upto = store.horizon(uow.session)
    done = store.sequence_batch(uow.session, upto=upto,
                                limit=limit or uow.settings.auditlog_batch_size, now=uow.now())
    uow.commit()
    return done


class LogCorrupted(RuntimeError):
    """The stored tree disagrees with itself or with a signed checkpoint: nothing is signed."""


def do_sign_checkpoint(uow: UnitOfWork, *, acting: HasId | int, force: bool = False
                       ) -> Checkpoint | None:
    """Sign the current tree size and root, unless the latest checkpoint already covers it
    (``force`` signs anyway). Refuses (LogCorrupted) when the stored nodes no longer give the
    state's root or the previous checkpoint's root: the log never signs a fork."""
    del acting
    st = store.state(uow.session, lock=True, now=uow.now())
    latest = latest_checkpoint(uow)
    if latest is not None and latest.tree_size == st.tree_size and not force:
        return None
    if store.root_at(uow.session, st.tree_size) != st.root_hash:
        raise LogCorrupted("the stored tree does not give the log's root")
    if latest is not None and (latest.tree_size > st.tree_size or store.root_at(
            uow.session, latest.tree_size) != latest.root_hash):
        raise LogCorrupted(f"the stored tree is not consistent with checkpoint {latest.id}")
    keys = signing_keys(uow.settings)
    note = keys.sign_checkpoint(uow.settings.auditlog_origin, st.tree_size, st.root_hash)
    current = keys.verifiers()[-1]
    row = Checkpoint(tree_size=st.tree_size, root_hash=st.root_hash, key_id=current.key_id.hex(),
                     note=note, created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    uow.emit(EventType.AUDITLOG_CHECKPOINT_SIGNED, checkpoint_id=row.id,
             tree_size=st.tree_size, key_id=row.key_id)
    return row


def publish_checkpoint(settings: Settings, checkpoint: Checkpoint,
                       path: Path | None = None) -> Path | None:
    """Write the checkpoint's note to ``path`` or QUNGUAN_AUDITLOG_PUBLISH_FILE (after commit)."""
    target = path or settings.auditlog_publish_file
    if target is not None:
        notes.publish(target, checkpoint.note)
    return target


def do_rotate_signing_key(uow: UnitOfWork, *, acting: HasId) -> notes.Verifier:
    """A new checkpoint signing key; the old public keys stay listed for verification."""
    verifier = signing_keys(uow.settings).rotate()
    record_audit(uow, EventType.AUDITLOG_KEY_ROTATED, acting=acting,
                 subject_type="auditlog_key", subject_id=verifier.key_id.hex(),
                 extra={"verifier_key": verifier.text})
    uow.emit(EventType.AUDITLOG_KEY_ROTATED, key_id=verifier.key_id.hex())
    return verifier


def do_self_check(uow: UnitOfWork, *, acting: HasId) -> list[str]:
    """Re-verify every logged record, the stored tree and the signed checkpoints (in short
    read transactions), then record the outcome; a failure is an audit record, an event and
    an error log line, and /healthz reports it. Returns the problems found (empty: all good)."""
    problems = check_stored(uow.session, signing_keys(uow.settings).verifiers(),
                            uow.settings.auditlog_origin)
    st = store.state(uow.session, lock=True, now=uow.now())
    st.checked_at = uow.now()
    st.check_ok = not problems
    st.check_message = "; ".join(problems)[:2000] if problems else None
    if problems:
        log.error("AUDIT LOG TAMPERING DETECTED: %s", "; ".join(problems[:10]))
        record_audit(uow, EventType.AUDITLOG_TAMPERING_DETECTED, acting=acting,
                     subject_type="auditlog", extra={"problems": problems[:50],
                                                     "count": len(problems)})
        uow.emit(EventType.AUDITLOG_TAMPERING_DETECTED, problems=problems[:10],
                 count=len(problems))
    return problems


def do_record_export(uow: UnitOfWork, *, acting: HasId, tree_size: int, target: str) -> None:
    record_audit(uow, EventType.AUDITLOG_EXPORTED, acting=acting, subject_type="auditlog",
                 extra={"tree_size": tree_size, "target": target[:200]})
    uow.emit(EventType.AUDITLOG_EXPORTED, tree_size=tree_size)
