"""Two requests racing for one phone number or one identity: the unique indexes have the last
word, and the loser gets the documented error, never a server error."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from qunguan.identity import actions as identity_actions
from qunguan.identity.models import Account
from qunguan.kernel.errors import QunguanError
from tests.cast import Person
from tests.conftest import Api, error_code, register
from tests.identity.conftest import account_row, submit


def test_register_race_answers_phone_taken(api: Api, monkeypatch: pytest.MonkeyPatch,
                                           spare: Person) -> None:
    # The check passed because the other registration had not committed yet.
    monkeypatch.setattr(identity_actions, "check_phone_free", lambda uow, index: None)
    r = api.post("/api/accounts", json={"phone": spare.phone, "password": "other-password",
                                        "display_name": "抢注者"})
    assert r.status_code == 409, r.text
    assert error_code(r) == "phone_taken"


def test_verification_race_answers_identity_in_use(
        api: Api, app: Any, monkeypatch: pytest.MonkeyPatch,
        spares: dict[str, Person]) -> None:
    owner, other = spares["spare"], spares["late"]
    register(api, owner)
    register(api, other)
    assert submit(api, owner).status_code == 201
    monkeypatch.setattr(identity_actions, "_require_usable_identity",
                        lambda uow, account, index: None)
    r = submit(api, other, legal_name=other.legal_name, id_number=owner.id_number)
    assert r.status_code == 409, r.text
    assert error_code(r) == "identity_in_use"
    assert account_row(app, other.id).verification == "unverified"


def _lock_waiters(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(text(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and wait_event_type = 'Lock'")).scalar_one())


def test_concurrent_verifications_of_one_identity(api: Api, app: Any, backend: str,
                                                  spares: dict[str, Person]) -> None:
    """Real concurrency: B checks while A's verification is uncommitted, then waits on the
    unique index (PostgreSQL) or on the write lock (SQLite)."""
    first, second = spares["spare"], spares["late"]
    register(api, first)
    register(api, second)
    uow_a = app.state.uows()
    outcome: list[object] = []

    def verify_second() -> None:
        uow_b = app.state.uows()
        try:
            acting = uow_b.session.get(Account, second.id)
            assert acting is not None
            identity_actions.do_submit_verification(
                uow_b, acting=acting, provider="resident_id",
                submission={"legal_name": second.legal_name, "id_number": first.id_number})
            uow_b.commit()
            outcome.append("verified")
        except QunguanError as exc:
            uow_b.rollback()
            outcome.append(exc.code)
        except Exception as exc:  # the bug this test guards against: a server error
            uow_b.rollback()
            outcome.append(exc)
        finally:
            uow_b.close()

    try:
        acting = uow_a.session.get(Account, first.id)
        assert acting is not None
        identity_actions.do_submit_verification(
            uow_a, acting=acting, provider="resident_id",
            submission={"legal_name": first.legal_name, "id_number": first.id_number})
        worker = threading.Thread(target=verify_second)
        worker.start()
        if backend == "postgresql":
            deadline = time.monotonic() + 10
            while _lock_waiters(app) == 0 and worker.is_alive():
                assert time.monotonic() < deadline, "the second verification never waited"
                time.sleep(0.005)
        uow_a.commit()
    finally:
        uow_a.close()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome == ["identity_in_use"]
    assert account_row(app, first.id).verification == "verified"
    assert account_row(app, second.id).verification == "unverified"
