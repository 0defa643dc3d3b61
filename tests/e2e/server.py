"""A real qunguan server for browser tests and screenshots: uvicorn in a thread on a free
port of 127.0.0.1, over a fresh SQLite database, stopped when the block ends."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from qunguan.app import create_app
from qunguan.config import Settings
from qunguan.enforcement import SubjectType, sanctions
from qunguan.enforcement.models import SanctionKind
from qunguan.groups import Category
from qunguan.groups import actions as group_actions
from qunguan.groups.models import JoinPolicy
from qunguan.identity import actions as identity_actions
from qunguan.identity import queries as identity_queries
from qunguan.identity import vault
from qunguan.identity.models import AccountKind
from qunguan.kernel.uow import UnitOfWork
from qunguan.migrations import upgrade
from qunguan.rumors.starter import load_starter_bank
from tests.cast import Person, make_cast

CHROMIUM = Path("/usr/bin/chromium")
# Machine notes: Playwright's own browser download does not work here; these flags keep
# Debian's Chromium off the (closed) network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 860}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: Any
    cast: dict[str, Person]

    def uow(self) -> UnitOfWork:
        return self.app.state.uows()  # type: ignore[no-any-return]

    def run(self, work: Any) -> Any:
        """Run ``work(uow)`` in one committed transaction of the server's database."""
        uow = self.uow()
        try:
            result = work(uow)
            uow.commit()
            return result
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow.close()

    def account(self, key: str) -> Any:
        person = self.cast[key]
        return self.run(lambda uow: identity_queries.get_account(uow, person.id))


def seed_people(server: LiveServer, keys: tuple[str, ...], *, verified: bool = True) -> None:
    """Register (and verify) cast members through identity's actions."""
    for key in keys:
        person = server.cast[key]

        def work(uow: UnitOfWork, person: Person = person, key: str = key) -> None:
            account = identity_actions.do_register(
                uow, phone=person.phone, password=person.password,
                display_name=person.display_name)
            person.id = account.id
            if verified and person.legal_name and person.id_number:
                identity_actions.do_submit_verification(
                    uow, acting=account, provider="resident_id",
                    submission={"legal_name": person.legal_name,
                                "id_number": person.id_number})
            if key == "officer":
                identity_actions.do_set_kind(uow, acting=identity_queries.system_account(uow),
                                             account_id=account.id, kind=AccountKind.OFFICER)
        server.run(work)


@contextmanager
def live_server(data_dir: Path, template: Path | None = None,
                **overrides: Any) -> Iterator[LiveServer]:
    """``template``: an already migrated SQLite file to copy instead of migrating afresh."""
    path = data_dir / "qunguan.db"
    url = f"sqlite:///{path}"
    if template is not None:
        shutil.copy(template, path)
    else:
        upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir, argon2_time_cost=1,
                        argon2_memory_cost_kib=1024, run_workers=True,
                        outbox_poll_seconds=0.2,
                        network_id_sandbox_secret="e2e-network-id-sandbox", **overrides)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="e2e-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, make_cast())
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_group(server: LiveServer, founder: str, members: tuple[str, ...], *,
               name: str = "第一工作群", rules: str = "实名发言，文明交流。") -> int:
    """A group founded by ``founder`` whose ``members`` joined by invitation; its id."""
    def work(uow: UnitOfWork) -> int:
        owner = identity_queries.get_account(uow, server.cast[founder].id)
        group = group_actions.do_create_group(
            uow, acting=owner, name=name, category=Category.WORK, tier=1,
            join_policy=JoinPolicy.APPROVAL, rules_text=rules, member_cap=None)
        for key in members:
            account = identity_queries.get_account(uow, server.cast[key].id)
            invitation = group_actions.do_invite(uow, acting=owner, group_id=group.id,
                                                 account_id=account.id)
            group_actions.do_accept_invitation(uow, acting=account, invitation_id=invitation.id,
                                               rules_version=group.rules_version)
        return group.id
    return int(server.run(work))


def log_in(page: Any, person: Any) -> None:
    """Log ``person`` in through the login page (Chinese labels) and wait to leave it."""
    page.goto("/login")
    page.get_by_label("手机号").fill(person.phone)
    page.get_by_label("密码").fill(person.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)


def account_id_by_phone(server: LiveServer, phone: str) -> int:
    def work(uow: UnitOfWork) -> int:
        found = identity_queries.account_by_phone_index(uow, vault.phone_index(uow, phone))
        assert found is not None
        return found.id
    return int(server.run(work))


def load_bank(server: LiveServer) -> None:
    """The starter debunk bank, imported by the officer."""
    def work(uow: UnitOfWork) -> None:
        load_starter_bank(uow, acting=identity_queries.get_account(uow, server.cast["officer"].id))
    server.run(work)


def impose_warning(server: LiveServer, officer: str, member: str, reason: str) -> None:
    def work(uow: UnitOfWork) -> None:
        sanctions.do_impose_sanction(
            uow, acting=identity_queries.get_account(uow, server.cast[officer].id),
            subject_type=SubjectType.ACCOUNT, subject_id=server.cast[member].id,
            kind=SanctionKind.WARNING, reason=reason)
    server.run(work)
