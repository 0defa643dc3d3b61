"""Phrasings: other forms of a debunked claim, typed by officers, imported, or learned when a
reviewer confirms that a message repeats the claim (decision ``label``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from qunguan.enforcement.models import ReviewItem
from qunguan.kernel.events import EventType
from qunguan.rumors.actions import MAX_PHRASINGS
from qunguan.rumors.models import CorrectionNotice
from tests.conftest import Api, Cast, audit_records, error_code
from tests.rumors.debunk_helpers import (
    CHILD_PARAPHRASE,
    add,
    cards,
    drain,
    entry,
    load_starter,
    message,
    post,
    starter_id,
    uow_of,
)

# The claim names the place one way; the rumour goes round with other words.
CLAIM = "城东水库大坝出现裂缝，今晚可能决堤，下游居民连夜撤离"
SAID = "听说东边那个水库的坝裂开了，晚上要垮，住下面的赶紧搬走"


def phrase(api: Api, cast: Cast, debunk_id: int, text: str, status: int = 201,
           **extra: Any) -> Any:
    r = api.post(f"/api/officer/debunks/{debunk_id}/phrasings", as_=cast.officer,
                 json={"text": text, **extra})
    assert r.status_code == status, r.text
    return r.json()


def review_items(app: Any) -> list[ReviewItem]:
    with uow_of(app) as uow:
        return list(uow.session.scalars(select(ReviewItem).order_by(ReviewItem.id)))


def decide(api: Api, cast: Cast, item_id: int, status: int = 200, **body: Any) -> Any:
    r = api.post(f"/api/officer/review/{item_id}/claim", as_=cast.officer)
    assert r.status_code == 200, r.text
    r = api.post(f"/api/officer/review/{item_id}/decide", as_=cast.officer,
                 json={"reason": "重复已辟谣的说法", **body})
    assert r.status_code == status, r.text
    return r.json()


def test_an_officer_adds_a_phrasing_and_the_paraphrase_gets_the_card(api: Api, cast: Cast,
                                                                    app: Any) -> None:
    gid = cast.group["id"]
    created = add(api, cast, claim=CLAIM)
    assert created["phrasings"] == []
    assert cards(post(api, cast.member, gid, SAID)) == []
    after = phrase(api, cast, created["id"], SAID, expected_version=created["version"])
    assert after["version"] == created["version"] + 1
    [p] = after["phrasings"]
    assert (p["text"], p["source"], p["message_id"]) == (SAID, "officer", None)
    # The next copy of the paraphrase, reposted with boilerplate, gets the card at once.
    sent = post(api, cast.member2, gid, "【转】" + SAID + "！！")
    assert [c["debunk_id"] for c in cards(sent)] == [created["id"]]
    [record] = audit_records(app, EventType.DEBUNK_PHRASING_ADDED)
    assert record.extra["text"] == SAID
    assert record.extra["phrasing_id"] == p["id"]
    # The list and the single read show it too.
    r = api.get(f"/api/officer/debunks/{created['id']}", as_=cast.officer)
    assert [x["id"] for x in r.json()["phrasings"]] == [p["id"]]
    r = api.get("/api/officer/debunks", as_=cast.officer)
    assert [x["phrasings"] for x in r.json()["items"] if x["id"] == created["id"]] \
        == [after["phrasings"]]


def test_a_phrasing_labels_earlier_messages_and_tells_who_saw_them(api: Api, cast: Cast,
                                                                   app: Any) -> None:
    gid = cast.group["id"]
    created = add(api, cast, claim=CLAIM)
    early = post(api, cast.member, gid, SAID)
    drain(app)
    assert cards(message(api, cast.member2, early["id"])) == []
    phrase(api, cast, created["id"], SAID)
    drain(app)
    assert [c["debunk_id"] for c in cards(message(api, cast.member2, early["id"]))] \
        == [created["id"]]
    with uow_of(app) as uow:
        told = set(uow.session.scalars(select(CorrectionNotice.account_id).where(
            CorrectionNotice.debunk_id == created["id"])))
    assert {cast.member.id, cast.member2.id} <= told


def test_retiring_a_phrasing_stops_it_matching(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    created = add(api, cast, claim=CLAIM)
    [p] = phrase(api, cast, created["id"], SAID)["phrasings"]
    r = api.post(f"/api/officer/debunks/{created['id']}/phrasings/{p['id']}/retire",
                 as_=cast.officer, json={"reason": "说法已不再流传"})
    assert r.status_code == 200, r.text
    assert r.json()["phrasings"] == []
    assert r.json()["version"] == created["version"] + 2
    assert cards(post(api, cast.member, gid, SAID)) == []
    r = api.post(f"/api/officer/debunks/{created['id']}/phrasings/{p['id']}/retire",
                 as_=cast.officer, json={"reason": "again"})
    assert r.status_code == 409
    assert error_code(r) == "phrasing_retired"
    [record] = audit_records(app, EventType.DEBUNK_PHRASING_RETIRED)
    assert record.extra["reason"] == "说法已不再流传"
    # The same text may be added again once retired.
    phrase(api, cast, created["id"], SAID)


def test_phrasing_bad_input(api: Api, cast: Cast, app: Any) -> None:
    created = add(api, cast, claim=CLAIM)
    did = created["id"]
    for text, problem in (("", "required"), ("  ", "required"), ("啊！", "at least"),
                          ("坝裂了，联系13812345678", "personal data"),
                          ("x" * 1001, None)):
        r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.officer,
                     json={"text": text})
        assert r.status_code == 422, (text, r.text)
        if problem:
            assert problem in r.text
    r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.officer,
                 json={"text": "【转】" + CLAIM})  # the claim itself, once normalised
    assert r.status_code == 409
    assert error_code(r) == "phrasing_duplicate"
    phrase(api, cast, did, SAID)
    r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.officer,
                 json={"text": SAID + "!!"})
    assert r.status_code == 409
    assert error_code(r) == "phrasing_duplicate"
    r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.officer,
                 json={"text": "另一种说法：水库坝体开裂", "expected_version": 1})
    assert r.status_code == 409
    assert error_code(r) == "conflict"
    r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.member,
                 json={"text": "另一种说法：水库坝体开裂"})
    assert r.status_code == 403
    r = api.post("/api/officer/debunks/999999/phrasings", as_=cast.officer,
                 json={"text": "另一种说法：水库坝体开裂"})
    assert r.status_code == 404
    r = api.post(f"/api/officer/debunks/{did}/phrasings/999999/retire", as_=cast.officer,
                 json={"reason": "x"})
    assert r.status_code == 404
    assert len(audit_records(app, EventType.DEBUNK_PHRASING_ADDED)) == 1


def test_an_entry_keeps_at_most_its_limit_of_phrasings(api: Api, cast: Cast) -> None:
    did = add(api, cast, claim=CLAIM)["id"]
    for i in range(MAX_PHRASINGS):
        phrase(api, cast, did, f"第{i}种说法：水库大坝裂了")
    r = api.post(f"/api/officer/debunks/{did}/phrasings", as_=cast.officer,
                 json={"text": "再一种说法：水库大坝裂了"})
    assert r.status_code == 409
    assert error_code(r) == "phrasings_full"


def test_import_takes_phrasings_in_both_formats(api: Api, cast: Cast, app: Any) -> None:
    rows = [entry(claim=CLAIM, phrasings=[SAID, "  ", SAID + "。", "水库大坝今晚决堤"]),
            entry(claim="喝板蓝根能预防新冠病毒感染")]
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": "\n".join(json.dumps(x) for x in rows)})
    assert r.status_code == 200, r.text
    first = r.json()["ids"][0]
    got = api.get(f"/api/officer/debunks/{first}", as_=cast.officer).json()
    assert [(p["text"], p["source"]) for p in got["phrasings"]] \
        == [(SAID, "import"), ("水库大坝今晚决堤", "import")]
    csv_text = ("claim,verdict,refutation,publisher,phrasings\n"
                '吃生大蒜能治好新冠,false,没有证据,辟谣平台,"生吃大蒜可以治新冠\n大蒜治好了新冠肺炎"\n')
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "csv", "content": csv_text})
    assert r.status_code == 200, r.text
    got = api.get(f"/api/officer/debunks/{r.json()['ids'][0]}", as_=cast.officer).json()
    assert [p["text"] for p in got["phrasings"]] == ["生吃大蒜可以治新冠", "大蒜治好了新冠肺炎"]
    # A bad phrasing names its line, and nothing is imported.
    bad = [entry(claim="喝盐水能杀死病毒"),
           entry(claim="戴两层口罩会缺氧", phrasings=["13812345678的说法"])]
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": "\n".join(json.dumps(x) for x in bad)})
    assert r.status_code == 422, r.text
    [err] = r.json()["error"]["details"]["errors"]
    assert err["line"] == 2
    assert "personal data" in err["message"]
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": json.dumps(entry(claim="喝盐水能杀死病毒",
                                                                      phrasings=7))})
    assert r.status_code == 422
    assert "phrasings must be a list" in r.text


def test_a_reviewer_confirms_a_suggestion_and_the_bank_learns_it(api: Api, cast: Cast,
                                                                 app: Any) -> None:
    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    gid = cast.group["id"]
    sent = post(api, cast.member, gid, CHILD_PARAPHRASE)
    assert cards(sent) == []
    drain(app)
    [item] = review_items(app)
    decided = decide(api, cast, item.id, decision="label")
    assert decided["status"] == "decided"
    assert decided["decision"] == "label"
    drain(app)
    # The message stays up, now with the card; everyone in the group is told (CR-8).
    view = message(api, cast.member2, sent["id"])
    assert view["status"] == "delivered"
    assert [c["debunk_id"] for c in cards(view)] == [debunk_id]
    with uow_of(app) as uow:
        told = set(uow.session.scalars(select(CorrectionNotice.account_id).where(
            CorrectionNotice.debunk_id == debunk_id)))
    assert {cast.member.id, cast.member2.id} <= told
    # The bank learned the paraphrase: its next copy is labelled when it is sent.
    got = api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()
    [p] = got["phrasings"]
    assert (p["text"], p["source"], p["message_id"]) == (CHILD_PARAPHRASE, "review", sent["id"])
    again = post(api, cast.member2, gid, CHILD_PARAPHRASE + "!!")
    assert [c["debunk_id"] for c in cards(again)] == [debunk_id]
    [record] = audit_records(app, EventType.REVIEW_ITEM_DECIDED)
    assert record.extra["label"]["phrasing_id"] == p["id"]
    assert record.extra["label"]["debunk_id"] == debunk_id


def test_label_decision_bad_input_and_what_is_not_learned(api: Api, cast: Cast,
                                                          app: Any) -> None:
    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    gid = cast.group["id"]
    # A debunk with dismiss is refused rather than ignored.
    sent = post(api, cast.member, gid, CHILD_PARAPHRASE)
    drain(app)
    [item] = review_items(app)
    r = decide(api, cast, item.id, 422, decision="dismiss", debunk_id=debunk_id)
    assert r["error"]["details"]["problem"] == "debunk_not_expected"
    r = decide(api, cast, item.id, 404, decision="label", debunk_id=999999)
    # A text with personal data is labelled but never copied into the bank.
    with_phone = post(api, cast.member2, gid, CHILD_PARAPHRASE + "，知情者请打13812345678")
    drain(app)
    item2 = next(i for i in review_items(app) if i.subject_id == with_phone["id"])
    decide(api, cast, item2.id, decision="label", debunk_id=debunk_id)
    assert [c["debunk_id"] for c in cards(message(api, cast.member, with_phone["id"]))] \
        == [debunk_id]
    got = api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()
    assert got["phrasings"] == []
    record = audit_records(app, EventType.REVIEW_ITEM_DECIDED)[-1]
    assert record.extra["label"]["phrasing_id"] is None
    assert "personal data" in record.extra["label"]["not_learned"]
    assert "13812345678" not in json.dumps(record.extra)
    # learn=false labels without learning.
    decide(api, cast, item.id, decision="label", learn=False)
    assert api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()[
        "phrasings"] == []
    assert [c["debunk_id"] for c in cards(message(api, cast.member2, sent["id"]))] \
        == [debunk_id]


def test_label_does_not_deliver_a_message_held_for_personal_data(api: Api, cast: Cast,
                                                                  app: Any) -> None:
    """Labelling delivers a held message, so it is refused while the message is also held for
    a rule outside rumours (here a resident ID number): the reviewer removes it, or dismisses
    the item to deliver it knowingly. The message stays held and nothing is learned."""
    from tests.cast import resident_id

    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    gid = cast.group["id"]
    number = resident_id("440305", "19870615", "271")
    held = post(api, cast.member, gid, f"{CHILD_PARAPHRASE}，嫌疑人身份证{number}")
    assert held["status"] == "held"
    drain(app)
    item = next(i for i in review_items(app) if i.subject_id == held["id"])
    r = decide(api, cast, item.id, 422, decision="label", debunk_id=debunk_id)
    assert r["error"]["details"]["problem"] == "held_for_other_rules"
    assert r["error"]["details"]["rules"] == ["pii.resident_id"]
    assert number not in json.dumps(r)
    assert message(api, cast.member, held["id"])["status"] == "held"
    got = api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()
    assert got["phrasings"] == []
    decide(api, cast, item.id, decision="remove")



def test_one_text_stands_for_one_debunk(api: Api, cast: Cast, app: Any) -> None:
    """A phrasing another entry already says (as its claim or a phrasing) is refused, and so is
    a claim another entry has as a phrasing: otherwise exact copies of it would get whichever
    card a tie picks. An import leaves such phrasings out and says so, and its audit record
    holds every phrasing it added, with the text."""
    a = add(api, cast, claim=CLAIM)["id"]
    b = add(api, cast, claim="喝板蓝根能预防新冠病毒感染")["id"]
    r = api.post(f"/api/officer/debunks/{a}/phrasings", as_=cast.officer,
                 json={"text": "【转】喝板蓝根能预防新冠病毒感染！"})
    assert (r.status_code, error_code(r)) == (409, "phrasing_taken")
    assert r.json()["error"]["details"]["debunk_id"] == b
    phrase(api, cast, a, SAID)
    r = api.post(f"/api/officer/debunks/{b}/phrasings", as_=cast.officer, json={"text": SAID})
    assert (r.status_code, error_code(r)) == (409, "phrasing_taken")
    r = api.post("/api/officer/debunks", as_=cast.officer, json=entry(claim=SAID + "！"))
    assert (r.status_code, error_code(r)) == (409, "debunk_duplicate")
    assert r.json()["error"]["details"]["debunk_id"] == a
    r = api.patch(f"/api/officer/debunks/{b}", as_=cast.officer, json={"claim": SAID})
    assert (r.status_code, error_code(r)) == (409, "debunk_duplicate")
    rows = [entry(claim="戴两层口罩会缺氧窒息",
                  phrasings=["喝板蓝根能预防新冠病毒感染", "两层口罩让人缺氧", "喝盐水能杀死病毒"]),
            entry(claim="喝盐水能杀死病毒"),
            entry(claim=SAID, phrasings=["水库今晚决堤"])]
    r = api.post("/api/officer/debunks/import", as_=cast.officer,
                 json={"format": "jsonl", "content": "\n".join(json.dumps(x) for x in rows)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 1  # row 2 repeats row 1's phrasing, row 3 is entry a's
    assert body["phrasings_skipped"] == [
        {"line": 1, "text": "喝板蓝根能预防新冠病毒感染", "debunk_id": b}]
    assert body["duplicates"] == [{"line": 2, "duplicate_of_line": 1},
                                  {"line": 3, "debunk_id": a, "phrasings": 1}]
    new = body["ids"][0]
    got = api.get(f"/api/officer/debunks/{new}", as_=cast.officer).json()
    assert [p["text"] for p in got["phrasings"]] == ["两层口罩让人缺氧", "喝盐水能杀死病毒"]
    [record] = audit_records(app, EventType.DEBUNKS_IMPORTED)
    assert [(p["debunk_id"], p["text"]) for p in record.extra["phrasings"]] == [
        (new, "两层口罩让人缺氧"), (new, "喝盐水能杀死病毒")]
    assert all(isinstance(p["phrasing_id"], int) for p in record.extra["phrasings"])


def test_a_learned_phrasing_forgets_its_message_when_retention_purges_it(
        api: Api, cast: Cast, app: Any, clock: Any) -> None:
    """The phrasing keeps the claim a reviewer confirmed (bank content), but once retention
    purges the message's text it no longer names the message, whose row names its sender."""
    from tests.governance.helpers import later, purge_all

    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    sent = post(api, cast.member, cast.group["id"], CHILD_PARAPHRASE)
    drain(app)
    [item] = review_items(app)
    decide(api, cast, item.id, decision="label")
    drain(app)
    [p] = api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()["phrasings"]
    assert p["message_id"] == sent["id"]
    later(api, cast, clock, 181)
    assert purge_all(app) >= 1
    [p] = api.get(f"/api/officer/debunks/{debunk_id}", as_=cast.officer).json()["phrasings"]
    assert (p["text"], p["message_id"]) == (CHILD_PARAPHRASE, None)


