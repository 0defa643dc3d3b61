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
    """One pass over every expired envelope, a page of ``limit`` at a time; returns how many
    it refunded. An envelope whose refund fails is logged and left for the next pass, and the
    pass goes on past it: a batch that keeps failing never starves the rest."""
    done = 0
    after = 0
    while True:
        uow = uows()
        try:
            due = actions.due_for_refund(uow, limit, after_id=after)
            uow.rollback()
        finally:
            uow.close()
        if not due:
            return done
        for envelope_id in due:
            done += _refund_one(uows, envelope_id)
        after = due[-1]


def _refund_one(uows: UnitOfWorkFactory, envelope_id: int) -> int:
    uow = uows()
    try:
        system = identity_queries.system_account(uow)
        refunded = actions.do_refund_envelope(uow, acting=system, envelope_id=envelope_id)
        uow.commit()
        return int(refunded is not None)
    except Exception:
        uow.rollback()
        log.exception("refund of envelope %s failed; the next pass retries", envelope_id)
        return 0
    finally:
        uow.close()


class RefundWorker(PollingWorker):
    """A background thread running ``refund_expired`` every ``poll_seconds``."""

    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        super().__init__("qunguan-envelope-refunds", refund_expired, uows, poll_seconds)
