"""Province-level IP location on profiles (ID-6), from the offline table and a trusted proxy
header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qunguan.config import Settings
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, audit_records, error_code, join_by_invitation, register
from tests.identity.conftest import account_row, submit

XFF = "X-Forwarded-For"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    table = tmp_path / "ip.csv"
    table.write_text("# network,province\n1.2.3.0/24,广东\n1.2.0.0/16,福建\n", encoding="utf-8")
    return Settings(database_url=database_url, data_dir=tmp_path, argon2_time_cost=1,
                    argon2_memory_cost_kib=1024, run_workers=False,
                    trusted_proxy_header=XFF, ip_location_file=table)


def _register_from(api: Api, person: Person, ip: str) -> Any:
    return api.post("/api/accounts", headers={XFF: ip}, json={
        "phone": person.phone, "password": person.password,
        "display_name": person.display_name})


def test_registration_places_the_account(api: Api, app: Any,
                                         spares: dict[str, Person]) -> None:
    cases = [("spare", "1.2.3.4", "广东"), ("xcheck", "1.2.200.1", "福建"),
             ("late", "10.0.0.7", "内网"), ("nanshan", "8.8.8.8", None)]
    for key, ip, place in cases:
        r = _register_from(api, spares[key], ip)
        assert r.status_code == 201, r.text
        assert r.json()["ip_province"] == place, key
        assert account_row(app, r.json()["id"]).ip_province == place


def _shared_group(api: Api, founder: Person, member: Person) -> int:
    """A group founded by ``founder`` (verified here) with ``member`` in it."""
    assert submit(api, founder).status_code == 201
    r = api.post("/api/groups", as_=founder, json={"name": "同乡群", "category": "social"})
    assert r.status_code == 201, r.text
    group = r.json()
    join_by_invitation(api, group, founder, member)
    return int(group["id"])


def test_login_updates_the_place_and_others_see_it(api: Api, app: Any,
                                                   spares: dict[str, Person]) -> None:
    person, viewer = spares["spare"], spares["late"]
    r = _register_from(api, person, "1.2.3.4")
    assert r.status_code == 201, r.text
    person.id = r.json()["id"]
    register(api, viewer)
    r = api.post("/api/sessions", headers={XFF: "1.2.9.9"},
                 json={"phone": person.phone, "password": person.password})
    assert r.status_code == 201, r.text
    assert r.json()["account"]["ip_province"] == "福建"
    # A login from an unknown place keeps the last known province.
    r = api.post("/api/sessions", headers={XFF: "8.8.8.8"},
                 json={"phone": person.phone, "password": person.password})
    assert r.json()["account"]["ip_province"] == "福建"
    person.token = r.json()["token"]
    # Others see it where they meet the account: the member list of a shared group.
    viewer_group = _shared_group(api, viewer, person)
    r = api.get(f"/api/groups/{viewer_group}/members", as_=viewer)
    assert r.status_code == 200
    [row] = [m for m in r.json() if m["account_id"] == person.id]
    assert row["ip_province"] == "福建"

    app.state.settings.show_ip_province = False
    r = api.get(f"/api/groups/{viewer_group}/members", as_=viewer)
    [row] = [m for m in r.json() if m["account_id"] == person.id]
    assert row["ip_province"] is None


def test_failed_login_records_the_forwarded_address(api: Api, app: Any,
                                                    spares: dict[str, Person]) -> None:
    r = api.post("/api/sessions", headers={XFF: "1.2.3.4"},
                 json={"phone": spares["spare"].phone, "password": "wrong-password"})
    assert error_code(r) == "invalid_credentials"
    [audit] = audit_records(app, EventType.LOGIN_FAILED)
    assert audit.source_ip == "1.2.3.4"


def test_wrong_passwords_from_elsewhere_do_not_lock_the_member_out(
        api: Api, spares: dict[str, Person], settings: Settings) -> None:
    person = spares["spare"]
    register(api, person)
    for _ in range(settings.login_max_failures):
        r = api.post("/api/sessions", headers={XFF: "1.2.3.4"},
                     json={"phone": person.phone, "password": "wrong-password"})
        assert r.status_code == 401
    r = api.post("/api/sessions", headers={XFF: "1.2.3.4"},
                 json={"phone": person.phone, "password": person.password})
    assert r.status_code == 429
    assert error_code(r) == "too_many_attempts"
    r = api.post("/api/sessions", headers={XFF: "5.6.7.8"},
                 json={"phone": person.phone, "password": person.password})
    assert r.status_code == 201, r.text


def test_distributed_guessing_hits_the_per_phone_budget(
        api: Api, spares: dict[str, Person], settings: Settings) -> None:
    person = spares["spare"]
    register(api, person)
    settings.login_max_failures_per_phone = 6
    for i in range(6):
        r = api.post("/api/sessions", headers={XFF: f"9.9.9.{i}"},
                     json={"phone": person.phone, "password": "wrong-password"})
        assert r.status_code == 401
    r = api.post("/api/sessions", headers={XFF: "9.9.8.1"},
                 json={"phone": person.phone, "password": person.password})
    assert r.status_code == 429
