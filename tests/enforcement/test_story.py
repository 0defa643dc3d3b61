"""The end-to-end story of the issue: a member posts an ID number into a group, the default
policy pack holds it, an officer removes it and warns the member, the member reads the
statements and appeals, a second officer overturns: the message is back, the warning lifted,
the credit restored, and every step is in the audit records."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.events import EventType
from tests.cast import resident_id
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.enforcement.review_helpers import claim, decide, drain, items, second_officer

# Invented, valid check digit; nobody in the cast.
LEAKED_ID = resident_id("440106", "19880808", "123")


def _credit(api: Api, person: Any) -> dict[str, Any]:
    r = api.get("/api/me/credit", as_=person)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_id_number_held_removed_appealed_overturned(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    member, officer = cast.member, cast.officer
    reviewer = second_officer(app, cast)
    base = _credit(api, member)["score"]

    # 1. The member posts someone's ID number: the default pack's pii.resident_id holds it.
    r = api.post(f"/api/groups/{gid}/messages", as_=member,
                 json={"text": f"新同事的身份证号是 {LEAKED_ID}，大家帮忙登记一下"})
    assert r.status_code == 201, r.text
    message = r.json()
    assert message["status"] == "held"
    assert [x["rule"] for x in message["labels"]] == ["pii.resident_id"]
    assert api.get(f"/api/messages/{message['id']}", as_=cast.member2).status_code == 404
    drain(app)

    # 2. It is in the queue, with the member told at once why it waits (AT-1).
    [item] = items(app)
    assert (item.source, item.severity, item.automated) == ("held", 4, True)
    statements = api.get("/api/me/statements", as_=member).json()
    assert [s["measure"] for s in statements] == ["message_held"]

    # 3. An officer claims it, sees it in context, removes it and warns the member.
    claim(api, officer, item.id)
    detail = api.get(f"/api/officer/review/{item.id}", as_=officer).json()
    assert detail["message"]["sender"]["display_name"] == member.display_name
    decide(api, officer, item.id, "sanction", reason="在群内公开他人身份证号码",
           sanction={"kind": "warning"})
    assert _credit(api, member)["score"] < base

    # 4. The member reads the statements: what, why, which rule, automation, how to appeal.
    statements = {s["measure"]: s for s in api.get("/api/me/statements", as_=member).json()}
    assert set(statements) == {"message_held", "message_removed", "warning"}
    removal = statements["message_removed"]
    assert removal["message_id"] == message["id"]
    assert removal["rule"] == "pii.resident_id"
    assert removal["automated"] is True  # automation flagged it; a person decided
    assert "在群内公开他人身份证号码" in removal["facts"]
    assert "appeal" in removal["redress"]
    assert LEAKED_ID not in str(statements)  # the statement does not repeat the data

    # 5. The member appeals both; the deciding officer may not review their own decision.
    appeals = []
    for measure in ("message_removed", "warning"):
        r = api.post(f"/api/me/statements/{statements[measure]['id']}/appeal", as_=member,
                     json={"text": "这是经本人同意后为办理入职登记发的，不是泄露。"})
        assert r.status_code == 201, r.text
        appeals.append(r.json()["id"])
    r = api.post(f"/api/officer/appeals/{appeals[0]}/decide", as_=officer,
                 json={"outcome": "overturned", "reason": "自己复核"})
    assert (r.status_code, error_code(r)) == (403, "own_decision")

    # 6. A second officer overturns both.
    for appeal_id in appeals:
        r = api.post(f"/api/officer/appeals/{appeal_id}/decide", as_=reviewer,
                     json={"outcome": "overturned", "reason": "经核实为本人授权的登记信息"})
        assert r.status_code == 200, r.text

    # 7. The message is back and delivered, the warning overturned, the credit restored.
    restored = api.get(f"/api/messages/{message['id']}", as_=cast.member2).json()
    assert restored["status"] == "delivered"
    assert LEAKED_ID in restored["text"]
    assert _credit(api, member)["score"] == base

    # 8. Every step is on the record, by the right actor.
    def one(type_: EventType) -> Any:
        [record] = audit_records(app, type_)
        return record

    assert one(EventType.MESSAGE_HELD).acting_id == member.id
    assert one(EventType.REVIEW_ITEM_OPENED).extra["source"] == "held"
    assert one(EventType.REVIEW_ITEM_CLAIMED).acting_id == officer.id
    decided = one(EventType.REVIEW_ITEM_DECIDED)
    assert (decided.acting_id, decided.extra["decision"]) == (officer.id, "sanction")
    assert decided.extra["reason"] == "在群内公开他人身份证号码"
    removed = one(EventType.MESSAGE_REMOVED)
    assert removed.acting_id == officer.id
    assert LEAKED_ID in removed.extra["text"]  # the evidence is kept in the record
    assert one(EventType.SANCTION_IMPOSED).extra["kind"] == "warning"
    issued = [r.extra["measure"] for r in audit_records(app, EventType.STATEMENT_ISSUED)]
    assert issued == ["message_held", "message_removed", "warning"]
    assert len(audit_records(app, EventType.APPEAL_FILED)) == 2
    outcomes = audit_records(app, EventType.APPEAL_DECIDED)
    assert [(r.acting_id, r.extra["outcome"]) for r in outcomes] == [
        (reviewer.id, "overturned"), (reviewer.id, "overturned")]
    assert one(EventType.SANCTION_LIFTED).extra["overturned"] is True
    restored_record = one(EventType.MESSAGE_RESTORED)
    assert restored_record.acting_id == reviewer.id
    assert restored_record.extra["removal_record_id"] == removed.id
    # And the group heard of the message only when it was restored.
    assert [e.group_id for e in outbox_events(app, EventType.MESSAGE_RESTORED)] == [gid]
