"""Helpers of the debunk bank, label and correction tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from qunguan.kernel.outbox import process_batch
from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.models import CorrectionNotice
from qunguan.rumors.starter import STARTER_BANK
from tests.cast import Person
from tests.conftest import Api, Cast

# Copies of starter-bank claims as they would be reposted (boilerplate, punctuation).
CHILD_ALARM = ("【转】紧急扩散：有人贩子开着面包车在学校附近抢孩子，已经有好几个孩子被抓走了，"
               "家长们看好自家孩子，看到请转发！！")
VINEGAR = "喝醋、在家里熏醋可以杀灭病毒，预防流感和新冠肺炎，大家赶紧熏起来!!!"
# A paraphrase: close to a claim, below the auto-label threshold.
CHILD_PARAPHRASE = "家长们注意：最近有人贩子在学校附近抢孩子，已经有孩子被抓走"


def entry(**over: Any) -> dict[str, Any]:
    body = {"claim": "吃大蒜能治愈新冠肺炎，每天生吃三瓣就不会被感染", "verdict": "false",
            "refutation": "大蒜有一定抑菌作用，但没有证据表明吃大蒜能预防或治疗新冠病毒感染。",
            "publisher": "中国互联网联合辟谣平台", "source_url": "https://www.piyao.org.cn/",
            "published_on": "2020-02-01", "language": "zh"}
    body.update(over)
    return body


def add(api: Api, cast: Cast, **over: Any) -> dict[str, Any]:
    r = api.post("/api/officer/debunks", as_=cast.officer, json=entry(**over))
    assert r.status_code == 201, r.text
    return dict(r.json())


def load_starter(api: Api, cast: Cast) -> dict[str, Any]:
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": STARTER_BANK.read_text(encoding="utf-8"),
                       "source": "starter_bank.jsonl"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def starter_id(api: Api, cast: Cast, needle: str) -> int:
    r = api.get("/api/officer/debunks", as_=cast.officer, params={"q": needle})
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    return int(item["id"])


def post(api: Api, person: Person, group_id: int, text: str, status: int = 201,
         **extra: Any) -> Any:
    # confirm: the rumour texts are alarms too, and the alarm rule's prompt is not under test.
    r = api.post(f"/api/groups/{group_id}/messages", as_=person,
                 json={"text": text, "confirm": True, **extra})
    assert r.status_code == status, r.text
    return r.json()


def message(api: Api, person: Person, message_id: int) -> dict[str, Any]:
    r = api.get(f"/api/messages/{message_id}", as_=person)
    assert r.status_code == 200, r.text
    return dict(r.json())


def cards(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for label in view.get("labels") or [] for c in (label.get("data") or {})
            .get("cards", [])]


def drain(app: Any) -> None:
    """Run the outbox until it is empty (tests run without the worker thread)."""
    for _ in range(50):
        if not process_batch(app.state.uows):
            return
    raise AssertionError("the outbox did not drain")


@contextmanager
def uow_of(app: Any) -> Iterator[UnitOfWork]:
    uow = app.state.uows()
    try:
        yield uow
    finally:
        uow.close()


def notices(app: Any, debunk_id: int) -> list[int]:
    with uow_of(app) as uow:
        return sorted(uow.session.scalars(select(CorrectionNotice.account_id).where(
            CorrectionNotice.debunk_id == debunk_id)))
