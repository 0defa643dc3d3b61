"""The refund worker: expired envelopes' remainders go back to their senders, exactly once.

A polling worker (the embedded server runs it in a thread when QUNGUAN_RUN_WORKERS is on;
``qunguan envelopes refund-expired`` runs one pass from cron). Each envelope is refunded in a
transaction of its own; a crash between passes loses nothing (the envelope stays ``open``
and the next pass takes it) and a second worker running at the same time finds it locked,
then already refunded (see ``actions.do_refund_envelope``).
"""

from __future__ import annotations

import logging
import threading

from qunguan.envelopes import actions
from qunguan.identity import queries as identity_queries
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


class RefundWorker:
    """A background thread running ``refund_expired`` every ``poll_seconds``."""

    def __init__(self, uows: UnitOfWorkFactory, poll_seconds: float) -> None:
        self.uows = uows
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="qunguan-envelope-refunds",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while refund_expired(self.uows) and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("envelope refund pass failed")
            self._stop.wait(self.poll_seconds)
