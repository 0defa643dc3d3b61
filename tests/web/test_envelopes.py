"""Red envelope pages: wallet top-up (sandbox), sending fixed and lucky envelopes, opening,
who claimed how much; amounts are yuan typed in a form, kept as integer fen."""

from __future__ import annotations

import re
from typing import Any

from qunguan.envelopes import actions
from qunguan.envelopes.models import Envelope
from qunguan.identity import queries as identity_queries
from qunguan.kernel.clock import FixedClock
from qunguan.kernel.events import EventType
from tests.conftest import Api, Cast, audit_records, outbox_events
from tests.envelopes.conftest import balance, send, topup
from tests.envelopes.test_elections import declare
from tests.web.conftest import Web, errors_of


def key_of(html: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_top_up_send_open_and_see_who_claimed(web: Web, cast: Cast, app: Any,
                                              clock: FixedClock) -> None:
    gid = cast.group["id"]
    web.as_(cast.founder)
    page = web.get(f"/groups/{gid}/envelopes").text
    assert "沙盒：非真实资金" in page
    r = web.post(f"/groups/{gid}/wallet/topup", {"amount_yuan": "100", "key": key_of(page)})
    assert r.status_code == 303
    assert balance(app, cast.founder) == 10000
    # Bad amounts: errors next to the field, the typed text kept; nothing moves.
    page = web.get(f"/groups/{gid}/envelopes").text
    for total, parts in (("8.888", "2"), ("abc", "2"), ("-1", "2"), ("1e3", "2")):
        r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": total, "parts": parts,
                                                  "split": "fixed", "key": key_of(page)})
        assert r.status_code == 422
        assert errors_of(r.text)["f-total_yuan-error"] == "请输入以元为单位的金额，例如 8.88。"
        assert f'value="{total}"' in r.text
    r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": "10.01", "parts": "2",
                                              "split": "fixed", "key": key_of(page)})
    assert errors_of(r.text)["f-parts-error"] == "普通红包的金额须能被个数整除。"
    assert balance(app, cast.founder) == 10000
    key = key_of(page)
    r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": "8.88", "parts": "2",
                                              "split": "fixed", "key": key})
    assert r.status_code == 303
    # The same form sent twice (a double click) sends one envelope.
    r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": "8.88", "parts": "2",
                                              "split": "fixed", "key": key})
    assert r.status_code == 303
    assert len(audit_records(app, EventType.ENVELOPE_SENT)) == 1
    assert balance(app, cast.founder) == 10000 - 888
    envelope_id = outbox_events(app, EventType.ENVELOPE_SENT)[-1].payload["envelope_id"]

    web.as_(cast.member)
    page = web.get(f"/groups/{gid}/envelopes").text
    assert f'action="/envelopes/{envelope_id}/open"' in page
    r = web.post(f"/envelopes/{envelope_id}/open")
    assert r.status_code == 200
    assert "你抢到了 4.44 元" in r.text
    assert balance(app, cast.member) == 444
    page = web.get(f"/groups/{gid}/envelopes").text
    assert f'action="/envelopes/{envelope_id}/open"' not in page
    assert re.search(r"<td>成员丁</td><td>4\.44</td>", page)
    r = web.post(f"/envelopes/{envelope_id}/open")
    assert r.status_code == 409
    assert errors_of(r.text)["envelope-errors"] == "你已领过这个红包。"
    assert balance(app, cast.member) == 444
    # The newcomer is not verified: opening is refused with the reason.
    r = web.as_(cast.newcomer).post(f"/envelopes/{envelope_id}/open")
    assert r.status_code == 409
    assert errors_of(r.text)["envelope-errors"] == "请先完成实名认证。"
    assert web.as_(cast.outsider).get(f"/groups/{gid}/envelopes").status_code == 404


