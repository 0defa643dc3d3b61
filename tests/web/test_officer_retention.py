"""The console's legal holds and retention report: place a hold on a case, a group or an
account with a reason (errors next to the field), lift it with a reason, and read what is due
and what is held; the same actions as the API (audit records, events)."""

from __future__ import annotations

import re
from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.governance.helpers import drain, later, open_case, post, purge_all, text_of
from tests.web.conftest import Web, errors_of


def test_place_a_group_hold_see_it_in_the_report_and_lift_it(
        web: Web, api: Api, app: Any, cast: Cast, clock: FixedClock) -> None:
    gid = cast.group["id"]
    msg = post(api, cast.member, gid, "需要保全的群聊记录")
    drain(app)
    web.as_(cast.officer)
    assert "没有法律保全。" in web.get("/officer/holds").text
    r = web.post("/officer/holds", {"scope": "group", "scope_id": str(gid),
                                    "reason": "纪检调查 2026-17"})
    assert r.status_code == 303
    hold_id = int(re.fullmatch(r"/officer/holds\?placed=(\d+)", r.headers["location"])
                  .group(1))  # type: ignore[union-attr]
    (placed,) = audit_records(app, EventType.LEGAL_HOLD_PLACED)
    assert (placed.acting_id, placed.extra) == (
        cast.officer.id, {"scope": "group", "scope_id": gid, "reason": "纪检调查 2026-17"})
    assert outbox_events(app, EventType.LEGAL_HOLD_PLACED)
    page = web.get("/officer/holds?placed=1").text
    assert f'id="hold-{hold_id}"' in page
    assert "纪检调查 2026-17" in page
    assert "保留 1 条消息文本" in page

    later(api, cast, clock, 400)
    web.as_(cast.officer)
    purge_all(app)
    assert text_of(app, msg["id"]) == "需要保全的群聊记录"
    report = web.get("/officer/retention").text
    assert "消息文本" in report
    assert "QUNGUAN_RETENTION_MESSAGES_DAYS" in report
    assert f'href="/officer/holds#hold-{hold_id}"' in report
    row = re.search(r"<tr><th scope=\"row\">消息文本</th>(.*?)</tr>", report, re.S)
    assert row
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[:3] == ["180", "0", "1"]  # kept 180 days, none due, one held past retention

    r = web.post(f"/officer/holds/{hold_id}/lift", {"reason": " "})
    assert r.status_code == 422
    assert errors_of(r.text) == {f"f-{hold_id}-reason-error": "请说明为何可以解除保全。"}
    assert not audit_records(app, EventType.LEGAL_HOLD_LIFTED)
    r = web.post(f"/officer/holds/{hold_id}/lift", {"reason": "调查结束"})
    assert (r.status_code, r.headers["location"]) == (303, f"/officer/holds?lifted={hold_id}")
    (lifted,) = audit_records(app, EventType.LEGAL_HOLD_LIFTED)
    assert (lifted.acting_id, lifted.extra["reason"]) == (cast.officer.id, "调查结束")
    assert f'id="hold-{hold_id}"' not in web.get("/officer/holds").text
    assert "调查结束" in web.get("/officer/holds?all=1").text
    # Lifting twice: the page says so next to that hold.
    r = web.post(f"/officer/holds/{hold_id}/lift", {"reason": "再解除一次"})
    assert r.status_code == 422
    assert errors_of(r.text) == {f"lift-{hold_id}-errors": "该法律保全已被解除。"}
    purge_all(app)
    assert text_of(app, msg["id"]) is None


def test_hold_form_errors_sit_next_to_their_field(web: Web, api: Api, app: Any,
                                                  cast: Cast) -> None:
    web.as_(cast.officer)
    r = web.post("/officer/holds", {"scope": "planet", "scope_id": "x", "reason": ""})
    assert r.status_code == 422
    assert errors_of(r.text) == {"f-scope-error": "请选择要保全的对象。",
                                 "f-scope_id-error": "请输入案件、群组或账号的编号。",
                                 "f-reason-error": "请说明为何必须保留这些内容。"}
    for scope, sentence in (("case", "没有此案件：请填写审核条目的编号。"),
                            ("group", "没有此群组。"), ("account", "没有此账号。")):
        r = web.post("/officer/holds", {"scope": scope, "scope_id": "987654",
                                        "reason": "纪检调查"})
        assert r.status_code == 422
        assert errors_of(r.text) == {"f-scope_id-error": sentence}
        assert ">纪检调查</textarea>" in r.text
        assert 'value="987654"' in r.text
    assert not audit_records(app, EventType.LEGAL_HOLD_PLACED)
    # A case and an account hold name their target.
    case_id = open_case(api, app, cast, post(api, cast.member, cast.group["id"], "待核查")["id"])
    web.as_(cast.officer)
    for scope, target in (("case", case_id), ("account", cast.member2.id)):
        r = web.post("/officer/holds", {"scope": scope, "scope_id": str(target),
                                        "reason": "纪检调查"})
        assert r.status_code == 303, errors_of(r.text)
    page = web.get("/officer/holds").text
    assert f'href="/officer/review/{case_id}"' in page
    assert cast.member2.display_name in page
    assert [r.extra["scope"] for r in audit_records(app, EventType.LEGAL_HOLD_PLACED)] == \
        ["case", "account"]
    assert f'href="/officer/review/{case_id}"' in web.get("/officer/retention").text


def test_members_cannot_place_or_lift_holds(web: Web, cast: Cast, app: Any) -> None:
    r = web.as_(cast.founder).post("/officer/holds", {
        "scope": "group", "scope_id": str(cast.group["id"]), "reason": "想保留"})
    assert r.status_code == 403
    assert web.post("/officer/holds/1/lift", {"reason": "x"}).status_code == 403
    assert not audit_records(app, EventType.LEGAL_HOLD_PLACED)
    r = web.as_(cast.officer).post("/officer/holds/987654/lift", {"reason": "x"})
    assert r.status_code == 404
