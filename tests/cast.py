"""The fixed cast every test uses: an officer, a group founder and admin, members, an
unverified newcomer and a verified outsider. The identities are invented (valid check digits),
with unusual legal names so the PII scan cannot hit them by accident."""

from __future__ import annotations

from dataclasses import dataclass, field

from stdnum.cn import ric


def resident_id(region: str, birth: str, seq: str) -> str:
    body = f"{region}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Person:
    key: str
    phone: str
    display_name: str
    legal_name: str | None
    id_number: str | None
    password: str = "cast-password-1"
    id: int = 0
    token: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_cast() -> dict[str, Person]:
    people = [
        Person("officer", "13911110001", "值班员甲", "欧阳明远",
               resident_id("110105", "19800101", "011")),
        Person("founder", "13911110002", "群主乙", "司马静宜",
               resident_id("110108", "19850202", "022")),
        Person("admin", "13911110003", "管家丙", "诸葛晓岚",
               resident_id("310104", "19900303", "033")),
        Person("member", "13911110004", "成员丁", "上官云舒",
               resident_id("350102", "19920404", "044")),
        Person("member2", "13911110005", "成员戊", "慕容海川",
               resident_id("110101", "19930505", "055")),
        Person("outsider", "13911110006", "路人己", "东方若曦",
               resident_id("110105", "19940606", "066")),
        Person("newcomer", "13911110007", "新人庚", None, None),
    ]
    return {p.key: p for p in people}


ROLES_IN_GROUP = ("founder", "admin", "member", "member2", "newcomer")


def pii_needles() -> list[str]:
    """Everything that must never leave the vault's audited paths."""
    needles: list[str] = []
    for p in make_cast().values():
        needles.append(p.phone)
        if p.legal_name:
            needles.append(p.legal_name)
        if p.id_number:
            needles.append(p.id_number)
    return needles