def test_a_retire_reason_may_not_carry_personal_data(api: Api, cast: Cast) -> None:
    did = add(api, cast, claim=CLAIM)["id"]
    pid = phrase(api, cast, did, SAID)["phrasings"][0]["id"]
    for path in (f"/api/officer/debunks/{did}/phrasings/{pid}/retire",
                 f"/api/officer/debunks/{did}/retire"):
        r = api.post(path, as_=cast.officer, json={"reason": "举报人电话13812345678"})
        assert r.status_code == 422, r.text
        assert "13812345678" not in r.text


def test_two_officers_giving_one_text_to_two_debunks_at_once(api: Api, cast: Cast,
                                                             backend: str) -> None:
    """The check that one text stands for one debunk spans claims and phrasings, which no
    unique index covers: concurrent adds take turns, so exactly one wins, on PostgreSQL as on
    SQLite (whose writers run one at a time anyway)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ids = [add(api, cast, claim=f"{CLAIM}（第{n}版）")["id"] for n in range(4)]
    barrier = threading.Barrier(len(ids))

    def give(debunk_id: int) -> int:
        barrier.wait(timeout=30)
        r = api.post(f"/api/officer/debunks/{debunk_id}/phrasings", as_=cast.officer,
                     json={"text": SAID})
        return int(r.status_code)

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        statuses = sorted(pool.map(give, ids))
    assert statuses == [201, 409, 409, 409], (backend, statuses)
