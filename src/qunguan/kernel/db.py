"""Engine, base model and column types shared by every capability's tables."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# BIGINT on PostgreSQL; SQLite only autoincrements a column declared exactly INTEGER.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Sync routes and dependencies run on AnyIO's thread pool (40 threads, see
# kernel.web.ConcurrencyLimit). The pool holds at least that many connections: otherwise every
# thread can end up waiting for a connection while the requests holding them wait for a
# thread to run their teardown (a deadlock that only breaks at the pool timeout).
POOL_SIZE = 40


def newest_first(session: Session, stmt: Select[Any], id_column: InstrumentedAttribute[int],
                 *, before_id: int | None, limit: int,
                 max_page: int) -> tuple[list[Any], int | None]:
    """One page of ``stmt``'s rows by descending id (keyset paging): at most ``limit``
    (clamped to 1..max_page) rows below ``before_id``, and the id to pass as ``before_id``
    for the next page, or None when this is the last one."""
    if before_id is not None:
        stmt = stmt.where(id_column < before_id)
    limit = max(1, min(limit, max_page))
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


SQLITE_LOCK_TIMEOUT = 30.0


def _serialise_writers(engine: Engine) -> None:
    """One transaction at a time per SQLite engine, handed over through a Python lock.

    Every transaction starts with ``BEGIN IMMEDIATE``, so a read transaction that later writes
    cannot fail with "database is locked" halfway. Waiting for SQLite's own lock means polling
    with growing sleeps, which is unfair: under 64 concurrent clients some requests starved
    past the 30 s busy timeout. Waiters on a Python lock are woken by the release instead.
    The lock is released when SQLAlchemy commits or rolls back (just before the driver call;
    the busy timeout covers that instant) and, as a safety net, when the connection goes back
    to the pool.
    """
    lock = threading.Lock()

    def release(info: dict[str, Any]) -> None:
        if info.pop("qunguan_write_lock", False):
            lock.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not lock.acquire(timeout=SQLITE_LOCK_TIMEOUT):
            raise sqlite3.OperationalError("database is locked (waited for the write lock)")
        conn.info["qunguan_write_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            release(conn.info)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated one is released at pool checkin
            release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        if not conn.invalidated:
            release(conn.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            release(record.info)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the backend.

    SQLite runs in WAL mode with foreign keys on, and its transactions are serialised (see
    ``_serialise_writers``).
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", 10)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        _serialise_writers(engine)
        return engine
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
