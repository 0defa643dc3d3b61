"""Migrations run up, down and up again on both backends, the models do not drift from them,
and the server refuses a database whose schema it does not match.

Each test gets a fresh, empty database: a temporary file on SQLite, a database of its own on
the PostgreSQL server of QUNGUAN_TEST_DATABASE_URL (skipped when unreachable, a failure when
QUNGUAN_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from qunguan.app import create_app
from qunguan.config import Settings
from qunguan.kernel.db import Base, make_engine
from qunguan.migrations import (
    SchemaError,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from qunguan.models import load_all_models
from tests.conftest import DEFAULT_PG, _admin_conninfo


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = os.environ.get("QUNGUAN_TEST_DATABASE_URL", DEFAULT_PG)
    admin = _admin_conninfo(server)
    try:
        with psycopg.connect(admin, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        if os.environ.get("QUNGUAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {server} is unreachable and CI requires it: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc.__class__.__name__}")
    name = f"qunguan_mig_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _drift(url: str) -> list[object]:
    load_all_models()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def _settings(url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=url, data_dir=tmp_path, run_workers=False)


def test_up_down_up(empty_url: str) -> None:
    load_all_models()
    model_tables = {t.name for t in Base.metadata.sorted_tables}
    assert _revision(empty_url) is None

    upgrade(empty_url)
    assert _revision(empty_url) == head_revision()
    assert model_tables <= _tables(empty_url)

    downgrade(empty_url, "base")
    assert _revision(empty_url) is None
    assert _tables(empty_url) - {"alembic_version"} == set()

    upgrade(empty_url)
    assert _revision(empty_url) == head_revision()
    assert model_tables <= _tables(empty_url)


def test_models_do_not_drift_from_migrations(empty_url: str) -> None:
    upgrade(empty_url)
    diffs = _drift(empty_url)
    assert diffs == [], "the models differ from the migrations; autogenerate a new " \
                        f"migration: {diffs}"


def test_drift_check_can_fail(empty_url: str) -> None:
    """The drift check sees a change (guards against a comparison that always passes)."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    assert any(diff[0] == "remove_table" for diff in _drift(empty_url)  # type: ignore[index]
               if isinstance(diff, tuple))


def _connections(url: str) -> int:
    """Open connections to the database of ``url`` (PostgreSQL; 0 on SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        return 0
    server = os.environ.get("QUNGUAN_TEST_DATABASE_URL", DEFAULT_PG)
    with psycopg.connect(_admin_conninfo(server)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           (u.database,)).fetchone()
    return int(row[0]) if row else 0


def test_server_refuses_unmigrated_database(empty_url: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="qunguan migrate"):
        create_app(_settings(empty_url, tmp_path))
    assert _connections(empty_url) == 0  # the refused app let go of its connection


def test_server_refuses_database_migrated_by_a_newer_version(empty_url: str,
                                                             tmp_path: Path) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
        with pytest.raises(SchemaError, match="newer") as info:
            check_schema(engine)
        assert "ffff9999" in str(info.value)
    finally:
        engine.dispose()
    with pytest.raises(SchemaError, match="newer"):
        create_app(_settings(empty_url, tmp_path))


def test_server_refuses_after_downgrade_and_starts_after_upgrade(empty_url: str,
                                                                 tmp_path: Path) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    with pytest.raises(SchemaError, match="qunguan migrate"):
        create_app(_settings(empty_url, tmp_path))
    upgrade(empty_url)
    app = create_app(_settings(empty_url, tmp_path))
    app.state.engine.dispose()


def test_schema_error_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message names the database but not the password it is reached with."""
    import qunguan.migrations as migrations

    monkeypatch.setattr(migrations, "current_revision", lambda engine: None)
    engine = make_engine("postgresql+psycopg://qunguan:s3cret-pw@db.example:5432/qunguan")
    with pytest.raises(SchemaError) as info:
        check_schema(engine)
    assert "db.example" in str(info.value)
    assert "s3cret-pw" not in str(info.value)


def test_0013_keeps_imports_made_before_it_verifiable(empty_url: str, tmp_path: Path) -> None:
    """An archive imported under 0012 (chain 1: whole payloads hashed) still verifies after
    0013, which marks it chain 1 and dates its events from the import's start."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker

    from qunguan.importers import Archive, to_json
    from qunguan.importers.chain import GENESIS, chain
    from qunguan.importers.queries import verify_import
    from qunguan.kernel.clock import SystemClock
    from qunguan.kernel.db import UTCDateTime
    from qunguan.kernel.events import EventBus
    from qunguan.kernel.uow import UnitOfWorkFactory

    upgrade(empty_url, "0012")
    started = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    accounts = sa.table("accounts", sa.column("id"), sa.column("kind"),
                        sa.column("display_name"), sa.column("verification"),
                        sa.column("created_at", UTCDateTime()))
    imports = sa.table("archive_imports", sa.column("id"), sa.column("acting_id"),
                       sa.column("started_at", UTCDateTime()), sa.column("files", sa.JSON()),
                       sa.column("format"), sa.column("events"), sa.column("errors"),
                       sa.column("digest"), sa.column("status"))
    events = sa.table("archived_events", sa.column("import_id"), sa.column("seq"),
                      sa.column("kind"), sa.column("external_id"), sa.column("group_key"),
                      sa.column("sender"), sa.column("occurred_at", UTCDateTime()),
                      sa.column("text"), sa.column("amount_fen"),
                      sa.column("payload", sa.JSON()), sa.column("digest"))
    fixture = Path(__file__).parent / "importers" / "fixtures" / "wecom.jsonl"
    digest, rows = GENESIS, []
    for seq, event in enumerate(list(Archive([fixture]))[:4], 1):
        payload = to_json(event)
        digest = chain(digest, payload)
        rows.append({"import_id": 1, "seq": seq, "kind": event.kind,
                     "external_id": event.id, "group_key": event.group,
                     "sender": event.sender, "occurred_at": event.ts, "text": event.content,
                     "amount_fen": event.amount_fen, "payload": payload, "digest": digest})
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(accounts.insert().values(id=1, kind="system", display_name="system",
                                                  verification="unverified",
                                                  created_at=started))
            conn.execute(imports.insert().values(id=1, acting_id=1, started_at=started,
                                                 files=["old.jsonl"], format="auto",
                                                 events=len(rows), errors=0, digest=digest,
                                                 status="complete"))
            conn.execute(events.insert(), rows)
        upgrade(empty_url)
        uow = UnitOfWorkFactory(sessionmaker(engine), settings=_settings(empty_url, tmp_path),
                                clock=SystemClock(), bus=EventBus())()
        try:
            result = verify_import(uow, 1)
            imported = uow.session.execute(text(
                "SELECT DISTINCT imported_at FROM archived_events")).scalars().all()
        finally:
            uow.close()
    finally:
        engine.dispose()
    assert (result.ok, result.chain_version, result.events, result.digest) == \
        (True, 1, len(rows), digest)
    assert len(imported) == 1
