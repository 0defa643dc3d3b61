"""The refund worker: expired envelopes' remainders go back to their senders, exactly once.

A polling worker (the embedded server runs it in a thread when QUNGUAN_RUN_WORKERS is on;
``qunguan envelopes refund-expired`` runs one pass from cron). Each envelope is refunded in a
transaction of its own; a crash between passes loses nothing (the envelope stays ``open``
and the next pass takes it) and a second worker running at the same time finds it locked,
then already refunded (see ``actions.do_refund_envelope``).
"""

from __future__ import annotations

import logging

from qunguan.envelopes import actions
from qunguan.identity import queries as identity_queries
from qunguan.kernel.outbox import PollingWorker
from qunguan.kernel.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


def refund_expired(uows: UnitOfWorkFactory, limit: int = 100) -> int:
    """One pass; returns how many envelopes this pass refunded."""
    uow = uows()
    try:
        due = actions.due_for_refund(uow, limit)
        uow.rollback()
    finally:
        uow.close()
    done = 0
    for envelope_id in due:
        uow = uows()
        try:
            system = identity_queries.system_account(uow)
            if actions.do_refund_envelope(uow, acting=system, envelope_id=envelope_id) is not None:
                done += 1
            uow.commit()
        except Exception:
            uow.rollback()
            log.exception("refund of envelope %s failed; the next pass retries", envelope_id)
        finally:
            uow.close()
    return done


class RefundWorker(PollingWorker):
    """A background thread running ``refund_expired`` every ``poll_seconds``."""

    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-envelope-refunds", refund_expired, uows, poll_seconds)
