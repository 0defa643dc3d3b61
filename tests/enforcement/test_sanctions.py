"""The sanctions ladder (EC-2..EC-5, EC-8): imposed by officers, enforced where it matters,
expiring by the clock, lifted early with a reason."""

from __future__ import annotations

from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.cast import Person
from tests.conftest import Api, Cast, audit_records, error_code, outbox_events, register
from tests.enforcement.sanction_helpers import impose

DAY = 24 * 3600


def _post(api: Api, person: Person, group_id: int, text: str = "收到，明天见") -> Any:
    return api.post(f"/api/groups/{group_id}/messages", as_=person, json={"text": text})


def _error(r: Any) -> dict[str, Any]:
    return dict(r.json()["error"])


def test_restricted_member_cannot_forward_until_it_expires(api: Api, cast: Cast, app: Any,
                                                           clock: FixedClock) -> None:
    gid = cast.group["id"]
    message = _post(api, cast.founder, gid, "周五下午三点开会").json()
    sanction = impose(api, cast.officer, cast.member, "restrict", functions=["forward"],
                      duration_seconds=DAY, rule="spam.forward")
    assert sanction["functions"] == ["forward"]
    assert sanction["active"] is True

    r = api.post(f"/api/messages/{message['id']}/forward", as_=cast.member,
                 json={"group_ids": [gid]})
    assert r.status_code == 403
    assert _error(r)["code"] == "restricted"
    assert _error(r)["details"]["sanction_id"] == sanction["id"]
    assert _error(r)["details"]["function"] == "forward"
    # Posting is not taken away by a forwarding restriction.
    assert _post(api, cast.member, gid).status_code == 201

    [record] = audit_records(app, EventType.SANCTION_IMPOSED)
    assert record.acting_id == cast.officer.id
    assert (record.subject_type, record.subject_id) == ("account", str(cast.member.id))
    assert record.extra["sanction_id"] == sanction["id"]
    assert record.extra["kind"] == "restrict"
    assert record.extra["rule"] == "spam.forward"
    [event] = outbox_events(app, EventType.SANCTION_IMPOSED)
    assert event.payload["account_ids"] == [cast.member.id]
    assert event.group_id is None  # a member's sanction is not announced to the group

    clock.advance(seconds=DAY + 1)  # expiry is by time: no worker, no lift record
    r = api.post(f"/api/messages/{message['id']}/forward", as_=cast.member,
                 json={"group_ids": [gid]})
    assert r.status_code == 201, r.text
    assert audit_records(app, EventType.SANCTION_LIFTED) == []
    r = api.get("/api/me/sanctions", as_=cast.member)
    assert [s["active"] for s in r.json()] == [False]
    assert "imposed_by" not in r.json()[0]  # members are not told which officer decided


