"""Red-envelope alerts in the console: what the vote-buying detectors found (through the outbox,
as in production), with the explanation and the evidence, linking to the review item and the
group's alerts; officers only."""

from __future__ import annotations

import re
from typing import Any

from qunguan.enforcement.models import ReviewItem
from qunguan.envelopes.models import EnvelopeAlert
from qunguan.kernel.clock import FixedClock
from tests.conftest import Api, Cast
from tests.enforcement.review_helpers import drain, rows
from tests.envelopes.conftest import claim, send, topup
from tests.envelopes.test_elections import decide, declare
from tests.web.conftest import Web


def test_alerts_show_the_finding_its_evidence_and_its_case(web: Web, api: Api, cast: Cast,
                                                           app: Any, clock: FixedClock,
                                                           tmp_path: Any) -> None:
    web.as_(cast.officer)
    assert "没有红包预警。" in web.get("/officer/alerts").text
    path = tmp_path / "thresholds.json"
    # 3 of the group's 5 members is 60%: the share set here, below the default.
    path.write_text('{"fanout_min_recipients": 3, "fanout_min_total_fen": 1000, '
                    '"fanout_share": 0.6}')
    app.state.settings.votebuying_thresholds_file = path
    # The alerts of the detectors after the claims (the outbox's); at send time this envelope
    # would be held before anyone could claim it (tests/envelopes/test_send_screening.py).
    app.state.settings.votebuying_at_send = False
    topup(api, cast.founder, 10_000)
    assert declare(api, cast, clock, policy="disclose").status_code == 201
    envelope = send(api, cast.founder, cast.group["id"], 4000, 4, split="fixed").json()
    drain(app)
    for key in ("admin", "member", "member2"):
        assert claim(api, cast[key], envelope["id"]).status_code == 200
    drain(app)
    drain(app)
    [alert] = rows(app, EnvelopeAlert)
    [item] = rows(app, ReviewItem, subject_type="account", subject_id=cast.founder.id)

    page = web.get("/officer/alerts").text
    block = re.search(rf'<li id="alert-{alert.id}">(.*?)</li>', page, re.S)
    assert block
    text = block.group(1)
    assert "一名发送者的红包覆盖了群内大多数成员" in text  # the pattern, translated
    assert f'<dd lang="en">{alert.explanation}</dd>' in text.replace("&#39;", "'")
    assert cast.founder.display_name in text
    assert f'href="/officer/review/{item.id}"' in text
    assert f'href="/officer/groups/{cast.group["id"]}">{cast.group["name"]}</a>' in text
    assert f'href="/officer/alerts?group_id={cast.group["id"]}">该群的预警</a>' in text
    assert "村委会换届选举" in text
    assert "40.00 元" in text
    for name in ("管家丙", "成员丁", "成员戊"):
        assert name in text
    assert "<code>envelope_send</code>" in text
    assert text.count("<code>envelope_claim</code>") == 3
    assert "<td>10.00</td>" in text
    # Filtered by the group; decided cases say how.
    assert f"alert-{alert.id}" in web.get(f"/officer/alerts?group_id={cast.group['id']}").text
    assert f"alert-{alert.id}" not in web.get("/officer/alerts?group_id=987654").text
    decide(api, cast, item.id, "dismiss")
    web.as_(cast.officer)
    page = web.get("/officer/alerts").text
    assert re.search(rf'href="/officer/review/{item.id}">案件 {item.id}</a> · 不予处理', page)


def test_candidate_alerts_and_only_officers(web: Web, api: Api, cast: Cast, app: Any,
                                           clock: FixedClock) -> None:
    declare(api, cast, clock, policy="disclose", candidate_ids=[cast.member.id])
    topup(api, cast.member, 10_000)
    assert send(api, cast.member, cast.group["id"], 1000, 2).json()["status"] == "held"
    drain(app)
    [alert] = rows(app, EnvelopeAlert)
    page = web.as_(cast.officer).get("/officer/alerts").text
    assert f'id="alert-{alert.id}"' in page
    assert "候选人或关联人发送了红包" in page
    for person in (cast.member, cast.founder):
        r = web.as_(person).get("/officer/alerts")
        assert r.status_code == 403
        assert f"alert-{alert.id}" not in r.text


def test_findings_page_newest_first_and_skip_other_detectors(app: Any, cast: Cast) -> None:
    from qunguan.enforcement import ItemSource, SubjectType, review
    from qunguan.identity import queries as identity_queries

    uow = app.state.uows()
    try:
        system = identity_queries.system_account(uow)
        ids = []
        for subject, detector in ((cast.founder.id, "votebuying"), (cast.admin.id, "other"),
                                  (cast.member.id, "votebuying"),
                                  (cast.member2.id, "votebuying")):
            item, _new = review.open_item(
                uow, acting=system, source=ItemSource.SCREENING,
                subject_type=SubjectType.ACCOUNT, subject_id=subject,
                group_id=cast.group["id"], severity=3,
                rules=[{"rule": f"{detector}_x", "detector": detector, "automated": True,
                        "alert_id": subject}], automated=True)
            ids.append(item.id)
        uow.commit()
        officer = identity_queries.get_account(uow, cast.officer.id)
        first, cursor = review.detector_findings(uow, viewer=officer, detector="votebuying",
                                                 limit=2)
        assert [f["item_id"] for f in first] == [ids[3], ids[2]]
        assert cursor == ids[2]
        rest, cursor = review.detector_findings(uow, viewer=officer, detector="votebuying",
                                                before_id=cursor, limit=2)
        assert [(f["item_id"], f["alert_id"]) for f in rest] == [(ids[0], cast.founder.id)]
        assert cursor is None
        none, _ = review.detector_findings(uow, viewer=officer, detector="votebuying",
                                           group_id=987654)
        assert none == []
    finally:
        uow.close()


def test_a_held_envelope_is_released_or_refused_from_its_case_page(
        web: Web, api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    """A held envelope's case offers what applies to an envelope (release, refuse), in the
    officer's language, and refusing it there refunds its sender; no message decision (label)
    and no sanction, which always fails on an envelope."""
    declare(api, cast, clock, policy="hold")
    topup(api, cast.member, 10_000)
    envelope = send(api, cast.member, cast.group["id"], 1000, 2).json()
    assert envelope["status"] == "held"
    drain(app)
    [item] = rows(app, ReviewItem, subject_type="envelope", subject_id=envelope["id"])
    web.as_(cast.officer)
    assert web.post(f"/officer/review/{item.id}/claim").status_code == 303
    page = web.get(f"/officer/review/{item.id}").text
    for shown in ("放行红包", "拒绝红包（退回发送人）"):
        assert shown in page
    for hidden in ('value="sanction"', 'value="label"', 'name="kind"'):
        assert hidden not in page
    web.client.cookies.set("qunguan_lang", "en")
    assert "Refuse the envelope (its sender is refunded)" in web.get(
        f"/officer/review/{item.id}").text
    web.client.cookies.set("qunguan_lang", "zh_CN")
    r = web.post(f"/officer/review/{item.id}/decide",
                 {"decision": "remove", "reason": "选举期间不得发放红包"})
    assert (r.status_code, r.headers["location"]) == (303, f"/officer/review/{item.id}?decided=1")
    drain(app)
    shown = api.get(f"/api/envelopes/{envelope['id']}", as_=cast.member).json()
    assert shown["status"] == "refused"
