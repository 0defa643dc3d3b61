"""Helpers of the groups tests: settings per test, extra people, reading rows back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from qunguan.config import Settings
from qunguan.groups.models import Group, Invitation, JoinRequest, Membership
from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord, OutboxEvent
from qunguan.kernel.uow import UnitOfWork
from tests.cast import Person
from tests.conftest import Api, audit_records, outbox_events, register

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "settings(**changes): build this test's app with these Settings changed")


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings, changed by a ``@pytest.mark.settings(...)`` on the test."""
    marker = request.node.get_closest_marker("settings")
    if marker is None:
        return settings
    return settings.model_copy(update=marker.kwargs)


# --- reading rows back ----------------------------------------------------------------------


def read(app: Any, fn: Callable[[UnitOfWork], T]) -> T:
    uow = app.state.uows()
    try:
        return fn(uow)
    finally:
        uow.close()


def group_row(app: Any, group_id: int) -> Group:
    def get(uow: UnitOfWork) -> Group:
        group = uow.session.get(Group, group_id)
        assert group is not None
        return group
    return read(app, get)


def membership_row(app: Any, group_id: int, account_id: int) -> Membership | None:
    return read(app, lambda uow: uow.session.scalar(select(Membership).where(
        Membership.group_id == group_id, Membership.account_id == account_id)))


def membership_count(app: Any, group_id: int) -> int:
    return read(app, lambda uow: int(uow.session.scalar(
        select(func.count(Membership.id)).where(Membership.group_id == group_id)) or 0))


def join_request_rows(app: Any, group_id: int) -> list[JoinRequest]:
    return read(app, lambda uow: list(uow.session.scalars(select(JoinRequest).where(
        JoinRequest.group_id == group_id).order_by(JoinRequest.id))))


def invitation_row(app: Any, invitation_id: int) -> Invitation:
    def get(uow: UnitOfWork) -> Invitation:
        row = uow.session.get(Invitation, invitation_id)
        assert row is not None
        return row
    return read(app, get)


def only_audit(app: Any, type_: EventType) -> AuditRecord:
    rows = audit_records(app, type_)
    assert len(rows) == 1, [(r.acting_id, r.extra) for r in rows]
    return rows[0]


def last_audit(app: Any, type_: EventType, *, count: int | None = None) -> AuditRecord:
    rows = audit_records(app, type_)
    assert rows, f"no {type_.name} audit record"
    if count is not None:
        assert len(rows) == count, [(r.acting_id, r.extra) for r in rows]
    return rows[-1]


def last_event(app: Any, type_: EventType, *, count: int | None = None) -> OutboxEvent:
    rows = outbox_events(app, type_)
    assert rows, f"no {type_.name} outbox event"
    if count is not None:
        assert len(rows) == count, [r.payload for r in rows]
    return rows[-1]


def counts(app: Any, *types: EventType) -> dict[EventType, tuple[int, int]]:
    """(audit records, outbox events) of each type: compare before and after a refusal."""
    return {t: (len(audit_records(app, t)), len(outbox_events(app, t))) for t in types}


# --- API shortcuts --------------------------------------------------------------------------


def create_group(api: Api, founder: Person, **changes: Any) -> dict[str, Any]:
    body = {"name": "读书会", "category": "social", "rules_text": "友善交流"} | changes
    r = api.post("/api/groups", as_=founder, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def request_join(api: Api, group: dict[str, Any], person: Person,
                 rules_version: int | None = None) -> Any:
    version = group["rules_version"] if rules_version is None else rules_version
    return api.post(f"/api/groups/by-code/{group['code']}/join-requests", as_=person,
                    json={"rules_version": version, "note": "想加入"})


def invite(api: Api, group: dict[str, Any], by: Person, person: Person) -> dict[str, Any]:
    r = api.post(f"/api/groups/{group['id']}/invitations", as_=by,
                 json={"account_id": person.id})
    assert r.status_code == 201, r.text
    return dict(r.json())


def accept(api: Api, invitation: dict[str, Any], person: Person, rules_version: int) -> Any:
    return api.post(f"/api/me/invitations/{invitation['id']}/accept", as_=person,
                    json={"rules_version": rules_version})


def extra_people(api: Api, n: int, tag: str = "x") -> list[Person]:
    """Registered, logged-in, unverified accounts outside the cast (not PII needles)."""
    people = []
    for i in range(n):
        person = Person(f"{tag}{i}", f"1370000{i:04d}", f"访客{tag}{i}", None, None)
        register(api, person)
        people.append(person)
    return people


def member_ids(api: Api, group_id: int, viewer: Person) -> set[int]:
    r = api.get(f"/api/groups/{group_id}/members", as_=viewer)
    assert r.status_code == 200, r.text
    return {m["account_id"] for m in r.json()}
