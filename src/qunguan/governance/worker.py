"""The purge worker: content past retention is removed or anonymised, kind by kind.

A polling worker (the embedded server runs it in a thread when QUNGUAN_RUN_WORKERS is on;
``qunguan retention purge`` runs it from cron). Each batch is one transaction with its own
RETENTION_PURGED audit record; a crash between batches loses nothing and repeats nothing (a
purged row no longer matches). Holds are read afresh in every batch, so a hold placed while
the worker runs takes effect from the next batch.
"""

from __future__ import annotations

import logging

from qunguan.governance import actions
from qunguan.governance.queries import RecordKind
from qunguan.identity import queries as identity_queries
from qunguan.kernel.outbox import PollingWorker
from qunguan.kernel.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


def purge_pass(uows: UnitOfWorkFactory) -> int:
    """One batch of every kind; returns how many rows it purged (0: nothing left to do)."""
    total = 0
    for kind in RecordKind:
        uow = uows()
        try:
            system = identity_queries.system_account(uow)
            purged = actions.do_purge_batch(uow, acting=system, kind=kind,
                                            limit=uow.settings.retention_batch)
            uow.commit()
            total += len(purged.ids)
        except Exception:
            uow.rollback()
            log.exception("purge of %s failed; the next pass retries", kind.value)
        finally:
            uow.close()
    return total


class PurgeWorker(PollingWorker):
    """A background thread running ``purge_pass`` every ``poll_seconds``."""

    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-retention", purge_pass, uows, poll_seconds)