def test_mute_applies_in_one_group_only(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    r = api.post("/api/groups", as_=cast.member, json={"name": "读书会", "category": "work"})
    assert r.status_code == 201, r.text
    own = r.json()["id"]
    sanction = impose(api, cast.officer, cast.member, "mute", group_id=gid,
                      duration_seconds=3600)
    r = _post(api, cast.member, gid)
    assert r.status_code == 403
    assert _error(r)["code"] == "restricted"
    assert _error(r)["details"]["sanction_id"] == sanction["id"]
    assert _post(api, cast.member, own).status_code == 201
    assert _post(api, cast.member2, gid).status_code == 201  # nobody else is touched
    [record] = audit_records(app, EventType.SANCTION_IMPOSED)
    assert record.group_id == gid


def test_suspension_needs_a_warning_first_and_can_be_lifted(api: Api, cast: Cast,
                                                           app: Any) -> None:
    gid = cast.group["id"]
    r = api.post("/api/officer/sanctions", as_=cast.officer,
                 json={"subject_type": "account", "subject_id": cast.member.id,
                       "kind": "suspend", "duration_seconds": 7 * DAY, "reason": "辱骂他人"})
    assert r.status_code == 409
    assert _error(r)["code"] == "warning_required"
    assert audit_records(app, EventType.SANCTION_IMPOSED) == []  # nothing half-written

    sanction = impose(api, cast.officer, cast.member, "suspend", duration_seconds=7 * DAY,
                      skip_warning_reason="严重威胁他人人身安全")
    [record] = audit_records(app, EventType.SANCTION_IMPOSED)
    assert record.extra["skip_warning_reason"] == "严重威胁他人人身安全"

    for r in (_post(api, cast.member, gid),
              api.post("/api/groups", as_=cast.member, json={"name": "新群", "category": "work"})):
        assert r.status_code == 403, r.text
        assert _error(r)["code"] == "restricted"
    # A suspended member still reads, and reads their statement.
    assert api.get(f"/api/groups/{gid}/messages", as_=cast.member).status_code == 200
    assert api.get("/api/me/statements", as_=cast.member).json()[0]["measure"] == "suspend"

    r = api.post(f"/api/officer/sanctions/{sanction['id']}/lift", as_=cast.officer,
                 json={"reason": "已当面道歉并删除内容"})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["lifted_by"] == cast.officer.id
    [lifted] = audit_records(app, EventType.SANCTION_LIFTED)
    assert lifted.acting_id == cast.officer.id
    assert lifted.extra == {"sanction_id": sanction["id"], "kind": "suspend",
                            "reason": "已当面道歉并删除内容", "overturned": False,
                            "credit_reversed": 0}
    [event] = outbox_events(app, EventType.SANCTION_LIFTED)
    assert event.payload["account_ids"] == [cast.member.id]
    assert _post(api, cast.member, gid).status_code == 201

    r = api.post(f"/api/officer/sanctions/{sanction['id']}/lift", as_=cast.officer,
                 json={"reason": "再次"})
    assert r.status_code == 409
    assert _error(r)["code"] == "sanction_not_active"


def test_ladder_escalates_step_by_step(api: Api, cast: Cast) -> None:
    def step() -> str | None:
        r = api.get("/api/officer/sanctions/next-step", as_=cast.officer,
                    params={"subject_type": "account", "subject_id": cast.member.id})
        assert r.status_code == 200, r.text
        return r.json()["kind"]  # type: ignore[no-any-return]

    assert step() == "warning"
    impose(api, cast.officer, cast.member, "warning")
    assert step() == "restrict"
    impose(api, cast.officer, cast.member, "restrict", functions=["forward", "create_group"],
           duration_seconds=DAY)
    assert step() == "suspend"
    # Once warned, the suspension needs no skip reason (EC-8 satisfied).
    impose(api, cast.officer, cast.member, "suspend", duration_seconds=DAY)
    assert step() == "blacklist"
    r = api.get("/api/officer/sanctions", as_=cast.officer,
                params={"subject_type": "account", "subject_id": cast.member.id,
                        "active": True})
    assert sorted(s["kind"] for s in r.json()) == ["restrict", "suspend"]  # warning is over
    r = api.get("/api/officer/sanctions/next-step", as_=cast.officer,
                params={"subject_type": "group", "subject_id": cast.group["id"]})
    assert r.json()["kind"] == "group_warning"


def test_group_suspension_and_closure(api: Api, cast: Cast, app: Any,
                                      clock: FixedClock) -> None:
    gid = cast.group["id"]
    impose(api, cast.officer, gid, "group_warning", subject_type="group",
           reason="群内多次出现赌博广告，未及时处理")
    suspended = impose(api, cast.officer, gid, "suspend_posting", subject_type="group",
                       duration_seconds=DAY)
    for person in (cast.member, cast.founder):
        r = _post(api, person, gid)
        assert r.status_code == 403
        assert _error(r)["code"] == "group_suspended"
        assert _error(r)["details"]["sanction_id"] == suspended["id"]
    # The founder receives the statement of a group sanction.
    measures = [s["measure"] for s in api.get("/api/me/statements", as_=cast.founder).json()]
    assert measures == ["suspend_posting", "group_warning"]
    events = outbox_events(app, EventType.SANCTION_IMPOSED)
    assert events[-1].group_id == gid
    assert events[-1].payload["account_ids"] == [cast.founder.id]

    clock.advance(seconds=DAY + 1)
    assert _post(api, cast.member, gid).status_code == 201

    closed = impose(api, cast.officer, gid, "close", subject_type="group")
    assert closed["ends_at"] is None
    r = _post(api, cast.member, gid)
    assert r.status_code == 403
    assert _error(r)["code"] == "group_closed"
    r = api.post(f"/api/groups/{gid}/invitations", as_=cast.founder,
                 json={"account_id": cast.outsider.id})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/me/invitations/{r.json()['id']}/accept", as_=cast.outsider,
                 json={"rules_version": cast.group["rules_version"]})
    assert r.status_code == 403
    assert _error(r)["code"] == "group_closed"


