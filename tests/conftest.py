"""Fixtures: one suite, run on SQLite and on a real PostgreSQL.

PostgreSQL: the server named by QUNGUAN_TEST_DATABASE_URL (default: the local server at
127.0.0.1:5432, database ``test``). Each test run (each xdist worker) creates a database of
its own, migrates it, and drops it at the end; tests truncate it between them. When no server
answers, the suite says so loudly and runs SQLite only, unless QUNGUAN_REQUIRE_POSTGRES=1
(CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from qunguan.app import create_app
from qunguan.config import Settings
from qunguan.identity import AccountKind
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.db import Base, make_engine
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.migrations import upgrade
from qunguan.models import load_all_models
from tests.cast import Person, make_cast, pii_needles

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VAULT_PATHS = ("/reveal",)  # responses of audited vault reads are exempt from the PII scan
# The one web page that is a vault path: the requester's read of an approved unmasking. Only
# its successful answer (a POST, 200) is exempt; its refusals and every other page are scanned.
VAULT_PAGE = re.compile(r"/officer/unmaskings/\d+/reveal")


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own. In the main thread asyncio.run refuses to start when
    a loop is already marked running there, which an earlier test on the same worker can leave
    behind (Playwright's sync API does by design; CI once saw it outside the browser tests,
    after a stray KeyboardInterrupt), and the victim would be whichever test came next."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def is_vault_page(method: str, path: str, status: int) -> bool:
    return method == "POST" and status == 200 and VAULT_PAGE.fullmatch(path) is not None


# --- PII guard: every response and log line of the suite is scanned -----------------------


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append((f"log {record.name}", self.format(record)))
        except Exception:  # pragma: no cover
            self.texts.append((f"log {record.name}", str(record.msg)))


COLLECTOR = Collector()
logging.getLogger().addHandler(COLLECTOR)
logging.getLogger().setLevel(logging.DEBUG)
for noisy in ("httpx", "httpcore", "asyncio", "faker", "passlib"):
    logging.getLogger(noisy).setLevel(logging.INFO)
NEEDLES = pii_needles()


def scan(texts: list[tuple[str, str]]) -> list[str]:
    hits = []
    for where, body in texts:
        for needle in NEEDLES:
            if needle in body:
                hits.append(f"{where}: contains {needle[:3]}…")
    return hits


@pytest.fixture(autouse=True)
def pii_guard() -> Iterator[None]:
    start = len(COLLECTOR.texts)
    yield
    hits = scan(COLLECTOR.texts[start:])
    del COLLECTOR.texts[start:]
    assert not hits, f"personal data leaked outside the vault path: {hits}"


# --- databases ------------------------------------------------------------------------------


def _admin_conninfo(url: str) -> str:
    u = make_url(url)
    return (f"host={u.host or '127.0.0.1'} port={u.port or 5432} user={u.username or 'postgres'}"
            f" dbname={u.database or 'postgres'}"
            + (f" password={u.password}" if u.password else ""))


@pytest.fixture(scope="session")
def pg_server() -> str | None:
    url = os.environ.get("QUNGUAN_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        with psycopg.connect(_admin_conninfo(url), connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        if os.environ.get("QUNGUAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {url} is unreachable and CI requires it: {exc}")
        msg = (f"\n{'!' * 78}\n!! PostgreSQL at {url} is unreachable ({exc.__class__.__name__})."
               f"\n!! Running the suite on SQLite ONLY. Set QUNGUAN_TEST_DATABASE_URL.\n"
               f"{'!' * 78}")
        warnings.warn(msg, stacklevel=1)
        print(msg)
        return None
    return url


def _drop_orphans(conn: psycopg.Connection[Any], url: str) -> None:
    """Drop databases of earlier runs on this machine whose process is gone (a run killed
    before its teardown). Only for a server on this machine: pids mean nothing elsewhere."""
    if make_url(url).host not in ("127.0.0.1", "localhost", "::1"):
        return
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'qunguan_test_%'")
    for (datname,) in rows.fetchall():
        parts = datname.split("_")
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:
            conn.execute(f'DROP DATABASE IF EXISTS "{datname}" WITH (FORCE)')
        except PermissionError:  # alive, owned by someone else
            continue


@pytest.fixture(scope="session")
def pg_database(pg_server: str | None) -> Iterator[str | None]:
    """A database of this run's own, migrated once, dropped at the end."""
    if pg_server is None:
        yield None
        return
    name = f"qunguan_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _admin_conninfo(pg_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        _drop_orphans(conn, pg_server)
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "qunguan.db"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate(url: str) -> None:
    load_all_models()
    engine = make_engine(url, pool_size=1, max_overflow=0)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "qunguan.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    if url is None:
        pytest.skip("PostgreSQL unreachable (see the warning above)")
    _truncate(url)
    return str(url)


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, argon2_time_cost=1,
                    argon2_memory_cost_kib=1024, run_workers=False,
                    network_id_sandbox_secret="test-network-id-sandbox")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


# --- the HTTP client ------------------------------------------------------------------------


