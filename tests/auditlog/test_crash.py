"""Crash safety: a process writing and appending records is killed with SIGKILL (kill -9) at
random moments, then another one mid-way through a backlog; afterwards the log verifies and
every acknowledged record is in it, in order (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from qunguan.auditlog import actions, leaves, merkle
from qunguan.auditlog.models import LogLeaf, LogState
from qunguan.auditlog.selfcheck import check_stored
from qunguan.config import Settings
from qunguan.kernel.clock import SystemClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventBus, EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWorkFactory

ROOT = Path(__file__).resolve().parents[2]


def _run_until(url: str, data_dir: Path, mode: str, *, acks: int, seqs: int) -> list[int]:
    """Start the child, read until it acknowledged ``acks`` records and ``seqs`` batches,
    then SIGKILL it. Returns the acknowledged record ids. A child that could not even connect
    (the shared PostgreSQL server out of connection slots) is started again, up to 5 times."""
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "tests.auditlog.crash_writer", url,
                                 str(data_dir), mode], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        acked: list[int] = []
        batches = lines = 0
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines += 1
                kind, value = line.split()
                if kind == "ack":
                    acked.append(int(value))
                elif int(value):
                    batches += 1
                if len(acked) >= acks and batches >= seqs:
                    break
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        errors = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != -signal.SIGKILL and not lines and "too many clients" in errors \
                and attempt < 4:
            time.sleep(2)
            continue
        assert proc.returncode == -signal.SIGKILL, errors
        return acked
    raise AssertionError("unreachable")


def test_kill_9_during_appends_loses_no_acknowledged_record(database_url: str,
                                                            tmp_path: Path) -> None:
    rng = random.Random(9)
    acked: list[int] = []
    for _ in range(3):
        acked += _run_until(database_url, tmp_path, "write", acks=rng.randrange(60, 260),
                            seqs=1)
    engine = make_engine(database_url)
    try:
        with Session(engine) as s:  # a backlog appended by a process killed mid-way
            now = datetime.now(UTC)
            s.execute(insert(AuditRecord), [
                {"event_type": int(EventType.DEMO_SEEDED), "occurred_at": now, "acting_id": 1,
                 "extra": {"backlog": i}} for i in range(2000)])
            s.commit()
            acked += list(s.scalars(select(AuditRecord.id).where(AuditRecord.id > max(acked))))
        _run_until(database_url, tmp_path, "append", acks=0, seqs=rng.randrange(2, 6))

        settings = Settings(database_url=database_url, data_dir=tmp_path)
        uows = UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False),
                                 settings=settings, clock=SystemClock(), bus=EventBus())
        uow = uows()
        try:
            while actions.do_append(uow, acting=1):
                pass
            records = list(uow.session.scalars(select(AuditRecord).order_by(AuditRecord.id)))
            logged = list(uow.session.scalars(select(LogLeaf.record_id)
                                              .order_by(LogLeaf.leaf_index)))
            assert set(acked) <= set(logged)
            assert logged == [r.id for r in records]
            state = uow.session.get(LogState, 1)
            assert state is not None
            assert state.root_hash == merkle.root_hash([leaves.leaf_entry(r) for r in records])
            uow.rollback()
            assert check_stored(uow.session, [], settings.auditlog_origin) == []
        finally:
            uow.close()
    finally:
        engine.dispose()
