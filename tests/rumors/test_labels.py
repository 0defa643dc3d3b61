"""Debunk cards through the default policy pack: a message repeating a debunked claim is
delivered with the card, its earlier copies get it too, forwarding it asks for confirmation,
a looser match goes to the review queue as a suggestion, and a retired debunk stops matching."""

from __future__ import annotations

from typing import Any

from qunguan.enforcement.models import ReviewItem
from qunguan.kernel.events import EventType
from qunguan.screening.models import ScreeningHit
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.rumors.debunk_helpers import (
    CHILD_ALARM,
    CHILD_PARAPHRASE,
    VINEGAR,
    add,
    cards,
    drain,
    load_starter,
    message,
    post,
    starter_id,
    uow_of,
)


def review_items(app: Any) -> list[ReviewItem]:
    with uow_of(app) as uow:
        return list(uow.session.scalars(__import__("sqlalchemy").select(ReviewItem)))


def test_a_copy_of_a_starter_debunk_gets_the_card(api: Api, cast: Cast, app: Any) -> None:
    load_starter(api, cast)
    debunk_id = starter_id(api, cast, "人贩子")
    gid = cast.group["id"]
    sent = post(api, cast.member, gid, CHILD_ALARM)
    assert sent["status"] == "delivered"
    [card] = cards(sent)
    assert card["debunk_id"] == debunk_id
    assert card["verdict"] == "false"
    assert card["refutation"]
    assert card["publisher"] == "中国互联网联合辟谣平台"
    assert card["source_url"] == "https://www.piyao.org.cn/"
    [label] = [x for x in sent["labels"] if x["rule"] == "rumors.debunk_label"]
    assert label["detector"] == "debunk"
    assert label["data"]["labels"] == ["auto"]
    # Every member sees it on the message; the record names the rule and the debunk.
    assert cards(message(api, cast.member2, sent["id"])) == [card]
    [rec] = [r for r in audit_records(app, EventType.MESSAGE_POSTED)
             if r.subject_id == str(sent["id"])]
    # The child alarm is also an alarm claim: the alarm rule's prompt (confirmed by the helper)
    # is the strictest verdict, and the card rides along with it.
    assert rec.extra["verdict"] == "confirm"
    [recorded] = [x for x in rec.extra["reasons"] if x["rule"] == "rumors.debunk_label"]
    assert recorded["data"]["cards"][0]["debunk_id"] == debunk_id
    with uow_of(app) as uow:
        [hit] = uow.session.scalars(__import__("sqlalchemy").select(ScreeningHit).where(
            ScreeningHit.message_id == sent["id"],
            ScreeningHit.rule_id == "rumors.debunk_label"))
    assert hit.rule_id == "rumors.debunk_label"
    assert hit.signals[0]["evidence"]["debunk_id"] == debunk_id
    # An ordinary message gets nothing.
    plain = post(api, cast.member, gid, "本周五下午三点开会，请准时参加。")
    assert plain["labels"] == []


def test_forwarding_a_labelled_message_asks_for_confirmation(api: Api, cast: Cast,
                                                             app: Any) -> None:
    load_starter(api, cast)
    gid = cast.group["id"]
    sent = post(api, cast.member, gid, VINEGAR)
    assert cards(sent)
    r = api.post(f"/api/messages/{sent['id']}/forward", as_=cast.member2,
                 json={"group_ids": [gid]})
    assert r.status_code == 409
    assert error_code(r) == "confirmation_required"
    reasons = r.json()["error"]["details"]["reasons"]
    assert {x["rule"] for x in reasons} == {"rumors.debunk_label", "rumors.debunk_forward"}
    assert all(x["data"]["cards"][0]["verdict"] == "false" for x in reasons)
    assert outbox_events(app, EventType.MESSAGE_FORWARDED) == []
    r = api.post(f"/api/messages/{sent['id']}/forward", as_=cast.member2,
                 json={"group_ids": [gid], "confirm": True})
    assert r.status_code == 201, r.text
    [copy] = r.json()
    assert cards(copy)
    assert cards(copy)[0]["debunk_id"] == cards(sent)[0]["debunk_id"]


