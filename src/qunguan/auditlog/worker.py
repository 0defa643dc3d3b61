"""The audit log's workers: one appends committed audit records to the Merkle log every
QUNGUAN_AUDITLOG_SEQUENCE_SECONDS and signs a checkpoint every
QUNGUAN_AUDITLOG_CHECKPOINT_SECONDS when the log has grown; the other runs the self-check
every QUNGUAN_AUDITLOG_SELF_CHECK_SECONDS. The embedded server runs both as threads when
QUNGUAN_RUN_WORKERS is on; `qunguan auditlog append|checkpoint|self-check` run one pass."""

from __future__ import annotations

import logging
from datetime import timedelta

from qunguan.auditlog import actions
from qunguan.identity import queries as identity_queries
from qunguan.kernel.outbox import PollingWorker
from qunguan.kernel.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


def append_pass(uows: UnitOfWorkFactory) -> int:
    """Append one batch, then sign (and publish) a checkpoint when one is due, whether or not
    more records wait (a steady stream must not starve the checkpoints). Returns how many
    records were appended (the worker runs again at once while there are more)."""
    uow = uows()
    try:
        system = identity_queries.system_account(uow)
        done = actions.do_append(uow, acting=system)
        latest = actions.latest_checkpoint(uow)
        interval = timedelta(seconds=uow.settings.auditlog_checkpoint_seconds)
        if latest is None or latest.created_at + interval <= uow.now():
            checkpoint = actions.do_sign_checkpoint(uow, acting=system)
            uow.commit()
            if checkpoint is not None:
                actions.publish_checkpoint(uow.settings, checkpoint)
        else:
            uow.rollback()
        return done
    except Exception:
        uow.rollback()
        raise
    finally:
        uow.close()


def self_check_pass(uows: UnitOfWorkFactory) -> int:
    uow = uows()
    try:
        system = identity_queries.system_account(uow)
        uow.commit()
        actions.do_self_check(uow, acting=system)
        uow.commit()
    except Exception:
        uow.rollback()
        raise
    finally:
        uow.close()
    return 0


class AppendWorker(PollingWorker):
    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-auditlog", append_pass, uows, poll_seconds)


class SelfCheckWorker(PollingWorker):
    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-auditlog-self-check", self_check_pass, uows, poll_seconds)