def test_lucky_envelope_and_its_refund_shown(web: Web, cast: Cast, app: Any,
                                             clock: FixedClock) -> None:
    gid = cast.group["id"]
    web.as_(cast.founder)
    page = web.get(f"/groups/{gid}/envelopes").text
    web.post(f"/groups/{gid}/wallet/topup", {"amount_yuan": "20", "key": key_of(page)})
    r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": "10", "parts": "3",
                                              "split": "lucky", "key": "lucky-key-0001"})
    assert r.status_code == 303
    envelope_id = outbox_events(app, EventType.ENVELOPE_SENT)[-1].payload["envelope_id"]
    web.as_(cast.member).post(f"/envelopes/{envelope_id}/open")
    clock.advance(hours=25)
    uow = app.state.uows()
    actions.do_refund_envelope(uow, acting=identity_queries.system_account(uow),
                               envelope_id=envelope_id)
    uow.commit()
    uow.close()
    page = web.as_(cast.founder).get(f"/groups/{gid}/envelopes").text
    refunded = outbox_events(app, EventType.ENVELOPE_REFUNDED)[-1].payload
    assert "已过期" in page
    assert refunded["envelope_id"] == envelope_id


def test_held_envelope_shows_its_reason_to_the_sender_only(web: Web, api: Api, cast: Cast,
                                                          app: Any, clock: FixedClock) -> None:
    """An envelope held under an election's hold policy: its sender sees that it waits for a
    reviewer and why; another member of the group does not see it at all."""
    gid = cast.group["id"]
    topup(api, cast.founder, 10_000)
    assert declare(api, cast, clock, policy="hold").status_code == 201
    r = send(api, cast.founder, gid, 1000, 2)
    assert r.status_code == 201, r.text
    envelope = r.json()
    assert envelope["status"] == "held"
    page = web.as_(cast.founder).get(f"/groups/{gid}/envelopes").text
    assert f'id="envelope-{envelope["id"]}"' in page
    assert "等待审核" in page
    # The election's reason in the reader's language: Chinese by default...
    assert "原因：选举“村委会换届选举”期间（截至 " in page
    assert "本群红包须经审核后才能领取。" in page
    assert "The election" not in page
    # ...English when the sender reads in English.
    web.client.cookies.set("qunguan_lang", "en")
    page = web.get(f"/groups/{gid}/envelopes").text
    assert "Reason: The election &#39;村委会换届选举&#39; (until " in page
    assert "须经审核" not in page
    web.client.cookies.set("qunguan_lang", "zh_CN")
    assert f'action="/envelopes/{envelope["id"]}/open"' not in page
    page = web.as_(cast.member).get(f"/groups/{gid}/envelopes").text
    assert f'id="envelope-{envelope["id"]}"' not in page
    assert "换届" not in page


def test_an_old_held_envelope_without_chinese_shows_the_stored_reason(
        web: Web, api: Api, cast: Cast, app: Any, clock: FixedClock) -> None:
    """Envelopes held before the Chinese reason was kept (migration 0014) have only
    ``hold_reason``: the Chinese page shows it as it is."""
    gid = cast.group["id"]
    topup(api, cast.founder, 10_000)
    declare(api, cast, clock, policy="hold")
    envelope = send(api, cast.founder, gid, 1000, 2).json()
    uow = app.state.uows()
    row = uow.session.get(Envelope, envelope["id"])
    assert row is not None
    assert row.hold_reason_zh
    row.hold_reason_zh = None
    uow.commit()
    uow.close()
    assert api.get(f"/api/envelopes/{envelope['id']}",
                   as_=cast.founder).json()["hold_reason_zh"] is None
    page = web.as_(cast.founder).get(f"/groups/{gid}/envelopes").text
    assert "原因：The election &#39;村委会换届选举&#39;" in page


def test_the_send_form_shows_the_group_s_limit(web: Web, api: Api, cast: Cast) -> None:
    gid = cast.group["id"]
    page = web.as_(cast.founder).get(f"/groups/{gid}/envelopes").text
    hint = page.split('id="envelope-limits">')[1].split("</p>")[0]
    assert "200.00" in hint
    assert "1000.00" in hint
    r = api.put(f"/api/officer/groups/{gid}/envelope-limits", as_=cast.officer,
                json={"max_fen": 5000, "reason": "限额 a limit"})
    assert r.status_code == 200, r.text
    topup(api, cast.founder, 10_000)
    page = web.get(f"/groups/{gid}/envelopes").text
    hint = page.split('id="envelope-limits">')[1].split("</p>")[0]
    assert "50.00" in hint
    assert "限额" not in page  # the officer's reason is not for members
    r = web.post(f"/groups/{gid}/envelopes", {"total_yuan": "50.01", "parts": "1",
                                              "split": "fixed", "key": key_of(page)})
    assert r.status_code == 422
    assert errors_of(r.text)["f-total_yuan-error"]
