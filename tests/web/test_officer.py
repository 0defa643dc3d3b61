"""The officer console: the same actions as the API (audit records and events), errors next to
their field in the officer's language, four-eyes on appeals, officers only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.enforcement.review_helpers import (  # noqa: F401  (hold_on is a fixture)
    drain,
    hold_on,
    items,
    post,
    second_officer,
    statements_of,
)
from tests.web.conftest import Web, errors_of

PAGES = ["/officer", "/officer/review", "/officer/appeals", "/officer/sanctions",
         "/officer/debunks", "/officer/clusters", "/officer/policy", "/officer/elections",
         "/officer/audit", "/officer/unmaskings", "/officer/holds", "/officer/retention",
         "/officer/alerts", "/officer/groups"]


@pytest.mark.parametrize("path", PAGES)
def test_only_officers_see_the_console(path: str, web: Web, cast: Cast) -> None:
    r = web.as_(None).get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")
    for person in (cast.member, cast.founder):
        r = web.as_(person).get(path)
        assert r.status_code == 403, path
        assert "你无权" in r.text or "无权" in r.text
    r = web.as_(cast.officer).get(path)
    assert r.status_code == 200, r.text
    assert 'aria-current="page"' in r.text


def test_a_member_cannot_decide_through_the_console(web: Web, cast: Cast, api: Api, app: Any,
                                                    hold_on: Any) -> None:  # noqa: F811
    hold_on("待审")
    post(api, cast.member, cast.group["id"], "待审的消息")
    drain(app)
    item = items(app)[0]
    r = web.as_(cast.member2).post(f"/officer/review/{item.id}/claim")
    assert r.status_code == 403
    assert audit_records(app, EventType.REVIEW_ITEM_CLAIMED) == []


def _held_item(api: Api, cast: Cast, app: Any, hold_on: Any) -> Any:  # noqa: F811
    hold_on("待审")
    post(api, cast.member, cast.group["id"], "周五开会")
    message = post(api, cast.member, cast.group["id"], "这条待审的消息")
    post(api, cast.member2, cast.group["id"], "收到")
    drain(app)
    item = items(app)[0]
    assert item.subject_id == message["id"]
    return item


def test_queue_case_claim_and_remove(web: Web, cast: Cast, api: Api, app: Any,
                                     hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    web.as_(cast.officer)
    queue = web.get("/officer/review").text
    assert f'href="/officer/review/{item.id}"' in queue
    assert "发送前暂扣" in queue  # the source, in Chinese by default
    page = web.get(f"/officer/review/{item.id}").text
    assert "这条待审的消息" in page
    assert "周五开会" in page
    assert 'aria-current="true"' in page
    assert "认领" in page
    r = web.post(f"/officer/review/{item.id}/claim")
    assert (r.status_code, r.headers["location"]) == (303, f"/officer/review/{item.id}#decide")
    assert audit_records(app, EventType.REVIEW_ITEM_CLAIMED)[-1].acting_id == cast.officer.id

    # No reason and no decision: both errors at once, what was typed kept.
    r = web.post(f"/officer/review/{item.id}/decide", {"decision": "", "reason": " ",
                                                       "hours": "abc"})
    assert r.status_code == 422
    found = errors_of(r.text)
    assert set(found) == {"f-decision-error", "f-reason-error"}
    assert "请选择处理决定" in found["f-decision-error"]
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []

    r = web.post(f"/officer/review/{item.id}/decide", {"decision": "remove",
                                                       "reason": "散布未经证实的消息"})
    assert (r.status_code, r.headers["location"]) == (303, f"/officer/review/{item.id}?decided=1")
    record = audit_records(app, EventType.REVIEW_ITEM_DECIDED)[-1]
    assert record.acting_id == cast.officer.id
    assert record.extra["decision"] == "remove"
    assert outbox_events(app, EventType.REVIEW_ITEM_DECIDED)[-1].payload["item_id"] == item.id
    statement = statements_of(app, cast.member.id)[-1]
    assert statement.measure == "message_removed"
    assert "散布未经证实的消息" in statement.facts
    page = web.get(f"/officer/review/{item.id}?decided=1").text
    assert "已删除" in page
    assert f"说明 {statement.id}" in page


def test_sanction_decision_checks_fields_then_imposes(web: Web, cast: Cast, api: Api, app: Any,
                                                      hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    web.as_(cast.officer).post(f"/officer/review/{item.id}/claim")
    r = web.post(f"/officer/review/{item.id}/decide",
                 {"decision": "sanction", "reason": "屡次违规", "kind": "nonsense",
                  "hours": "0", "functions": ["fly"]})
    assert r.status_code == 422
    assert set(errors_of(r.text)) == {"f-kind-error", "f-hours-error", "f-functions-error"}
    assert 'value="屡次违规"' not in r.text
    assert ">屡次违规</textarea>" in r.text
    r = web.post(f"/officer/review/{item.id}/decide",
                 {"decision": "sanction", "reason": "屡次违规", "kind": "mute", "hours": "24"})
    assert r.status_code == 303, errors_of(r.text)
    sanction = audit_records(app, EventType.SANCTION_IMPOSED)[-1]
    assert sanction.acting_id == cast.officer.id
    assert sanction.subject_id == str(cast.member.id)


def test_another_officer_s_claim_is_explained(web: Web, cast: Cast, api: Api, app: Any,
                                              hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    other = second_officer(app, cast)
    api.post(f"/api/officer/review/{item.id}/claim", as_=other)
    r = web.as_(cast.officer).post(f"/officer/review/{item.id}/claim")
    assert r.status_code == 422
    assert "另一位值班人员正在审核" in errors_of(r.text)["form-errors"]
    r = web.post(f"/officer/review/{item.id}/decide", {"decision": "dismiss", "reason": "无"})
    assert r.status_code == 422
    assert audit_records(app, EventType.REVIEW_ITEM_DECIDED) == []


def test_appeal_four_eyes(web: Web, cast: Cast, api: Api, app: Any,
                          hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    web.as_(cast.officer).post(f"/officer/review/{item.id}/claim")
    web.post(f"/officer/review/{item.id}/decide", {"decision": "remove", "reason": "不实信息"})
    statement = statements_of(app, cast.member.id)[-1]
    r = api.post(f"/api/me/statements/{statement.id}/appeal", as_=cast.member,
                 json={"text": "这是会议通知，不是谣言。"})
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]
    listing = web.get("/officer/appeals").text
    assert f'href="/officer/appeals/{appeal_id}"' in listing
    page = web.get(f"/officer/appeals/{appeal_id}").text
    assert "这是会议通知，不是谣言。" in page
    assert "四眼原则" in page
    assert f'action="/officer/appeals/{appeal_id}/decide"' not in page
    # The form is not shown, and a forged post is refused by the action itself.
    r = web.post(f"/officer/appeals/{appeal_id}/decide", {"outcome": "upheld", "reason": "维持"})
    assert r.status_code == 422
    assert "四眼原则" in errors_of(r.text)["form-errors"]
    assert audit_records(app, EventType.APPEAL_DECIDED) == []

    other = second_officer(app, cast)
    web.as_(other)
    r = web.post(f"/officer/appeals/{appeal_id}/decide", {"outcome": "", "reason": ""})
    assert set(errors_of(r.text)) == {"f-outcome-error", "f-reason-error"}
    r = web.post(f"/officer/appeals/{appeal_id}/decide",
                 {"outcome": "overturned", "reason": "确为会议通知"})
    assert r.status_code == 303
    record = audit_records(app, EventType.APPEAL_DECIDED)[-1]
    assert record.acting_id == other.id
    assert record.extra["outcome"] == "overturned"
    assert record.extra["message_restored"] is True
    assert outbox_events(app, EventType.APPEAL_DECIDED)[-1].payload["appeal_id"] == appeal_id


def test_debunk_bank_add_edit_retire(web: Web, cast: Cast, app: Any) -> None:
    web.as_(cast.officer)
    r = web.post("/officer/debunks", {"claim": "", "verdict": "maybe", "refutation": "",
                                      "publisher": "", "source_url": "ftp://x",
                                      "published_on": "yesterday"})
    assert r.status_code == 422
    assert set(errors_of(r.text)) == {"f-claim-error", "f-verdict-error", "f-refutation-error",
                                      "f-publisher-error", "f-source_url-error",
                                      "f-published_on-error"}
    assert 'value="ftp://x"' in r.text
    assert audit_records(app, EventType.DEBUNK_ADDED) == []
    r = web.post("/officer/debunks", {"claim": "喝盐水能预防流感", "verdict": "false",
                                      "refutation": "盐水不能预防流感。", "publisher": "卫健委",
                                      "published_on": "2026-01-05"})
    assert r.status_code == 303
    debunk_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    assert audit_records(app, EventType.DEBUNK_ADDED)[-1].subject_id == str(debunk_id)
    r = web.post("/officer/debunks", {"claim": "喝盐水能预防流感", "verdict": "false",
                                      "refutation": "重复", "publisher": "卫健委"})
    assert r.status_code == 422
    assert "已有" in errors_of(r.text)["f-claim-error"]
    page = web.get(f"/officer/debunks/{debunk_id}").text
    assert 'name="version" value="1"' in page
    r = web.post(f"/officer/debunks/{debunk_id}", {
        "version": "1", "claim": "喝盐水能预防流感", "verdict": "misleading",
        "refutation": "盐水不能预防流感。", "publisher": "卫健委", "published_on": "2026-01-05",
        "language": "zh"})
    assert r.status_code == 303
    assert audit_records(app, EventType.DEBUNK_EDITED)[-1].subject_id == str(debunk_id)
    # An edit from a stale page is refused.
    r = web.post(f"/officer/debunks/{debunk_id}", {
        "version": "1", "claim": "喝盐水能预防流感", "verdict": "false",
        "refutation": "x", "publisher": "卫健委"})
    assert r.status_code == 422
    assert "重新加载" in errors_of(r.text)["form-errors"]
    r = web.post(f"/officer/debunks/{debunk_id}/retire", {"version": "2", "reason": ""})
    assert r.status_code == 422
    assert "f-retire-reason-error" in errors_of(r.text)
    r = web.post(f"/officer/debunks/{debunk_id}/retire", {"version": "2", "reason": "已过时"})
    assert r.status_code == 303
    assert audit_records(app, EventType.DEBUNK_RETIRED)[-1].subject_id == str(debunk_id)


def test_debunk_import_names_each_bad_row(web: Web, cast: Cast, app: Any) -> None:
    web.as_(cast.officer)
    bad = ("claim,verdict,refutation,publisher\n"
           "地震预报说明天有大地震,false,地震无法准确预报,地震局\n"
           "缺了核查方,false,没有核查方,\n"
           "数据,perhaps,说明,某机构\n")
    r = web.post("/officer/debunks/import", {"format": ""},
                 files={"file": ("bank.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    assert "没有导入任何条目" in errors_of(r.text)["import-errors"]
    lines = re.findall(r"第 (\d+) 行", r.text)
    assert lines == ["3", "4"]
    # Each row's problem in the officer's language, not the API's English.
    assert "publisher 为必填项，不能为空。" in r.text
    assert "verdict 必须是 " in r.text
    assert 'lang="en"' not in r.text.split('class="row-errors"')[1].split("</ul>")[0]
    assert audit_records(app, EventType.DEBUNKS_IMPORTED) == []
    good = "\n".join(json.dumps(row, ensure_ascii=False) for row in [
        {"claim": "地震预报说明天有大地震", "verdict": "false", "refutation": "地震无法准确预报",
         "publisher": "地震局"},
        {"claim": "地震预报说明天有大地震", "verdict": "false", "refutation": "重复一行",
         "publisher": "地震局"}])
    r = web.post("/officer/debunks/import", {"format": "jsonl"},
                 files={"file": ("bank.txt", good.encode(), "application/json")})
    assert r.status_code == 200, errors_of(r.text)
    assert "导入 2 行中的 1 行" in r.text
    assert audit_records(app, EventType.DEBUNKS_IMPORTED)[-1].extra["rows"] == 2
    r = web.post("/officer/debunks/import", {"format": "xml"},
                 files={"file": ("bank.xml", b"<x/>", "text/xml")})
    assert r.status_code == 422
    assert "f-format-error" in errors_of(r.text)


def test_policy_check_and_load(web: Web, cast: Cast, app: Any) -> None:
    web.as_(cast.officer)
    page = web.get("/officer/policy").text
    assert "pack.toml" in page
    names = re.findall(r'<option value="(rules/[^"]+)"', page)
    assert names
    r = web.post("/officer/policy", {"name": "rules/extra.toml", "content": "[[rule]]\nid = 1\n",
                                     "action": "check"})
    assert r.status_code == 422
    assert "rules/extra.toml" in r.text
    assert "策略包无效" in errors_of(r.text)["form-errors"]
    # Each problem in the officer's language (the file's own words kept as written).
    assert "id 只能由小写字母、数字、&#39;.&#39;、&#39;_&#39; 或 &#39;-&#39; 组成（最多 64 个）。" \
        in r.text
    r = web.post("/officer/policy", {"name": "rules/extra.toml", "action": "check",
                                     "content": "[[rule]]\nid = \"x\"\nbogus = 1\n"})
    assert "未知的规则键 &#39;bogus&#39;（可用：" in r.text
    assert "规则须用两种语言给出理由" in r.text
    r = web.post("/officer/policy", {"name": "../etc/passwd", "content": "x", "action": "load"})
    assert r.status_code == 422
    assert "f-name-error" in errors_of(r.text)
    assert audit_records(app, EventType.POLICY_LOADED) == []
    original = web.get(f"/officer/policy?file={names[0]}").text
    content = re.search(r'<textarea id="f-content"[^>]*>(.*?)</textarea>', original, re.S)
    assert content
    import html
    text = html.unescape(content.group(1))
    r = web.post("/officer/policy", {"name": names[0], "content": text, "action": "check"})
    assert r.status_code == 200
    assert "策略包有效" in r.text
    assert audit_records(app, EventType.POLICY_LOADED) == []
    r = web.post("/officer/policy", {"name": names[0], "content": text, "action": "load"})
    assert r.status_code == 303
    assert audit_records(app, EventType.POLICY_LOADED)[-1].extra["version"] == 1
    assert "版本 1" in web.get("/officer/policy").text


def test_dashboard_and_cascade_charts(web: Web, cast: Cast, api: Api, app: Any) -> None:
    from qunguan.web.officer.clusters import cascade_chart
    from qunguan.web.officer.dashboard import envelope_chart, flagged_chart

    web.as_(cast.officer)
    page = web.get("/officer").text
    assert "/static/vendor/echarts.min.js" in page
    data = re.search(r'id="flagged-data">(.*?)</script>', page, re.S)
    assert data
    assert json.loads(data.group(1))["xAxis"]["type"] == "category"
    chart = flagged_chart([("2026-01-02", "pii.phone", 3), ("2026-01-03", "pii.phone", 1)],
                          ["2026-01-01", "2026-01-02", "2026-01-03"], "t")
    assert chart["series"] == [{"type": "bar", "stack": "hits", "name": "pii.phone",
                                "data": [0, 3, 1]}]
    money = envelope_chart([("2026-01-01", 7, 2, 1050)], ["2026-01-01", "2026-01-02"], "元")
    assert money["series"][0]["data"] == ["10.50", "0.00"]
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    nodes = [{"message_id": 1, "group_id": 1, "group_name": "甲群", "sender_display_name": "甲",
              "created_at": start, "hop": 0, "parent_id": None, "copy_of_id": None,
              "new_group": True},
             {"message_id": 2, "group_id": 2, "group_name": "乙群", "sender_display_name": "乙",
              "created_at": start + timedelta(minutes=30), "hop": 1, "parent_id": 1,
              "copy_of_id": None, "new_group": True},
             {"message_id": 3, "group_id": 2, "group_name": "乙群", "sender_display_name": "丙",
              "created_at": start + timedelta(minutes=45), "hop": 0, "parent_id": None,
              "copy_of_id": 2, "new_group": False}]
    graph = cascade_chart(nodes, lambda s, **v: s % v if v else s)
    series = graph["series"][0]
    assert graph["yAxis"]["data"] == ["甲群 (1)", "乙群 (2)"]
    assert [d["value"] for d in series["data"]] == [[0.0, 0], [30.0, 1], [45.0, 1]]
    assert series["links"] == [
        {"source": "1", "target": "2", "lineStyle": {"type": "solid"}},
        {"source": "2", "target": "3", "lineStyle": {"type": "dashed"}}]
    assert web.get("/officer/clusters/999999").status_code == 404


def test_audit_status_page(web: Web, cast: Cast, app: Any) -> None:
    from qunguan.auditlog import actions as audit_actions
    from qunguan.identity import queries as identity_queries

    web.as_(cast.officer)
    page = web.get("/officer/audit").text
    assert "尚未签署" in page
    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        audit_actions.do_append(uow, acting=system)
        audit_actions.do_sign_checkpoint(uow, acting=system, force=True)
        audit_actions.do_self_check(uow, acting=system)
        uow.commit()
    finally:
        uow.close()
    page = web.get("/officer/audit").text
    assert "通过" in page
    assert "— " not in page
    assert "logged_in" in page or "account_registered" in page


def test_english_console(web: Web, cast: Cast) -> None:
    web.as_(cast.officer)
    web.client.cookies.set("qunguan_lang", "en")
    page = web.get("/officer/review").text
    assert "Review queue" in page
    assert "审核队列" not in page
    web.client.cookies.set("qunguan_lang", "zh_CN")
    assert "审核队列" in web.get("/officer/review").text


def test_bad_input_never_breaks_a_page(web: Web, cast: Cast, api: Api, app: Any,
                                       hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    web.as_(cast.officer).post(f"/officer/review/{item.id}/claim")
    huge = "长" * 100_000
    r = web.post(f"/officer/review/{item.id}/decide", {"decision": "remove", "reason": huge})
    assert r.status_code == 422
    assert errors_of(r.text)["f-reason-error"] == "内容太长。"
    r = web.post("/officer/debunks", {"claim": huge, "verdict": "false", "refutation": huge,
                                      "publisher": "卫健委"})
    assert r.status_code == 422
    assert set(errors_of(r.text)) == {"f-claim-error", "f-refutation-error"}
    assert audit_records(app, EventType.DEBUNK_ADDED) == []
    for path in ("/officer/review/abc", "/officer/review/0", "/officer/appeals/99999999",
                 "/officer/debunks/-1", "/officer/clusters/1e3", "/officer?days=0",
                 "/officer/debunks?before_id=x"):
        r = web.get(path)
        assert r.status_code in (404, 422), path
        assert "Traceback" not in r.text
    r = web.get("/officer/review?status=<script>&source=<b>")  # an unknown filter: all open
    assert r.status_code == 200
    assert "<script>" not in r.text.split("</head>")[1].replace("<script type", "")
    r = web.post("/officer/clusters/999999/breaker", {"state": "melt", "reason": ""})
    assert r.status_code == 404  # no such cluster: the page says so, nothing written
    r = web.post("/officer/clusters/999999/breaker", {"state": "tripped", "reason": "快"})
    assert r.status_code == 404
    assert audit_records(app, EventType.CLUSTER_BREAKER_SET) == []


def test_cascade_page_and_breaker(web: Web, cast: Cast, api: Api, app: Any) -> None:
    post(api, cast.member, cast.group["id"], "紧急通知：明天全市停水三天，请大家赶紧囤水！")
    drain(app)
    web.as_(cast.officer)
    listing = web.get("/officer/clusters").text
    found = re.search(r'href="/officer/clusters/(\d+)"', listing)
    assert found, "posting a message gives it a cluster"
    cluster_id = int(found.group(1))
    page = web.get(f"/officer/clusters/{cluster_id}").text
    chart = json.loads(re.search(r'id="cascade-data">(.*?)</script>', page, re.S).group(1))
    assert chart["series"][0]["type"] == "graph"
    assert chart["yAxis"]["data"] == [f'{cast.group["name"]} ({cast.group["id"]})']
    assert "成员丁" in page  # the sender by display name in the list view
    r = web.post(f"/officer/clusters/{cluster_id}/breaker",
                 {"state": "tripped", "max_targets": "5000", "reason": ""})
    assert r.status_code == 422
    assert set(errors_of(r.text)) == {"f-max_targets-error", "f-reason-error"}
    r = web.post(f"/officer/clusters/{cluster_id}/breaker",
                 {"state": "tripped", "max_targets": "2", "reason": "扩散太快"})
    assert r.status_code == 303
    record = audit_records(app, EventType.CLUSTER_BREAKER_SET)[-1]
    assert record.acting_id == cast.officer.id
    assert "已熔断" in web.get(f"/officer/clusters/{cluster_id}").text


def test_dashboard_counts_hits_and_envelope_volume(web: Web, cast: Cast, api: Api,
                                                   app: Any) -> None:
    """The daily aggregates the charts draw, on both backends (date() of a timestamp)."""
    from qunguan import screening
    from qunguan.screening import Hit, Reason, VerdictKind

    uow = app.state.uows()
    try:
        hit = Hit(rule="pii.phone", mode="shadow", action=VerdictKind.HOLD, severity=2,
                  stage="pre", pack_version=0,
                  reason=Reason(rule="pii.phone", detector="pii", text_zh="x", text_en="x"))
        screening.record_hits(uow, [hit, hit], message_id=None, group_id=cast.group["id"],
                              account_id=cast.member.id)
        uow.commit()
    finally:
        uow.close()
    r = api.post("/api/me/wallet/topup", as_=cast.founder, json={"amount_fen": 5000},
                 headers={"Idempotency-Key": "dash-topup"})
    assert r.status_code == 201, r.text
    for i, total in enumerate((1050, 250)):
        r = api.post(f"/api/groups/{cast.group['id']}/envelopes", as_=cast.founder,
                     json={"total_fen": total, "parts": 1},
                     headers={"Idempotency-Key": f"dash-envelope-{i}"})
        assert r.status_code == 201, r.text
    page = web.as_(cast.officer).get("/officer").text
    flagged = json.loads(re.search(r'id="flagged-data">(.*?)</script>', page, re.S).group(1))
    series = {s["name"]: s["data"] for s in flagged["series"]}
    assert sum(series["pii.phone"]) == 2
    money = json.loads(re.search(r'id="envelopes-data">(.*?)</script>', page, re.S).group(1))
    assert money["series"][0]["name"] == f"#{cast.group['id']}"
    assert "13.00" in money["series"][0]["data"]
    assert "<td>13.00</td>" in page
    assert "<td>2</td>" in page


def test_election_periods_shade_the_envelope_chart(web: Web, cast: Cast, api: Api) -> None:
    from qunguan.web.officer.dashboard import election_areas

    r = api.post("/api/officer/elections", as_=cast.officer, json={
        "name": "第三届职工代表选举", "scope": "group", "group_id": cast.group["id"],
        "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-20T00:00:00Z",
        "candidate_ids": [cast.member.id]})
    assert r.status_code == 201, r.text
    web.as_(cast.officer)
    page = web.get("/officer/elections").text
    assert "第三届职工代表选举" in page
    assert "成员丁" in page
    assert web.as_(cast.member).get("/officer/elections").status_code == 403

    class E:
        name = "选举"
        starts_at = datetime(2026, 1, 3, 8, tzinfo=UTC)
        ends_at = datetime(2026, 1, 9, 8, tzinfo=UTC)
        cancelled_at = None

    days = ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert election_areas([E()], days) == [[{"name": "选举", "xAxis": "2026-01-05"},
                                            {"xAxis": "2026-01-07"}]]
    E.cancelled_at = E.ends_at  # type: ignore[assignment]
    assert election_areas([E()], days) == []


def test_case_page_shows_automation_s_evidence(web: Web, cast: Cast, app: Any) -> None:
    """A vote-buying alert reaches the queue as an item whose rule carries its evidence."""
    from qunguan.enforcement import ItemSource, SubjectType, review
    from qunguan.identity import queries as identity_queries

    uow = app.state.uows()
    try:
        item, _new = review.open_item(
            uow, acting=identity_queries.system_account(uow), source=ItemSource.SCREENING,
            subject_type=SubjectType.ACCOUNT, subject_id=cast.founder.id,
            group_id=cast.group["id"], severity=3,
            rules=[{"rule": "votebuying_targeted", "detector": "votebuying", "automated": True,
                    "explanation": "选举期内向候选人关联账号定向发红包",
                    "evidence": {"envelope_ids": [7, 9], "total_fen": 88800}}],
            automated=True)
        uow.commit()
        item_id = item.id
    finally:
        uow.close()
    page = web.as_(cast.officer).get(f"/officer/review/{item_id}").text
    assert "选举期内向候选人关联账号定向发红包" in page
    assert "&#34;total_fen&#34;: 88800" in page
    assert f"账号 {cast.founder.id}" in page


def test_lifting_a_sanction_early_needs_a_reason(web: Web, cast: Cast, api: Api, app: Any,
                                                 hold_on: Any) -> None:  # noqa: F811
    item = _held_item(api, cast, app, hold_on)
    web.as_(cast.officer).post(f"/officer/review/{item.id}/claim")
    r = web.post(f"/officer/review/{item.id}/decide",
                 {"decision": "sanction", "reason": "屡次违规", "kind": "mute", "hours": "24"})
    assert r.status_code == 303, errors_of(r.text)
    sanction_id = audit_records(app, EventType.SANCTION_IMPOSED)[-1].extra["sanction_id"]
    page = web.get("/officer/sanctions").text
    assert f'action="/officer/sanctions/{sanction_id}/lift"' in page
    assert "提前解除" in page

    r = web.post(f"/officer/sanctions/{sanction_id}/lift", {"reason": "  "})
    assert r.status_code == 422
    assert errors_of(r.text)[f"f-{sanction_id}-reason-error"] == "请说明为何提前解除该处罚。"
    assert audit_records(app, EventType.SANCTION_LIFTED) == []
    r = web.post(f"/officer/sanctions/{sanction_id}/lift", {"reason": "已认识错误"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/officer/sanctions?lifted={sanction_id}"
    [lifted] = audit_records(app, EventType.SANCTION_LIFTED)
    assert lifted.acting_id == cast.officer.id
    assert lifted.extra["reason"] == "已认识错误"
    assert lifted.extra["overturned"] is False
    assert [e.payload["account_ids"] for e in outbox_events(app, EventType.SANCTION_LIFTED)] \
        == [[cast.member.id]]
    page = web.get(f"/officer/sanctions?lifted={sanction_id}").text
    assert "处罚已解除，已通知当事方。" in page
    assert f"由 {cast.officer.display_name} 解除: 已认识错误" in page
    assert f'action="/officer/sanctions/{sanction_id}/lift"' not in page
    # Lifting it again: explained beside the form, nothing recorded twice.
    r = web.post(f"/officer/sanctions/{sanction_id}/lift", {"reason": "再次解除"})
    assert r.status_code == 422
    assert "该处罚已解除或已到期。" in r.text
    assert len(audit_records(app, EventType.SANCTION_LIFTED)) == 1
    assert web.post("/officer/sanctions/987654/lift", {"reason": "x"}).status_code == 404
    assert web.as_(cast.member).post(f"/officer/sanctions/{sanction_id}/lift",
                                     {"reason": "x"}).status_code in (303, 403, 404)


def test_case_bundle_downloads_as_a_zip_that_verifies(web: Web, cast: Cast, api: Api,
                                                      app: Any, hold_on: Any,  # noqa: F811
                                                      tmp_path: Any) -> None:
    import io
    import zipfile

    from qunguan.governance import proofs
    from qunguan.governance.bundle import BundleError, verify

    item = _held_item(api, cast, app, hold_on)
    page = web.as_(cast.officer).get(f"/officer/review/{item.id}").text
    assert f'action="/officer/review/{item.id}/export"' in page
    assert "下载案件材料包" in page
    r = web.post(f"/officer/review/{item.id}/export")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"].startswith("no-store")
    assert f'filename="qunguan-case-{item.id}.zip"' in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(archive.namelist()) == sorted([
        f"case-{item.id}.json", f"case-{item.id}.html", "verifier-keys.txt",
        "HOW-TO-VERIFY.txt"])
    raw = archive.read(f"case-{item.id}.json")
    keys = archive.read("verifier-keys.txt").decode().splitlines()
    verified = verify(raw, archive.read(f"case-{item.id}.html"),
                      check_proofs=proofs.checker(keys))
    assert verified.case_id == item.id
    assert verified.records > 0
    assert verified.proven == verified.records  # every record proven in the signed log
    assert "verify-bundle" in archive.read("HOW-TO-VERIFY.txt").decode()
    [exported] = audit_records(app, EventType.CASE_EXPORTED)
    assert exported.acting_id == cast.officer.id
    # One byte changed in the bundle: refused.
    broken = raw.replace(b"\"case_id\"", b"\"case_iD\"", 1)
    assert broken != raw
    with pytest.raises(BundleError):
        verify(broken, None, check_proofs=proofs.checker(keys))
    assert web.post("/officer/review/987654/export").status_code == 404
    assert web.post(f"/officer/review/{item.id}/export", csrf=False).status_code == 403
