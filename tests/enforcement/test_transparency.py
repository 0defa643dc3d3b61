"""The transparency report (AT-5): the JSON figures, the HTML page, the command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qunguan.cli.main import app as cli
from qunguan.enforcement.transparency import build_report, render_html
from tests.conftest import Api, Cast
from tests.enforcement.review_helpers import (
    claim,
    decide,
    drain,
    items,
    post,
    report,
    second_officer,
)


def _activity(api: Api, cast: Cast, app: Any, clock: Any, hold_on: Any) -> None:
    """Two reports decided (one upheld with a warning, one dismissed), a held message
    released, an appeal overturned: a small month of work."""
    gid = cast.group["id"]
    reviewer = second_officer(app, cast)
    hold_on("待审")
    spam = post(api, cast.member2, gid, "广告")
    report(api, cast.member, "message", spam["id"], reason="spam")
    report(api, cast.admin, "message", spam["id"], reason="fraud")
    fine = post(api, cast.member2, gid, "开会通知")
    report(api, cast.member, "message", fine["id"], reason="rumor")
    post(api, cast.member, gid, "待审内容")
    drain(app)
    clock.advance(minutes=30)
    by_subject = {i.subject_id: i for i in items(app)}
    for subject, decision, extra in ((spam["id"], "sanction", {"sanction": {"kind": "warning"}}),
                                     (fine["id"], "dismiss", {})):
        claim(api, cast.officer, by_subject[subject].id)
        decide(api, cast.officer, by_subject[subject].id, decision, **extra)
    held = next(i for i in items(app) if i.source == "held")
    claim(api, cast.officer, held.id)
    decide(api, cast.officer, held.id, "dismiss", reason="正常")
    statement = next(s for s in api.get("/api/me/statements", as_=cast.member2).json()
                     if s["measure"] == "warning")
    r = api.post(f"/api/me/statements/{statement['id']}/appeal", as_=cast.member2,
                 json={"text": "不是广告"})
    assert r.status_code == 201, r.text
    clock.advance(hours=2)
    r = api.post(f"/api/officer/appeals/{r.json()['id']}/decide", as_=reviewer,
                 json={"outcome": "overturned", "reason": "确属误判"})
    assert r.status_code == 200, r.text


def test_figures(api: Api, cast: Cast, app: Any, clock: Any, hold_on: Any) -> None:
    _activity(api, cast, app, clock, hold_on)
    uow = app.state.uows()
    try:
        today = clock.now().date()
        data = build_report(uow, today, today)
        empty = build_report(uow, date(2020, 1, 1), date(2020, 1, 31))
    finally:
        uow.close()
    assert data["schema"] == "qunguan.transparency/1"
    assert data["period"] == {"from": today.isoformat(), "to": today.isoformat()}
    assert data["reports"]["received"] == 3
    assert data["reports"]["by_reason"] == {"fraud": 1, "rumor": 1, "spam": 1}
    assert (data["reports"]["upheld"], data["reports"]["not_upheld"]) == (2, 1)
    assert data["review_queue"]["by_source"] == {"held": 1, "report": 2}
    assert data["review_queue"]["by_decision"] == {"dismiss": 2, "sanction": 1}
    assert data["review_queue"]["open_at_end"] == 0
    assert data["actions"]["messages_removed"] == 1
    assert data["actions"]["held_messages_released"] == 1
    assert data["actions"]["sanctions_by_kind"] == {"warning": 1}
    assert data["automation"]["automated"]["messages_held"] == 1
    assert data["automation"]["automated"]["review_items_opened"] == 1
    assert data["automation"]["automated"]["sanctions"] == 0  # a human in every sanction
    assert data["automation"]["human"]["review_decisions"] == 3
    assert data["automation"]["human"]["review_decisions_on_automated_detection"] == 1
    assert data["appeals"] == {"filed": 1, "decided": 1, "upheld": 0, "overturned": 1}
    assert data["reversals"]["sanctions_overturned"] == 1
    assert data["reversals"]["sanctions_lifted_early"] == 0  # overturned, counted once
    assert data["median_seconds"]["report_to_decision"] == 1800.0
    assert data["median_seconds"]["appeal_to_decision"] == 7200.0
    assert empty["reports"]["received"] == 0
    assert empty["median_seconds"]["report_to_decision"] is None
    json.dumps(data)  # machine-readable as it stands


def test_html_escapes_everything() -> None:
    data: dict[str, Any] = {
        "schema": "qunguan.transparency/1", "generated_at": "2026-12-01T00:00:00Z",
        "period": {"from": "2026-11-01", "to": "2026-11-30"},
        "reports": {"received": 1, "by_reason": {"<script>alert(1)</script>": 1}},
        "review_queue": {}, "actions": {}, "automation": {}, "appeals": {}, "reversals": {},
        "median_seconds": {"report_to_decision": None}}
    page = render_html(data)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "2026-11-01" in page
    assert "透明度报告" in page


def test_command_writes_both_files(api: Api, cast: Cast, app: Any, clock: Any,
                                   hold_on: Any, database_url: str, tmp_path: Path) -> None:
    _activity(api, cast, app, clock, hold_on)
    day = clock.now().date().isoformat()
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(cli, ["report", "transparency", "--from", day, "--to", day,
                                 "--out", str(out), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    data = json.loads((out / f"transparency-{day}-{day}.json").read_text(encoding="utf-8"))
    assert data["reports"]["received"] == 3
    page = (out / f"transparency-{day}-{day}.html").read_text(encoding="utf-8")
    assert "Reports received" in page
    bad = runner.invoke(cli, ["report", "transparency", "--from", "2026-13-01", "--to", day,
                              "--database-url", database_url])
    assert bad.exit_code != 0
    backwards = runner.invoke(cli, ["report", "transparency", "--from", day, "--to",
                                    "2000-01-01", "--database-url", database_url])
    assert backwards.exit_code == 1


def test_lifted_early_counts_only_officers_lifts(api: Api, cast: Cast, app: Any,
                                                 clock: Any) -> None:
    """Not an overturned appeal (reversals.sanctions_overturned), not an emergency unfreeze
    (actions.emergency.unfreezes), and not a freeze a new group inherited."""
    assert api.post("/api/officer/emergency/freeze", as_=cast.officer,
                    json={"category": "work", "reason": "应急"}).status_code == 200
    r = api.post("/api/groups", as_=cast.founder, json={"name": "新群", "category": "work"})
    assert r.status_code == 201, r.text
    drain(app)
    assert api.post("/api/officer/emergency/unfreeze", as_=cast.officer,
                    json={"category": "work", "reason": "解除"}).status_code == 200
    r = api.post("/api/officer/sanctions", as_=cast.officer, json={
        "subject_type": "account", "subject_id": cast.member2.id, "kind": "restrict",
        "duration_seconds": 86400, "functions": ["forward"], "reason": "多次转发广告"})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/officer/sanctions/{r.json()['id']}/lift", as_=cast.officer,
                 json={"reason": "已整改"})
    assert r.status_code == 200, r.text
    uow = app.state.uows()
    try:
        today = clock.now().date()
        data = build_report(uow, today, today)
    finally:
        uow.close()
    assert data["reversals"]["sanctions_lifted_early"] == 1
    assert data["actions"]["emergency"]["freezes"] == 1
    assert data["actions"]["emergency"]["groups_frozen"] == 2
    assert data["actions"]["emergency"]["unfreezes"] == 1
