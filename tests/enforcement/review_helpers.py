"""Helpers of the reports, review-queue, emergency and story tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from qunguan import screening
from qunguan.enforcement.models import Report, ReviewItem, Sanction, Statement
from qunguan.kernel.outbox import process_batch
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import Reason, ScreeningContext, Verdict, VerdictKind
from tests.cast import Person
from tests.conftest import Api, Cast, make_officer


def drain(app: Any) -> None:
    """Run the outbox until it is empty (tests run without the worker thread)."""
    for _ in range(20):
        if not process_batch(app.state.uows):
            return
    raise AssertionError("the outbox did not drain")


def rows(app: Any, model: Any, **where: Any) -> list[Any]:
    uow = app.state.uows()
    try:
        stmt = select(model).where(*(getattr(model, k) == v for k, v in where.items()))
        return list(uow.session.scalars(stmt.order_by(model.id)))
    finally:
        uow.close()


def items(app: Any, **where: Any) -> list[ReviewItem]:
    return rows(app, ReviewItem, **where)


def statements_of(app: Any, account_id: int) -> list[Statement]:
    return rows(app, Statement, account_id=account_id)


def reports_of(app: Any, reporter_id: int) -> list[Report]:
    return rows(app, Report, reporter_id=reporter_id)


def sanctions_of(app: Any, **where: Any) -> list[Sanction]:
    return rows(app, Sanction, **where)


def post(api: Api, person: Person, group_id: int, text: str) -> dict[str, Any]:
    # confirm: some texts are alarms, and the alarm rule's prompt is not under test here.
    r = api.post(f"/api/groups/{group_id}/messages", as_=person,
                 json={"text": text, "confirm": True})
    assert r.status_code == 201, r.text
    return dict(r.json())


def report(api: Api, person: Person, subject_type: str, subject_id: int,
           reason: str = "spam", note: str | None = None, status: int = 201) -> Any:
    r = api.post("/api/reports", as_=person, json={"subject_type": subject_type,
                                                   "subject_id": subject_id,
                                                   "reason": reason, "note": note})
    assert r.status_code == status, r.text
    return r.json()


def claim(api: Api, officer: Person, item_id: int, status: int = 200) -> Any:
    r = api.post(f"/api/officer/review/{item_id}/claim", as_=officer)
    assert r.status_code == status, r.text
    return r.json()


def decide(api: Api, officer: Person, item_id: int, decision: str, reason: str = "经核实违规",
           status: int = 200, **extra: Any) -> Any:
    r = api.post(f"/api/officer/review/{item_id}/decide", as_=officer,
                 json={"decision": decision, "reason": reason, **extra})
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer (BEGIN IMMEDIATE): no race to test")


def run_together(n: int, call: Callable[[Any], Any], args: list[Any]) -> list[Any]:
    """Call ``call`` on every arg from n threads released at once."""
    barrier = threading.Barrier(n)

    def one(arg: Any) -> Any:
        barrier.wait(timeout=30)
        return call(arg)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, args))


def second_officer(app: Any, cast: Cast) -> Person:
    """The outsider, made an officer: a second pair of eyes (four-eyes rule, claims)."""
    make_officer(app, cast.outsider)
    return cast.outsider


@pytest.fixture
def hold_on(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Make the pre-send gate hold every text containing a trigger, whatever the active
    policy pack says (the pack's own rules are the screening tests' business). Returns the
    texts it held."""
    real_gate = screening.gate
    held: list[str] = []
    triggers: list[str] = []

    def gate(uow: UnitOfWork, context: ScreeningContext) -> Verdict:
        if any(t in context.text for t in triggers):
            held.append(context.text)
            return Verdict(VerdictKind.HOLD, (Reason(
                rule="test.hold", detector="test", text_zh="待人工审核",
                text_en="Held for review", data={"severity": 3}),))
        return real_gate(uow, context)

    monkeypatch.setattr(screening, "gate", gate)

    def add(trigger: str) -> list[str]:
        triggers.append(trigger)
        return held

    return add
