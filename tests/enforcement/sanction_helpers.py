"""Helpers of the sanctions, credit, statements and appeals tests."""

from __future__ import annotations

from typing import Any

from tests.cast import Person, resident_id
from tests.conftest import Api, make_officer, register, verify


def second_officer(api: Api, app: Any, key: str = "officer2") -> Person:
    """Another verified officer, for the four-eyes rule (the cast has one)."""
    n = sum(map(ord, key)) % 90 + 10
    person = Person(key, f"139222200{n:02d}", f"值班员{key[-1]}", "皇甫清和",
                    resident_id("110105", "19810101", f"{n:03d}"))
    register(api, person)
    verify(api, person)
    make_officer(app, person)
    return person


def impose(api: Api, officer: Person, subject: Person | int, kind: str, *,
           subject_type: str = "account", expect: int = 201, **body: Any) -> Any:
    subject_id = subject if isinstance(subject, int) else subject.id
    r = api.post("/api/officer/sanctions", as_=officer,
                 json={"subject_type": subject_type, "subject_id": subject_id, "kind": kind,
                       "reason": body.pop("reason", "多次在群内发布广告"), **body})
    assert r.status_code == expect, r.text
    return r.json()


def statement_of(api: Api, person: Person, sanction_id: int) -> dict[str, Any]:
    r = api.get("/api/me/statements", as_=person)
    assert r.status_code == 200, r.text
    found = [s for s in r.json() if s["sanction_id"] == sanction_id]
    assert len(found) == 1, r.json()
    return dict(found[0])


def credit_score(api: Api, person: Person) -> int:
    r = api.get("/api/me/credit", as_=person)
    assert r.status_code == 200, r.text
    return int(r.json()["score"])
