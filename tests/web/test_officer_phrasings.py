"""The console's side of phrasings: the debunk page lists, adds and retires them, and the case
page offers the debunks a message may repeat and the decision that labels it and teaches the
bank its wording; in both languages, errors beside their field."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records
from tests.rumors.debunk_helpers import (
    CHILD_PARAPHRASE,
    add,
    cards,
    drain,
    load_starter,
    message,
    post,
    starter_id,
)
from tests.web.conftest import Web, errors_of

SAID = "听说东边那个水库的坝裂开了，晚上要垮，住下面的赶紧搬走"


def test_debunk_page_adds_and_retires_phrasings(web: Web, cast: Cast, api: Api,
                                                app: Any) -> None:
    did = add(api, cast, claim="城东水库大坝出现裂缝，今晚可能决堤，下游居民连夜撤离")["id"]
    web.as_(cast.officer)
    page = web.get(f"/officer/debunks/{did}").text
    assert "其他说法" in page
    assert "暂无其他说法" in page
    for bad, words in (("  ", "4 至 1000"), ("坝裂了，联系13812345678", "4 至 1000")):
        r = web.post(f"/officer/debunks/{did}/phrasings", {"text": bad})
        assert r.status_code == 422
        assert words in errors_of(r.text)["f-text-error"]
    assert "13812345678" in r.text  # what was typed stays in the field, for the officer to fix
    r = web.post(f"/officer/debunks/{did}/phrasings", {"text": SAID})
    assert (r.status_code, r.headers["location"]) \
        == (303, f"/officer/debunks/{did}?phrased=1#phrasings")
    r = web.post(f"/officer/debunks/{did}/phrasings", {"text": SAID + "！"})
    assert r.status_code == 422
    assert "已有此说法" in errors_of(r.text)["f-text-error"]
    page = web.get(f"/officer/debunks/{did}?phrased=1").text
    assert SAID in page
    assert "管理人员录入" in page
    assert "已添加说法" in page
    [record] = audit_records(app, EventType.DEBUNK_PHRASING_ADDED)
    assert record.acting_id == cast.officer.id
    pid = record.extra["phrasing_id"]
    r = web.post(f"/officer/debunks/{did}/phrasings/{pid}/retire", {"reason": " "})
    assert r.status_code == 422
    assert f"f-phrasing-{pid}-reason-error" in errors_of(r.text)
    r = web.post(f"/officer/debunks/{did}/phrasings/{pid}/retire", {"reason": "不再流传"})
    assert r.status_code == 303
    assert audit_records(app, EventType.DEBUNK_PHRASING_RETIRED)[-1].extra["reason"] == "不再流传"
    assert SAID not in web.get(f"/officer/debunks/{did}").text
    r = web.post(f"/officer/debunks/{did}/phrasings/{pid}/retire", {"reason": "再次"})
    assert r.status_code == 422
    assert "已停用" in errors_of(r.text)["form-errors"]
    # The same page in English.
    web.client.cookies.set("qunguan_lang", "en")
    page = web.get(f"/officer/debunks/{did}").text
    assert "Phrasings" in page
    assert "Add the phrasing" in page


def test_case_page_labels_a_suggestion_and_the_bank_learns(web: Web, cast: Cast, api: Api,
                                                           app: Any) -> None:
    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    sent = post(api, cast.member, cast.group["id"], CHILD_PARAPHRASE)
    drain(app)
    web.as_(cast.officer)
    from tests.rumors.test_phrasings import review_items
    [item] = review_items(app)
    page = web.get(f"/officer/review/{item.id}").text
    assert "此消息可能重复的辟谣条目" in page
    assert f'href="/officer/debunks/{debunk_id}"' in page
    web.post(f"/officer/review/{item.id}/claim")
    page = web.get(f"/officer/review/{item.id}").text
    assert "附上辟谣信息（消息保留）" in page
    assert "将此消息的说法学习为该辟谣条目的说法" in page
    # A number that is no debunk: the error is beside the number, nothing is decided.
    r = web.post(f"/officer/review/{item.id}/decide", {
        "decision": "label", "reason": "重复已辟谣的说法", "debunk_id": str(debunk_id),
        "debunk_other": "999999", "learn": "1"})
    assert r.status_code == 422
    assert "f-debunk_other-error" in errors_of(r.text)
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []
    r = web.post(f"/officer/review/{item.id}/decide", {
        "decision": "label", "reason": "重复已辟谣的说法", "debunk_id": str(debunk_id),
        "learn": "1"})
    assert (r.status_code, r.headers["location"]) == (303, f"/officer/review/{item.id}?decided=1")
    drain(app)
    assert [c["debunk_id"] for c in cards(message(api, cast.member2, sent["id"]))] == [debunk_id]
    page = web.get(f"/officer/debunks/{debunk_id}").text
    assert CHILD_PARAPHRASE in page
    assert "审核时学习" in page
    assert f"消息 {sent['id']}" in page or f"Message {sent['id']}" in page
    assert "已附辟谣信息" in web.get(f"/officer/review/{item.id}").text
    web.client.cookies.set("qunguan_lang", "en")
    assert "Labelled with a debunk" in web.get(f"/officer/review/{item.id}").text