def test_founder_and_admin_sanctions(api: Api, cast: Cast) -> None:
    gid = cast.group["id"]
    sanction = impose(api, cast.officer, cast.admin, "suspend_admin", group_id=gid,
                      duration_seconds=DAY)
    r = api.post(f"/api/groups/{gid}/members/{cast.member2.id}/mute", as_=cast.admin,
                 json={"seconds": 600, "reason": "刷屏"})
    assert r.status_code == 403
    assert _error(r)["code"] == "restricted"
    assert _error(r)["details"]["sanction_id"] == sanction["id"]
    assert _post(api, cast.admin, gid).status_code == 201  # still a member who may post

    impose(api, cast.officer, cast.founder, "revoke_founding")  # permanent when no duration
    r = api.post("/api/groups", as_=cast.founder, json={"name": "新群", "category": "work"})
    assert r.status_code == 403
    assert _error(r)["code"] == "restricted"

    lowered = impose(api, cast.officer, cast.founder, "lower_credit", credit_delta=-15)
    assert lowered["credit_delta"] == -15
    assert lowered["active"] is False


def test_blacklisted_member_keeps_a_login_to_appeal(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    impose(api, cast.officer, cast.member, "blacklist", skip_warning_reason="冒用他人身份注册")
    [record] = audit_records(app, EventType.IDENTITY_BLACKLISTED)
    assert record.subject_id == str(cast.member.id)
    assert record.extra["closed"] is False
    r = _post(api, cast.member, gid)
    assert r.status_code == 403
    assert _error(r)["code"] == "restricted"
    statement = api.get("/api/me/statements", as_=cast.member).json()[0]
    assert statement["measure"] == "blacklist"
    assert statement["ends_at"] is None
    r = api.post(f"/api/me/statements/{statement['id']}/appeal", as_=cast.member,
                 json={"text": "账号是本人实名注册"})
    assert r.status_code == 201, r.text
    # EC-5: the same identity cannot verify a new account.
    fresh = Person("fresh", "13700009999", "新号", cast.member.legal_name, cast.member.id_number)
    register(api, fresh)
    r = api.post("/api/me/verifications", as_=fresh,
                 json={"provider": "resident_id", "legal_name": fresh.legal_name,
                       "id_number": fresh.id_number})
    assert r.status_code == 403
    assert _error(r)["code"] == "identity_blacklisted"


def test_bad_sanctions_are_refused(api: Api, cast: Cast, app: Any) -> None:
    gid = cast.group["id"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"kind": "close"}, 422, "invalid_sanction"),  # a group measure on an account
        ({"kind": "warning", "subject_type": "group", "subject_id": gid}, 422,
         "invalid_sanction"),
        ({"kind": "restrict", "duration_seconds": 60}, 422, "invalid_sanction"),
        ({"kind": "restrict", "functions": ["forward"]}, 422, "invalid_sanction"),
        ({"kind": "mute", "duration_seconds": 60}, 422, "invalid_sanction"),
        ({"kind": "warning", "duration_seconds": 60}, 422, "invalid_sanction"),
        ({"kind": "warning", "group_id": gid}, 422, "invalid_sanction"),
        ({"kind": "warning", "credit_delta": -3}, 422, "invalid_sanction"),
        ({"kind": "restrict", "functions": ["post"], "duration_seconds": 60}, 422,
         "invalid_request"),
        ({"kind": "warning", "subject_id": 987654}, 404, "not_found"),
        ({"kind": "warning", "reason": "   "}, 422, "invalid_request"),
        ({"kind": "mute", "group_id": 987654, "duration_seconds": 60}, 404, "not_found"),
        ({"kind": "suspend", "duration_seconds": 10**12}, 422, "invalid_request"),
    ]
    for override, status, code in cases:
        body = {"subject_type": "account", "subject_id": cast.member.id, "reason": "刷屏",
                **override}
        r = api.post("/api/officer/sanctions", as_=cast.officer, json=body)
        assert (r.status_code, _error(r)["code"]) == (status, code), (override, r.text)
    for person in (cast.founder, cast.member):  # only officers sanction
        r = api.post("/api/officer/sanctions", as_=person,
                     json={"subject_type": "account", "subject_id": cast.member2.id,
                           "kind": "warning", "reason": "刷屏"})
        assert r.status_code == 403
        assert _error(r)["code"] == "forbidden"
    assert audit_records(app, EventType.SANCTION_IMPOSED) == []