class Api:
    """TestClient with the cast's tokens and the PII collector wired in."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def request(self, method: str, path: str, as_: Person | None = None,
                **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if as_ is not None:
            headers.update(as_.auth)
        response = self.client.request(method, path, headers=headers, **kwargs)
        if not any(p in path for p in VAULT_PATHS):
            COLLECTOR.texts.append((f"response {method} {path}", response.text))
        return response

    def get(self, path: str, as_: Person | None = None, **kw: Any) -> Any:
        return self.request("GET", path, as_, **kw)

    def post(self, path: str, as_: Person | None = None, **kw: Any) -> Any:
        return self.request("POST", path, as_, **kw)

    def put(self, path: str, as_: Person | None = None, **kw: Any) -> Any:
        return self.request("PUT", path, as_, **kw)

    def patch(self, path: str, as_: Person | None = None, **kw: Any) -> Any:
        return self.request("PATCH", path, as_, **kw)

    def delete(self, path: str, as_: Person | None = None, **kw: Any) -> Any:
        return self.request("DELETE", path, as_, **kw)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Any:
    return create_app(settings, clock=clock)


@pytest.fixture
def api(app: Any) -> Iterator[Api]:
    with TestClient(app) as client:
        yield Api(client)


# --- the cast -------------------------------------------------------------------------------


def register(api: Api, person: Person) -> None:
    r = api.post("/api/accounts", json={"phone": person.phone, "password": person.password,
                                        "display_name": person.display_name})
    assert r.status_code == 201, r.text
    person.id = r.json()["id"]
    login(api, person)


def login(api: Api, person: Person) -> None:
    r = api.post("/api/sessions", json={"phone": person.phone, "password": person.password})
    assert r.status_code == 201, r.text
    person.token = r.json()["token"]


def verify(api: Api, person: Person) -> None:
    r = api.post("/api/me/verifications", as_=person,
                 json={"provider": "resident_id", "legal_name": person.legal_name,
                       "id_number": person.id_number})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "verified"


def make_officer(app: Any, person: Person) -> None:
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        identity_actions.do_set_kind(uow, acting=system, account_id=person.id,
                                     kind=AccountKind.OFFICER)
        uow.commit()
    finally:
        uow.close()


def join_by_invitation(api: Api, group: dict[str, Any], by: Person, person: Person) -> None:
    r = api.post(f"/api/groups/{group['id']}/invitations", as_=by, json={"account_id": person.id})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/me/invitations/{r.json()['id']}/accept", as_=person,
                 json={"rules_version": group["rules_version"]})
    assert r.status_code == 200, r.text


class Cast(dict[str, Person]):
    group: dict[str, Any]

    def __getattr__(self, key: str) -> Person:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@dataclass
class CastSnapshot:
    """The database rows, key files and cast data right after the cast was built."""

    rows: dict[str, list[dict[str, Any]]]
    keys: dict[str, bytes]
    people: dict[str, Person]
    group: dict[str, Any]


_SNAPSHOTS: dict[str, CastSnapshot] = {}


def _build_cast(api: Api, app: Any) -> Cast:
    people = Cast(make_cast())
    for person in people.values():
        register(api, person)
        if person.id_number:
            verify(api, person)
    make_officer(app, people.officer)
    r = api.post("/api/groups", as_=people.founder,
                 json={"name": "项目协调群", "category": "work", "rules_text": "文明交流"})
    assert r.status_code == 201, r.text
    group = r.json()
    for key in ("admin", "member", "member2", "newcomer"):
        join_by_invitation(api, group, people.founder, people[key])
    r = api.post(f"/api/groups/{group['id']}/members/{people.admin.id}/role",
                 as_=people.founder, json={"role": "admin"})
    assert r.status_code == 204, r.text
    people.group = api.get(f"/api/groups/{group['id']}", as_=people.founder).json()
    return people


def _take_snapshot(app: Any, people: Cast) -> CastSnapshot:
    engine = app.state.engine
    with engine.connect() as conn:
        rows = {t.name: [dict(r._mapping) for r in conn.execute(t.select())]
                for t in Base.metadata.sorted_tables}
        conn.rollback()
    key_dir = app.state.settings.resolved_key_dir
    keys = {f.name: f.read_bytes() for f in key_dir.iterdir() if f.is_file()}
    return CastSnapshot(rows, keys, copy.deepcopy(dict(people)), copy.deepcopy(people.group))


def _restore_snapshot(app: Any, snap: CastSnapshot) -> Cast:
    engine = app.state.engine
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if snap.rows[table.name]:
                conn.execute(table.insert(), snap.rows[table.name])
        if engine.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                if "id" in table.c and table.c.id.autoincrement is True:
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))
    key_dir = app.state.settings.resolved_key_dir
    key_dir.mkdir(parents=True, exist_ok=True)
    for name, data in snap.keys.items():
        path = key_dir / name
        path.write_bytes(data)
        path.chmod(0o600)
    people = Cast(copy.deepcopy(snap.people))
    people.group = copy.deepcopy(snap.group)
    return people


@pytest.fixture
def cast(api: Api, app: Any, backend: str) -> Cast:
    """Everyone registered and logged in; all but the newcomer verified; the officer made an
    officer; the founder's work group with the admin, two members and the newcomer in it.

    Built through the API once per backend and worker, then restored from a snapshot of its
    rows and key files: the state is identical (audit records and outbox rows included), at a
    fraction of the cost."""
    snap = _SNAPSHOTS.get(backend)
    if snap is None:
        people = _build_cast(api, app)
        _SNAPSHOTS[backend] = _take_snapshot(app, people)
        return people
    return _restore_snapshot(app, snap)


# --- assertions on the record ---------------------------------------------------------------


def audit_records(app: Any, type_: EventType) -> list[AuditRecord]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(AuditRecord).where(
            AuditRecord.event_type == int(type_)).order_by(AuditRecord.id)))
    finally:
        uow.close()


def outbox_events(app: Any, type_: EventType) -> list[OutboxEvent]:
    uow = app.state.uows()
    try:
        return list(uow.session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == int(type_)).order_by(OutboxEvent.id)))
    finally:
        uow.close()


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return str(body["error"]["code"])