def test_earlier_copies_get_the_card_when_a_later_copy_matches(api: Api, cast: Cast,
                                                               app: Any) -> None:
    gid = cast.group["id"]
    early = post(api, cast.member, gid, CHILD_ALARM)  # no bank yet: nothing to match
    assert cards(early) == []
    drain(app)
    load_starter(api, cast)
    # Corrections already labelled the earlier copy; take the card off to see the copy rule
    # at work on its own.
    drain(app)
    assert cards(message(api, cast.member, early["id"]))
    with uow_of(app) as uow:
        from qunguan.messaging.models import Message
        row = uow.session.get(Message, early["id"])
        assert row is not None
        row.labels = []
        uow.commit()
    later = post(api, cast.member2, gid, CHILD_ALARM)
    assert cards(later)
    drain(app)
    [card] = cards(message(api, cast.member, early["id"]))
    assert card["debunk_id"] == cards(later)[0]["debunk_id"]
    labelled = [r for r in audit_records(app, EventType.MESSAGES_LABELLED)
                if early["id"] in r.extra["message_ids"]]
    assert labelled[-1].acting_id != cast.officer.id  # the system account
    [ev] = [e for e in outbox_events(app, EventType.MESSAGES_LABELLED)
            if e.payload["message_ids"] == [early["id"]]][-1:]
    assert ev.group_id == gid
    assert ev.payload["label"]["data"]["cards"][0]["debunk_id"] == card["debunk_id"]
    # Draining again changes nothing: the copy already has the card.
    before = len(audit_records(app, EventType.MESSAGES_LABELLED))
    drain(app)
    assert len(audit_records(app, EventType.MESSAGES_LABELLED)) == before


def test_a_looser_match_is_a_suggestion_for_review(api: Api, cast: Cast, app: Any) -> None:
    load_starter(api, cast)
    gid = cast.group["id"]
    sent = post(api, cast.member, gid, CHILD_PARAPHRASE)
    assert sent["status"] == "delivered"
    assert cards(sent) == []
    drain(app)
    [ev] = outbox_events(app, EventType.SCREENING_FLAGGED)
    assert ev.payload["message_id"] == sent["id"]
    assert ev.payload["rules"] == ["rumors.debunk_suggest"]
    [card] = ev.payload["reasons"][0]["data"]["cards"]
    assert card["debunk_id"] == starter_id(api, cast, "人贩子")
    [item] = review_items(app)
    assert item.subject_id == sent["id"]
    assert item.source == "screening"
    assert message(api, cast.member2, sent["id"])["status"] == "delivered"
    # Forwarding it is not queued again, and the suggestion asks nothing of the sender: the
    # only prompt is the alarm rule's (the text is an alarm claim too).
    r = api.post(f"/api/messages/{sent['id']}/forward", as_=cast.member2,
                 json={"group_ids": [gid]})
    assert r.status_code == 409, r.text
    assert {x["rule"] for x in r.json()["error"]["details"]["reasons"]} == {"rumors.alarm"}
    r = api.post(f"/api/messages/{sent['id']}/forward", as_=cast.member2,
                 json={"group_ids": [gid], "confirm": True})
    assert r.status_code == 201, r.text
    drain(app)
    assert len(review_items(app)) == 1


def test_a_new_debunk_matches_the_next_message_and_retiring_stops_it(api: Api, cast: Cast,
                                                                    app: Any) -> None:
    gid = cast.group["id"]
    created = add(api, cast)
    sent = post(api, cast.member, gid, created["claim"])
    assert [c["debunk_id"] for c in cards(sent)] == [created["id"]]
    r = api.post(f"/api/officer/debunks/{created['id']}/retire", as_=cast.officer,
                 json={"reason": "撤下"})
    assert r.status_code == 200
    again = post(api, cast.member, gid, created["claim"])
    assert cards(again) == []
    # The card already shown stays: it said what was known then.
    assert cards(message(api, cast.member, sent["id"]))


def test_a_true_claim_earns_no_card_and_blank_text_matches_nothing(api: Api, cast: Cast,
                                                                   app: Any) -> None:
    created = add(api, cast, claim="国家规定新生儿可以免费接种乙肝疫苗", verdict="true",
                  refutation="属实：乙肝疫苗纳入国家免疫规划，免费接种。")
    sent = post(api, cast.member, cast.group["id"], created["claim"])
    assert cards(sent) == []
    post(api, cast.member, cast.group["id"], "\u200b \u200b", status=422)


def test_an_edit_applies_at_once(api: Api, cast: Cast, app: Any) -> None:
    created = add(api, cast, verdict="true", refutation="属实。")
    gid = cast.group["id"]
    assert cards(post(api, cast.member, gid, created["claim"])) == []
    r = api.patch(f"/api/officer/debunks/{created['id']}", as_=cast.officer,
                  json={"verdict": "false", "refutation": "没有证据。"})
    assert r.status_code == 200
    [card] = cards(post(api, cast.member, gid, created["claim"]))
    assert card["version"] == 2
    assert card["refutation"] == "没有证据。"
