"""The `qunguan` command, run in-process on a temporary SQLite database and data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qunguan.cli.main import app as cli
from qunguan.groups.models import Group, Membership
from qunguan.identity.models import Account, AccountKind, VaultRecord
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from qunguan.messaging.models import Message
from qunguan.migrations import head_revision


class Qunguan:
    """Runs the CLI with the environment pointing at one temporary installation."""

    def __init__(self, root: Path) -> None:
        self.db = root / "var" / "qunguan.db"
        self.url = f"sqlite:///{self.db}"
        self.env = {
            "QUNGUAN_DATABASE_URL": self.url,
            "QUNGUAN_DATA_DIR": str(root / "var"),
            "QUNGUAN_ARGON2_MEMORY_COST_KIB": "1024",
            "QUNGUAN_ARGON2_TIME_COST": "1",
        }
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(cli, list(args), env=self.env)
        output = " ".join(result.output.split())  # rich wraps long lines
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == code, f"qunguan {' '.join(args)}: {result.exit_code} {output}"
        return output

    def session(self) -> Session:
        engine = make_engine(self.url)
        return Session(engine)

    def scalar(self, stmt: Any) -> Any:
        with self.session() as s:
            return s.scalar(stmt)


@pytest.fixture
def qunguan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Qunguan:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return Qunguan(tmp_path)


@pytest.fixture
def seeded(qunguan: Qunguan) -> Qunguan:
    qunguan("migrate")
    assert "demo institution seeded" in qunguan("seed-demo")
    return qunguan


def test_help_lists_the_commands(qunguan: Qunguan) -> None:
    out = qunguan("--help")
    for command in ("migrate", "run", "seed-demo", "keys", "accounts"):
        assert command in out


def test_migrate_creates_and_is_repeatable(qunguan: Qunguan) -> None:
    assert not qunguan.db.exists()
    out = qunguan("migrate")
    assert f"schema at {head_revision()} (was empty)" in out
    assert qunguan.db.exists()
    out = qunguan("migrate")
    assert f"schema at {head_revision()} (was {head_revision()})" in out


def test_seed_demo_is_idempotent(seeded: Qunguan) -> None:
    accounts = seeded.scalar(select(func.count(Account.id)))
    messages = seeded.scalar(select(func.count(Message.id)))
    assert "demo institution already present" in seeded("seed-demo")
    assert seeded.scalar(select(func.count(Account.id))) == accounts
    assert seeded.scalar(select(func.count(Message.id))) == messages
    assert seeded.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.event_type == int(EventType.DEMO_SEEDED))) == 1


def test_demo_content(seeded: Qunguan) -> None:
    with seeded.session() as s:
        people = list(s.scalars(select(Account).where(Account.kind != AccountKind.SYSTEM)))
        assert len(people) == 8
        unverified = [a.display_name for a in people if not a.is_verified]
        assert unverified == ["新同事"]
        officers = [a.display_name for a in people if a.kind == AccountKind.OFFICER]
        assert officers == ["值班员老周"]
        by_id = {a.id: a for a in people}

        groups = {g.category: g for g in s.scalars(select(Group))}
        assert set(groups) == {"party_branch", "village_committee", "work"}
        sizes = {g.category: g.member_count for g in groups.values()}
        assert sizes == {"party_branch": 5, "village_committee": 4, "work": 4}
        for group in groups.values():  # the count matches the rows
            assert s.scalar(select(func.count(Membership.id)).where(
                Membership.group_id == group.id)) == group.member_count
        admins = [by_id[m.account_id].display_name for m in s.scalars(select(Membership).where(
            Membership.group_id == groups["party_branch"].id, Membership.role == "admin"))]
        assert admins == ["小林"]
        newcomer = next(a for a in people if a.display_name == "新同事")
        assert s.scalar(select(func.count(Membership.id)).where(
            Membership.account_id == newcomer.id)) == 2  # reads the branch and the work group

        messages = list(s.scalars(select(Message).order_by(Message.id)))
        originals = [m for m in messages if m.parent_id is None]
        assert len(originals) == 7
        for category in groups:  # every group has history
            assert any(m.group_id == groups[category].id for m in originals)
        assert newcomer.id not in {m.sender_id for m in messages}  # unverified: never posted
        [forward] = [m for m in messages if m.parent_id is not None]
        assert forward.hop == 1
        assert forward.group_id == groups["work"].id
        source = next(m for m in messages if m.id == forward.parent_id)
        assert source.group_id == groups["village_committee"].id
        assert forward.origin_id == source.id
        assert forward.text == source.text
        assert forward.fingerprint == source.fingerprint


def test_keys_rotate_rewraps_every_record(seeded: Qunguan) -> None:
    records = seeded.scalar(select(func.count(VaultRecord.id)))
    assert records >= 15  # 8 phone numbers, 7 identities
    out = seeded("keys", "rotate")
    assert f"{records} vault records re-wrapped" in out
    key_id = out.split("master key ")[1].split()[0]
    with seeded.session() as s:
        assert set(s.scalars(select(VaultRecord.key_id))) == {key_id}
    # The records re-wrapped under the new key unwrap again: a second rotation reads them all.
    out = seeded("keys", "rotate")
    assert f"{records} vault records re-wrapped" in out
    assert out.split("master key ")[1].split()[0] != key_id
    assert seeded.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.event_type == int(EventType.VAULT_KEYS_ROTATED))) == 2
    # The blind index does not depend on the master key: the demo is still recognised.
    assert "demo institution already present" in seeded("seed-demo")


def test_grant_and_revoke_officer(seeded: Qunguan) -> None:
    def kind() -> str:
        return str(seeded.scalar(select(Account.kind).where(Account.display_name == "小陈")))

    assert kind() == "member"
    assert "is now officer" in seeded("accounts", "grant-officer", "13800000005")
    assert kind() == "officer"
    assert "is now member" in seeded("accounts", "grant-officer", "13800000005", "--revoke")
    assert kind() == "member"
    assert seeded.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.event_type == int(EventType.ACCOUNT_KIND_CHANGED))) >= 3  # demo officer too


def test_grant_officer_accepts_a_formatted_number(seeded: Qunguan) -> None:
    assert "is now officer" in seeded("accounts", "grant-officer", "+86 138-0000-0006")


@pytest.mark.parametrize(("phone", "message"), [
    ("13800009999", "no account has that phone number"),
    ("12345", "mobile"),
    ("not-a-phone", "mobile"),
])
def test_grant_officer_refuses_bad_input(seeded: Qunguan, phone: str, message: str) -> None:
    out = seeded("accounts", "grant-officer", phone, code=1)
    assert message in out.lower()
    assert seeded.scalar(select(func.count(Account.id)).where(
        Account.kind == AccountKind.OFFICER)) == 1


@pytest.mark.parametrize("args", [("seed-demo",), ("keys", "rotate"),
                                  ("accounts", "grant-officer", "13800000005"), ("run",)])
def test_unmigrated_database_exits_2_with_the_migrate_hint(qunguan: Qunguan,
                                                           args: tuple[str, ...]) -> None:
    out = qunguan(*args, code=2)
    assert "qunguan migrate" in out


def test_newer_schema_exits_2(seeded: Qunguan) -> None:
    with seeded.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
        s.commit()
    for args in (("seed-demo",), ("run",)):
        assert "newer" in seeded(*args, code=2)


def test_migrate_refuses_a_newer_schema(seeded: Qunguan) -> None:
    with seeded.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
        s.commit()
    assert "newer" in seeded("migrate", code=2)
    assert seeded.scalar(text("SELECT version_num FROM alembic_version")) == "ffff9999"


@pytest.mark.parametrize("args", [("migrate",), ("seed-demo",), ("run",), ("keys", "rotate")])
def test_unreachable_database_exits_2_without_the_password(qunguan: Qunguan,
                                                           args: tuple[str, ...]) -> None:
    qunguan.env["QUNGUAN_DATABASE_URL"] = "postgresql+psycopg://ops:s3cret-pw@127.0.0.1:1/x"
    out = qunguan(*args, code=2)
    assert "Cannot reach the database at postgresql+psycopg://ops:***@127.0.0.1:1/x" in out
    assert "s3cret-pw" not in out


def test_messages_are_printed_as_text_not_markup(seeded: Qunguan) -> None:
    """Text from outside (here a revision id) is shown as it is: rich would eat "[bold]"."""
    with seeded.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '[bold]ff'"))
        s.commit()
    assert "revision [bold]ff" in seeded("seed-demo", code=2)
