"""The policy engine end to end with the shipped default pack (production behaviour) and
with loaded packs: hits recorded with the message, shadow mode, scope, strictest wins,
flooding on a fake clock, post-send flags, and the officer API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from qunguan.kernel.outbox import process_batch
from qunguan.screening import VerdictKind
from qunguan.screening.models import PolicyPack, ScreeningHit
from tests.cast import resident_id
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events
from tests.messaging.conftest import forward, make_group, post, posted
from tests.screening.conftest import AddDetector, load_pack, pack_files, rule_toml

ID = resident_id("440305", "19870615", "271")  # invented, valid, nobody's in the cast


def hits(app: Any, **where: Any) -> list[ScreeningHit]:
    uow = app.state.uows()
    try:
        stmt = select(ScreeningHit).filter_by(**where).order_by(ScreeningHit.id)
        return list(uow.session.scalars(stmt))
    finally:
        uow.close()


def test_resident_id_is_held_with_its_hit(api: Api, cast: Cast, app: Any, gid: int) -> None:
    r = post(api, cast.member, gid, f"帮我登记一下，身份证号 {ID[:6]} {ID[6:14]} {ID[14:]}")
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["status"] == "held"
    [reason] = m["labels"]
    assert (reason["rule"], reason["detector"]) == ("pii.resident_id", "personal_data")
    assert reason["data"] == {"severity": 4, "labels": ["resident_id"]}
    [hit] = hits(app)
    assert (hit.message_id, hit.group_id, hit.account_id) == (m["id"], gid, cast.member.id)
    assert (hit.rule_id, hit.mode, hit.action, hit.severity, hit.stage, hit.pack_version) == (
        "pii.resident_id", "enforce", "hold", 4, "pre", 0)
    assert ID not in str(hit.signals)
    assert ID[6:14] not in str(hit.signals)
    assert hit.signals[0]["evidence"]["lengths"] == [20]
    [audit] = audit_records(app, EventType.MESSAGE_HELD)
    assert audit.extra["reasons"] == m["labels"]


def test_ordinary_post_records_nothing(api: Api, cast: Cast, app: Any, gid: int) -> None:
    posted(api, cast.member, gid, "本周五下午三点开会，请准时参加。")
    assert hits(app) == []


def test_strictest_wins_and_every_reason_is_kept(api: Api, cast: Cast, gid: int) -> None:
    text = "机密文件在我这，有问题打13822223333"
    r = post(api, cast.member, gid, text)
    assert r.status_code == 201, r.text  # hold beats confirm: no confirmation asked
    assert r.json()["status"] == "held"
    assert [x["rule"] for x in r.json()["labels"]] == ["confidential.classified", "pii.mobile"]
    r = post(api, cast.member, gid, "有问题打13822223333")
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")
    assert post(api, cast.member, gid, "有问题打13822223333", confirm=True).status_code == 201


def test_shadow_rule_records_without_acting(api: Api, cast: Cast, app: Any, gid: int) -> None:
    m = posted(api, cast.member, gid, "大家好，我的作品集在 www.example.com/works")
    assert (m["status"], m["labels"]) == ("delivered", [])  # the shadow rule holds nothing
    [hit] = hits(app)
    assert (hit.rule_id, hit.mode, hit.action, hit.message_id) == (
        "links.first_message", "shadow", "hold", m["id"])
    assert hit.signals[0]["evidence"]["hosts"] == ["example.com"]
    # Not the first message any more: the rule does not fire again.
    posted(api, cast.member, gid, "再发一次 www.example.com/works")
    assert len(hits(app)) == 1
    page = api.get("/api/officer/policy/hits?mode=shadow", as_=cast.officer).json()
    assert [h["rule_id"] for h in page["items"]] == ["links.first_message"]
    assert api.get("/api/officer/policy/hits?mode=enforce",
                   as_=cast.officer).json()["items"] == []


def test_flooding_asks_then_holds_on_a_fake_clock(api: Api, cast: Cast, app: Any,
                                                  clock: FixedClock, gid: int) -> None:
    for i in range(24):
        posted(api, cast.member, gid, f"第{i}条")
    r = post(api, cast.member, gid, "第24条")
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")
    assert r.json()["error"]["details"]["reasons"][0]["rule"] == "flood.fast"
    # Others are not affected: the count is per member.
    posted(api, cast.member2, gid, "我只发一条")
    clock.advance(seconds=61)
    m = posted(api, cast.member, gid, "过了一分钟")
    assert m["labels"] == []


def test_hits_of_forwards_and_blocked_attempts(api: Api, cast: Cast, app: Any,
                                               gid: int) -> None:
    rules = rule_toml("walls.block", "block", "lexicon", when='labels = ["walls"]') + \
        rule_toml("walls.shadow", "hold", "lexicon", mode="shadow", when='labels = ["soft"]')
    load_pack(app, pack_files(rules, {"walls": "禁词\n", "soft": "软词\n"}))
    r = post(api, cast.member, gid, "这里有禁词")
    assert (r.status_code, error_code(r)) == (422, "message_blocked")
    [blocked] = hits(app)
    assert (blocked.message_id, blocked.rule_id, blocked.action, blocked.pack_version) == (
        None, "walls.block", "block", 1)
    other = make_group(api, cast.member2, "第二个群", cast.member)
    source = posted(api, cast.member2, gid, "一个软词")
    [copy] = forward(api, cast.member, source["id"], [other["id"]]).json()
    assert copy["status"] == "delivered"
    by_message = {h.message_id: (h.rule_id, h.mode, h.group_id) for h in hits(app)[1:]}
    assert by_message == {source["id"]: ("walls.shadow", "shadow", gid),
                          copy["id"]: ("walls.shadow", "shadow", other["id"])}


def test_scope(api: Api, cast: Cast, app: Any, gid: int) -> None:
    social = api.post("/api/groups", as_=cast.member,
                      json={"name": "兴趣群", "category": "social", "rules_text": "友好"}).json()
    rules = (rule_toml("social.only", "hold", "lexicon", when='labels = ["w"]',
                       extra='scope = { categories = ["social"] }\n')
             + rule_toml("not.social", "label", "lexicon", when='labels = ["w"]',
                         extra='scope = { exclude_categories = ["social"] }\n')
             + rule_toml("this.group", "confirm", "lexicon", when='labels = ["w"]',
                         extra=f'scope = {{ groups = [{gid}], actions = ["forward"] }}\n'))
    load_pack(app, pack_files(rules, {"w": "关键词\n"}))
    assert posted(api, cast.member, social["id"], "关键词")["status"] == "held"
    m = posted(api, cast.member, gid, "关键词")
    assert (m["status"], [x["rule"] for x in m["labels"]]) == ("delivered", ["not.social"])
    # The forward into gid asks; the post into gid above did not (actions = ["forward"]).
    source = posted(api, cast.member, social["id"], "关键词再来")
    r = forward(api, cast.member, source["id"], [gid])
    assert r.status_code == 404  # held messages cannot be forwarded; use a delivered one
    other = make_group(api, cast.member2, "第三个群", cast.member)
    plain = posted(api, cast.member, other["id"], "关键词")
    r = forward(api, cast.member, plain["id"], [gid])
    assert (r.status_code, error_code(r)) == (409, "confirmation_required")


def test_off_rules_do_not_run(api: Api, cast: Cast, app: Any, gid: int,
                              add_detector: AddDetector) -> None:
    spy = add_detector("spy", VerdictKind.BLOCK, "任何")
    load_pack(app, pack_files(rule_toml("spy.rule", "block", "spy", mode="off")))
    assert posted(api, cast.member, gid, "任何内容")["status"] == "delivered"
    assert spy.seen == []
    assert hits(app) == []


def test_post_send_rule_flags_for_review(api: Api, cast: Cast, app: Any, gid: int,
                                         add_detector: AddDetector) -> None:
    add_detector("slow", VerdictKind.HOLD, "可疑", stage="post")
    m = posted(api, cast.member, gid, "一条可疑的消息")
    assert m["status"] == "delivered"
    while process_batch(app.state.uows):
        pass
    [hit] = hits(app)
    assert (hit.message_id, hit.stage, hit.rule_id, hit.mode) == (m["id"], "post",
                                                                  "slow.rule", "enforce")
    [event] = outbox_events(app, EventType.SCREENING_FLAGGED)
    assert event.group_id is None  # never broadcast to the group
    assert (event.payload["message_id"], event.payload["target_group_id"],
            event.payload["sender_id"], event.payload["severity"]) == (
        m["id"], gid, cast.member.id, 3)
    assert [r["rule"] for r in event.payload["reasons"]] == ["slow.rule"]
    [audit] = audit_records(app, EventType.SCREENING_FLAGGED)
    assert (audit.subject_type, audit.subject_id, audit.group_id) == ("message", str(m["id"]),
                                                                     gid)
    # Automation flags, it does not remove: the message is still there for everyone.
    assert api.get(f"/api/messages/{m['id']}", as_=cast.member2).json()["text"] == m["text"]
    # A processed event is not screened twice.
    process_batch(app.state.uows)
    assert len(hits(app)) == 1


def test_a_pack_loaded_elsewhere_is_noticed_after_the_refresh_interval(
        api: Api, cast: Cast, app: Any, gid: int) -> None:
    app.state.settings.screening_policy_refresh_seconds = 3600
    text = "关键词出现"
    assert posted(api, cast.member, gid, text)["labels"] == []  # caches the default pack
    uow = app.state.uows()  # another process's load: straight into the database
    try:
        files = pack_files(rule_toml("kw.label", "label", "lexicon", when='labels = ["k"]'),
                           {"k": "关键词\n"})
        uow.session.add(PolicyPack(version=1, name="elsewhere", description="", digest="d",
                                   files=files, rule_count=1, active=True,
                                   loaded_at=uow.now(), loaded_by=cast.officer.id))
        uow.commit()
    finally:
        uow.close()
    assert posted(api, cast.member, gid, text)["labels"] == []  # not yet
    app.state.settings.screening_policy_refresh_seconds = 0
    assert [x["rule"] for x in posted(api, cast.member, gid, text)["labels"]] == ["kw.label"]


# --- the officer API ----------------------------------------------------------------------


def test_officer_reads_the_policy_and_its_versions(api: Api, cast: Cast, app: Any) -> None:
    policy = api.get("/api/officer/policy", as_=cast.officer).json()
    assert (policy["version"], policy["name"], policy["loaded_at"]) == (0, "default", None)
    rules = {r["id"]: r for r in policy["rules"]}
    assert rules["links.first_message"]["mode"] == "shadow"
    assert rules["pii.resident_id"]["action"] == "hold"
    assert policy["lexicons"]["classified"] > 0
    assert api.get("/api/officer/policy/versions", as_=cast.officer).json() == []
    load_pack(app, pack_files(rule_toml("only.rule", "label", "flood",
                                        when="min_count = 3")))
    policy = api.get("/api/officer/policy", as_=cast.officer).json()
    assert (policy["version"], policy["name"]) == (1, "test")
    assert [r["id"] for r in policy["rules"]] == ["only.rule"]
    [version] = api.get("/api/officer/policy/versions", as_=cast.officer).json()
    assert (version["version"], version["active"], version["rule_count"]) == (1, True, 1)
    for person in (cast.member, cast.founder):
        r = api.get("/api/officer/policy", as_=person)
        assert (r.status_code, error_code(r)) == (403, "forbidden")


def test_hits_filters_and_pages(api: Api, cast: Cast, app: Any, gid: int) -> None:
    for _ in range(3):
        posted(api, cast.member, gid, "告诉你一个秘密", confirm=True)
    posted(api, cast.member2, gid, "内部资料")
    page = api.get("/api/officer/policy/hits?rule=confidential.word&limit=2",
                   as_=cast.officer).json()
    assert len(page["items"]) == 2
    assert page["next_before_id"] == page["items"][-1]["id"]
    rest = api.get(f"/api/officer/policy/hits?rule=confidential.word&limit=2"
                   f"&before_id={page['next_before_id']}", as_=cast.officer).json()
    assert (len(rest["items"]), rest["next_before_id"]) == (1, None)
    r = api.get(f"/api/officer/policy/hits?group_id={gid}", as_=cast.officer).json()
    assert {h["rule_id"] for h in r["items"]} == {"confidential.word", "confidential.internal"}
    for bad in ("mode=loud", "limit=0", "group_id=0", "before_id=x", f"rule={'r' * 65}"):
        r = api.get(f"/api/officer/policy/hits?{bad}", as_=cast.officer)
        assert (r.status_code, error_code(r)) == (422, "invalid_request"), bad