def test_the_checker_is_registered_by_importing_the_package() -> None:
    import qunguan.enforcement  # noqa: F401
    from qunguan.enforcement.restrictions import check_sanctions
    from qunguan.kernel import restrictions

    assert check_sanctions in restrictions._CHECKERS



def test_suspension_takes_admin_powers_and_joining(api: Api, cast: Cast, app: Any) -> None:
    """B7: a suspended admin keeps no admin tool and cannot join a group any way."""
    gid = cast.group["id"]
    sanction = impose(api, cast.officer, cast.admin, "suspend", duration_seconds=DAY,
                      skip_warning_reason="利用管理权限骚扰成员")
    assert {"group_admin", "join"} <= set(sanction["functions"])
    r = api.post(f"/api/groups/{gid}/members/{cast.member2.id}/mute", as_=cast.admin,
                 json={"seconds": 600, "reason": "刷屏"})
    assert r.status_code == 403
    assert (_error(r)["code"], _error(r)["details"]["function"]) == ("restricted", "group_admin")
    r = api.post("/api/groups", as_=cast.founder, json={"name": "读书会", "category": "work"})
    other = r.json()
    r = api.post(f"/api/groups/by-code/{other['code']}/join-requests", as_=cast.admin,
                 json={"rules_version": other["rules_version"], "note": "想加入"})
    assert r.status_code == 403
    assert (_error(r)["code"], _error(r)["details"]["function"]) == ("restricted", "join")
    assert audit_records(app, EventType.JOIN_REQUESTED) == []
    r = api.post(f"/api/groups/{other['id']}/invitations", as_=cast.founder,
                 json={"account_id": cast.admin.id})
    r = api.post(f"/api/me/invitations/{r.json()['id']}/accept", as_=cast.admin,
                 json={"rules_version": other["rules_version"]})
    assert r.status_code == 403
    assert _error(r)["details"]["sanction_id"] == sanction["id"]


def test_blacklist_takes_everything(api: Api, cast: Cast) -> None:
    sanction = impose(api, cast.officer, cast.member, "blacklist",
                      skip_warning_reason="冒用他人身份注册")
    assert set(sanction["functions"]) == {"post", "forward", "red_envelopes", "create_group",
                                          "group_admin", "join"}


def test_a_closed_group_takes_no_join_requests(api: Api, cast: Cast, app: Any) -> None:
    """D1: a request to join a closed group is refused when filed, not left to pile up."""
    gid = cast.group["id"]
    impose(api, cast.officer, gid, "close", subject_type="group",
           skip_warning_reason="群内组织赌博")
    r = api.post(f"/api/groups/by-code/{cast.group['code']}/join-requests", as_=cast.outsider,
                 json={"rules_version": cast.group["rules_version"], "note": "想加入"})
    assert r.status_code == 403
    assert _error(r)["code"] == "group_closed"
    assert audit_records(app, EventType.JOIN_REQUESTED) == []


def test_the_heir_of_a_group_must_be_free_to_found_it(api: Api, cast: Cast, app: Any) -> None:
    """B7: handing a group over asks the heir's create_group and, for a large group, credit."""
    gid = cast.group["id"]
    assert cast.group["member_cap"] > 200
    revoked = impose(api, cast.officer, cast.member, "revoke_founding")
    r = api.post(f"/api/groups/{gid}/transfer", as_=cast.founder,
                 json={"account_id": cast.member.id})
    assert r.status_code == 403
    assert (_error(r)["code"], _error(r)["details"]["sanction_id"]) == ("restricted",
                                                                        revoked["id"])
    impose(api, cast.officer, cast.member2, "lower_credit", credit_delta=-20)
    r = api.post(f"/api/groups/{gid}/transfer", as_=cast.founder,
                 json={"account_id": cast.member2.id})
    assert r.status_code == 403
    assert _error(r)["code"] == "credit_too_low"
    assert audit_records(app, EventType.FOUNDER_TRANSFERRED) == []
    r = api.post(f"/api/groups/{gid}/transfer", as_=cast.founder,
                 json={"account_id": cast.admin.id})
    assert r.status_code == 200, r.text


