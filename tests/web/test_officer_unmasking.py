"""The console's dual-control unmasking: asking with a case and a reason (errors next to their
field), approval or rejection by a different officer, the requester's one read through the
vault path (no-store), and that read the only page the personal-data scan lets through."""

from __future__ import annotations

import re
from typing import Any

from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, is_vault_page, outbox_events
from tests.enforcement.review_helpers import second_officer
from tests.governance.helpers import open_case, post
from tests.web.conftest import Web, errors_of
from tests.web.test_routes import ACCESS, concrete

REASON = "纪检调查 2026-17 号"


def a_case(api: Api, app: Any, cast: Cast) -> int:
    message = post(api, cast.member, cast.group["id"], "需要核查的消息")
    return open_case(api, app, cast, message["id"])


def ask(web: Web, case_id: int, account_id: int) -> int:
    r = web.post("/officer/unmaskings", {"case_id": str(case_id), "account_id": str(account_id),
                                         "reason": REASON})
    assert r.status_code == 303, errors_of(r.text)
    found = re.fullmatch(r"/officer/unmaskings/(\d+)\?requested=1", r.headers["location"])
    assert found
    return int(found.group(1))


def test_request_form_shows_each_error_next_to_its_field(web: Web, api: Api, app: Any,
                                                         cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    web.as_(cast.officer)
    r = web.post("/officer/unmaskings", {"case_id": "abc", "account_id": "3",
                                         "cluster_id": "4", "reason": " "})
    assert r.status_code == 422
    assert errors_of(r.text) == {"f-case_id-error": "请输入案件（审核条目）编号。",
                                 "f-account_id-error": "请只填写账号或谣言簇之一。",
                                 "f-reason-error": "请说明为何需要查看身份。"}
    assert 'value="abc"' in r.text  # what was typed is kept
    r = web.post("/officer/unmaskings", {"case_id": str(case_id), "reason": REASON})
    assert errors_of(r.text) == {"f-account_id-error": "请填写账号，或填写谣言簇以查明其首发者。"}
    assert f">{REASON}</textarea>" in r.text
    # Refusals of the action, each next to its field.
    r = web.post("/officer/unmaskings", {"case_id": "987654", "account_id": str(cast.member.id),
                                         "reason": REASON})
    assert errors_of(r.text) == {"f-case_id-error": "没有此案件：请填写审核条目的编号。"}
    r = web.post("/officer/unmaskings", {"case_id": str(case_id),
                                         "account_id": str(cast.newcomer.id), "reason": REASON})
    assert r.status_code == 422
    assert list(errors_of(r.text)) == ["f-account_id-error"]
    assert "没有经过核验的姓名和身份证号" in errors_of(r.text)["f-account_id-error"]
    r = web.post("/officer/unmaskings", {"case_id": str(case_id), "cluster_id": "987654",
                                         "reason": REASON})
    assert errors_of(r.text) == {"f-cluster_id-error": "没有此谣言簇。"}
    assert not audit_records(app, EventType.UNMASK_REQUESTED)
    # In English when the officer chose it.
    web.client.cookies.set("qunguan_lang", "en")
    r = web.post("/officer/unmaskings", {"case_id": "", "account_id": str(cast.member.id),
                                         "reason": REASON})
    assert errors_of(r.text) == {
        "f-case_id-error": "Enter the number of the case (a review item)."}


def test_members_cannot_ask_or_decide(web: Web, api: Api, app: Any, cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    r = web.as_(cast.member).post("/officer/unmaskings", {
        "case_id": str(case_id), "account_id": str(cast.member2.id), "reason": "好奇"})
    assert r.status_code == 403
    assert not audit_records(app, EventType.UNMASK_REQUESTED)
    web.as_(cast.officer)
    request_id = ask(web, case_id, cast.member.id)
    for action in ("approve", "reject", "reveal"):
        r = web.as_(cast.member2).post(f"/officer/unmaskings/{request_id}/{action}",
                                       {"note": "同意"})
        assert r.status_code == 403, action
    assert web.get(f"/officer/unmaskings/{request_id}").status_code == 403
    assert not audit_records(app, EventType.UNMASK_APPROVED)


def test_ask_approve_by_another_officer_and_read_once(web: Web, api: Api, app: Any,
                                                      cast: Cast) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    web.as_(cast.officer)
    request_id = ask(web, case_id, cast.member.id)
    (asked,) = audit_records(app, EventType.UNMASK_REQUESTED)
    assert (asked.acting_id, asked.extra["case_id"], asked.extra["reason"]) == \
        (cast.officer.id, case_id, REASON)
    listed = web.get("/officer/unmaskings").text
    assert f'href="/officer/unmaskings/{request_id}"' in listed
    assert cast.member.display_name in listed
    assert "等待第二名官员审批" in listed
    page = web.get(f"/officer/unmaskings/{request_id}?requested=1").text
    assert "双重控制：申请由你提出" in page
    assert f'action="/officer/unmaskings/{request_id}/approve' not in page
    # A forged approval of one's own request: refused, in the officer's language.
    r = web.post(f"/officer/unmaskings/{request_id}/approve", {"note": ""})
    assert r.status_code == 422
    assert "双重控制" in errors_of(r.text)["form-errors"]
    r = web.post(f"/officer/unmaskings/{request_id}/reveal")
    assert r.status_code == 409
    assert "尚未由第二名官员批准" in errors_of(r.text)["form-errors"]
    assert not audit_records(app, EventType.UNMASK_APPROVED)

    web.as_(officer2)
    page = web.get(f"/officer/unmaskings/{request_id}").text
    assert f'action="/officer/unmaskings/{request_id}/approve#decide"' in page
    r = web.post(f"/officer/unmaskings/{request_id}/reject", {"note": "  "})
    assert r.status_code == 422
    assert errors_of(r.text) == {"f-reject-note-error": "请说明理由：申请人会看到。"}
    r = web.post(f"/officer/unmaskings/{request_id}/approve", {"note": "同意，限本案使用"})
    assert (r.status_code, r.headers["location"]) == \
        (303, f"/officer/unmaskings/{request_id}?decided=1")
    (approved,) = audit_records(app, EventType.UNMASK_APPROVED)
    assert approved.acting_id == officer2.id
    assert outbox_events(app, EventType.UNMASK_APPROVED)
    r = web.post(f"/officer/unmaskings/{request_id}/approve", {"note": ""})
    assert errors_of(r.text)["form-errors"] == "该申请已被批准或驳回。"
    # The approver may not read it: not found, as the API answers.
    r = web.post(f"/officer/unmaskings/{request_id}/reveal")
    assert r.status_code == 404
    assert "Read once" not in web.get(f"/officer/unmaskings/{request_id}").text

    web.as_(cast.officer)
    page = web.get(f"/officer/unmaskings/{request_id}").text
    assert f'action="/officer/unmaskings/{request_id}/reveal"' in page
    r = web.post(f"/officer/unmaskings/{request_id}/reveal")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"].startswith("no-store")
    assert cast.member.legal_name
    assert cast.member.id_number
    assert re.search(rf'id="legal-name">{re.escape(cast.member.legal_name)}<', r.text)
    assert re.search(rf'id="id-number">{re.escape(cast.member.id_number)}<', r.text)
    # Through the vault: its own record with the purpose and the request reference.
    read = [x for x in audit_records(app, EventType.VAULT_READ)
            if x.extra.get("request_ref") == f"unmask-request-{request_id}"]
    assert len(read) == 1
    assert read[0].acting_id == cast.officer.id
    assert f"case {case_id}" in read[0].extra["purpose"]
    (revealed,) = audit_records(app, EventType.UNMASK_REVEALED)
    assert revealed.extra["approved_by"] == officer2.id
    # Once: a second read (a reload re-posts) is refused and reads nothing.
    r = web.post(f"/officer/unmaskings/{request_id}/reveal")
    assert r.status_code == 409
    assert errors_of(r.text)["form-errors"] == "身份已显示过一次。如需再次查看，须重新申请。"
    assert len(audit_records(app, EventType.UNMASK_REVEALED)) == 1
    # Lists and pages never carry the identity (the scan checks every page too).
    for path in ("/officer/unmaskings", f"/officer/unmaskings/{request_id}"):
        text = web.get(path).text
        assert cast.member.legal_name not in text
        assert cast.member.id_number not in text
    for record in (asked, approved, revealed, *read):
        assert cast.member.legal_name not in str(record.extra)


def test_a_rejected_request_and_a_passed_window_read_nothing(web: Web, api: Api, app: Any,
                                                             cast: Cast,
                                                             clock: FixedClock) -> None:
    case_id = a_case(api, app, cast)
    officer2 = second_officer(app, cast)
    web.as_(cast.officer)
    rejected = ask(web, case_id, cast.member.id)
    late = ask(web, case_id, cast.member2.id)
    web.as_(officer2)
    assert web.post(f"/officer/unmaskings/{rejected}/reject",
                    {"note": "与本案无关"}).status_code == 303
    assert web.post(f"/officer/unmaskings/{late}/approve").status_code == 303
    assert audit_records(app, EventType.UNMASK_REJECTED)[-1].extra["note"] == "与本案无关"
    web.as_(cast.officer)
    assert "已驳回" in web.get(f"/officer/unmaskings/{rejected}").text
    r = web.post(f"/officer/unmaskings/{rejected}/reveal")
    assert r.status_code == 409
    clock.advance(minutes=31)
    page = web.get(f"/officer/unmaskings/{late}").text
    assert "查看期限已过" in page
    assert f'action="/officer/unmaskings/{late}/reveal"' not in page
    r = web.post(f"/officer/unmaskings/{late}/reveal")
    assert r.status_code == 409
    assert errors_of(r.text)["form-errors"] == "查看已批准身份的期限已过。请重新申请。"
    assert not audit_records(app, EventType.UNMASK_REVEALED)


def test_the_read_is_the_only_page_the_personal_data_scan_lets_through(cast: Cast) -> None:
    exempt = [key for key in ACCESS
              if is_vault_page(key.split(" ")[0], concrete(key.split(" ", 1)[1], cast), 200)]
    assert exempt == ["POST /officer/unmaskings/{request_id}/reveal"]
    assert is_vault_page("POST", "/officer/unmaskings/12/reveal", 200)
    assert not is_vault_page("POST", "/officer/unmaskings/12/reveal", 409)  # a refusal
    assert not is_vault_page("GET", "/officer/unmaskings/12/reveal", 200)
    assert not is_vault_page("POST", "/officer/unmaskings/12/reveal/x", 200)
    assert not is_vault_page("POST", "/x/officer/unmaskings/12/reveal", 200)
    assert not is_vault_page("POST", "/officer/verifications/12/reveal", 200)
