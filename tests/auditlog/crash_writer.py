"""A child process for the crash test: writes audit records and appends them to the log in
a loop, printing ``ack ID`` once a record's transaction has committed and ``seq SIZE`` once a
batch of leaves has; the test kills it with SIGKILL at some point.

Usage: python -m tests.auditlog.crash_writer DATABASE_URL DATA_DIR MODE
MODE ``write``: records and appends interleaved; ``append``: only appends (a backlog)."""

from __future__ import annotations

import sys

from sqlalchemy.orm import sessionmaker

from qunguan.auditlog import actions
from qunguan.config import Settings
from qunguan.kernel.clock import SystemClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventBus, EventType
from qunguan.kernel.uow import UnitOfWorkFactory, record_audit
from qunguan.models import load_all_models


def main(url: str, data_dir: str, mode: str) -> None:
    load_all_models()
    settings = Settings(database_url=url, data_dir=data_dir, auditlog_batch_size=97)
    engine = make_engine(url)
    uows = UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False), settings=settings,
                             clock=SystemClock(), bus=EventBus())
    i = 0
    while True:
        uow = uows()
        try:
            if mode == "write":
                for _ in range(50):
                    row = record_audit(uow, EventType.DEMO_SEEDED, acting=1,
                                       extra={"i": i, "text": "记录" * 20})
                    uow.session.flush()
                    uow.commit()
                    print(f"ack {row.id}", flush=True)
                    i += 1
            done = actions.do_append(uow, acting=1)
            print(f"seq {done}", flush=True)
        finally:
            uow.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