def test_lifting_a_blacklist_frees_the_identity(api: Api, cast: Cast, app: Any) -> None:
    """B8: the identity bar lasts as long as the sanction, lifted or overturned."""
    from qunguan.identity import queries as identity_queries

    sanction = impose(api, cast.officer, cast.member, "blacklist",
                      skip_warning_reason="冒用他人身份注册")
    r = api.post(f"/api/officer/sanctions/{sanction['id']}/lift", as_=cast.officer,
                 json={"reason": "已核实为本人，解除"})
    assert r.status_code == 200, r.text
    [record] = audit_records(app, EventType.BLACKLIST_LIFTED)
    assert (record.subject_id, record.acting_id) == (str(cast.member.id), cast.officer.id)
    uow = app.state.uows()
    try:
        account = identity_queries.get_account(uow, cast.member.id)
        assert account.identity_index is not None
        assert not identity_queries.is_blacklisted(uow, account.identity_index)
    finally:
        uow.close()
    assert _post(api, cast.member, cast.group["id"]).status_code == 201


def test_emergency_freezes_are_not_rungs(api: Api, cast: Cast) -> None:
    """S2: a freeze says nothing of the group's conduct: the ladder starts at a warning."""
    gid = cast.group["id"]
    r = api.post("/api/officer/emergency/freeze", as_=cast.officer,
                 json={"group_id": gid, "reason": "突发事件，暂停发言"})
    assert r.status_code == 200, r.text
    r = api.get("/api/officer/sanctions/next-step", as_=cast.officer,
                params={"subject_type": "group", "subject_id": gid})
    assert (r.json()["kind"], r.json()["previous"]) == ("group_warning", [])
    r = api.post("/api/officer/sanctions", as_=cast.officer,
                 json={"subject_type": "group", "subject_id": gid, "kind": "suspend_posting",
                       "duration_seconds": DAY, "reason": "群内多次出现赌博广告"})
    assert r.status_code == 409
    assert _error(r)["code"] == "warning_required"


def test_reasons_with_personal_data_are_refused(api: Api, cast: Cast, app: Any) -> None:
    """P2: an officer's reason is copied into statements, audit records and the blacklist;
    personal data has no place there."""
    from tests.cast import resident_id

    someone = resident_id("320102", "19900315", "456")  # invented, nobody in the cast
    for reason, kind in ((f"冒用 {someone} 的身份", "resident_id"),
                         ("在群里公布了 137 1234 5678 的号码", "mobile")):
        r = api.post("/api/officer/sanctions", as_=cast.officer,
                     json={"subject_type": "account", "subject_id": cast.member.id,
                           "kind": "blacklist", "reason": reason,
                           "skip_warning_reason": "冒用身份"})
        assert r.status_code == 422, r.text
        assert _error(r)["code"] == "reason_has_personal_data"
        assert _error(r)["details"]["kinds"] == [kind]
    r = api.post("/api/officer/sanctions", as_=cast.officer,
                 json={"subject_type": "account", "subject_id": cast.member.id,
                       "kind": "suspend", "duration_seconds": DAY, "reason": "冒用身份",
                       "skip_warning_reason": f"身份证 {someone}"})
    assert (r.status_code, _error(r)["code"]) == (422, "reason_has_personal_data")
    assert audit_records(app, EventType.SANCTION_IMPOSED) == []
    assert audit_records(app, EventType.IDENTITY_BLACKLISTED) == []
    sanction = impose(api, cast.officer, cast.member, "warning")
    r = api.post(f"/api/officer/sanctions/{sanction['id']}/lift", as_=cast.officer,
                 json={"reason": f"核对了 {someone}"})
    assert (r.status_code, _error(r)["code"]) == (422, "reason_has_personal_data")
    # The purge's reason goes into every sender's statement.
    message = _post(api, cast.member2, cast.group["id"], "紧急通知：明天停课").json()
    r = api.post("/api/officer/emergency/purge", as_=cast.officer,
                 json={"message_id": message["id"], "reason": f"冒充 {someone} 发布"})
    assert (r.status_code, _error(r)["code"]) == (422, "reason_has_personal_data")
    assert audit_records(app, EventType.MESSAGE_REMOVED) == []
    assert audit_records(app, EventType.STATEMENT_ISSUED)[-1].extra["measure"] == "warning"


def test_a_sanction_cannot_cite_an_unknown_review_item(api: Api, cast: Cast, app: Any) -> None:
    r = api.post("/api/officer/sanctions", as_=cast.officer,
                 json={"subject_type": "account", "subject_id": cast.member.id,
                       "kind": "warning", "reason": "刷屏", "review_item_id": 987654})
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert audit_records(app, EventType.SANCTION_IMPOSED) == []
