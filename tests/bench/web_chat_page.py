"""Server time of the web chat page of a group with 10,000 messages (issue 7: under 300 ms,
paginated), on SQLite and PostgreSQL.

A group of 20 members holds 10,000 messages (every tenth a reply, every fiftieth carrying a
debunk card). The page is asked for in-process through the real application (cookie session,
CSRF cookie, rendering in Chinese); "server time" is measured by an ASGI wrapper from the
request entering the application to the last byte of the response leaving it, so the test
client's own work is not in it. Also measured: an older page deep in the history (a cursor),
one message's live-update fragment, and the list of groups with its unread counts (10,000
unread). Writes its section of BENCHMARKS.md between its own markers.

Run: ``make bench`` or ``python -m tests.bench.web_chat_page`` (BENCH_WEB_REQUESTS=200).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qunguan.app import create_app
from qunguan.config import Settings
from qunguan.groups import Category
from qunguan.groups import actions as group_actions
from qunguan.groups.models import JoinPolicy
from qunguan.identity import SESSION_COOKIE
from qunguan.identity import actions as identity_actions
from qunguan.messaging.fingerprint import fingerprint
from qunguan.messaging.models import Message as MessageRow
from qunguan.messaging.queries import encode_cursor
from qunguan.migrations import upgrade
from tests.bench.gate_latency import percentile
from tests.bench.http_throughput import PG, machine, pg_available
from tests.bench.report import temporary_pg_database, write_section
from tests.cast import resident_id

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 10_000
MEMBERS = 20
REQUESTS = int(os.environ.get("BENCH_WEB_REQUESTS", "200"))
TARGET_MS = 300
START = "<!-- web-chat:start -->"
END = "<!-- web-chat:end -->"
CARD = {"rule": "rumor.label", "detector": "debunk", "text_zh": "已有辟谣", "text_en": "Debunked",
        "data": {"cards": [{"debunk_id": 1, "version": 1, "verdict": "false",
                            "claim": "喝醋可以杀灭病毒", "refutation": "食醋的醋酸浓度很低。",
                            "publisher": "辟谣平台", "source_url": "https://www.piyao.org.cn/",
                            "published_on": None}]}}


class ServerTimer:
    """ASGI wrapper: seconds from the request entering the app to its last body byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - started

        await self.app(scope, receive, timed_send)


def seed(app: Any) -> tuple[str, int, int]:
    """The reader's session token, the group id, and the id of a message 5,000 back."""
    uow = app.state.uows()
    people = []
    for i in range(MEMBERS):
        account = identity_actions.do_register(uow, phone=f"1391234{i:04d}",
                                               password="bench-password",
                                               display_name=f"成员{i:02d}")
        identity_actions.do_submit_verification(
            uow, acting=account, provider="resident_id",
            submission={"legal_name": "基准测试", "id_number":
                        resident_id("110105", "19900101", f"{i:03d}")})
        people.append(account)
    group = group_actions.do_create_group(
        uow, acting=people[0], name="万条消息群", category=Category.WORK, tier=1,
        join_policy=JoinPolicy.APPROVAL, rules_text="文明交流", member_cap=None)
    for person in people[1:]:
        invitation = group_actions.do_invite(uow, acting=people[0], group_id=group.id,
                                             account_id=person.id)
        group_actions.do_accept_invitation(uow, acting=person, invitation_id=invitation.id,
                                           rules_version=1)
    group_id, senders = group.id, [p.id for p in people]
    uow.commit()
    start = datetime.now(UTC) - timedelta(days=30)
    rows = []
    for n in range(MESSAGES):
        text = f"第{n}条消息：明天上午九点在村委会开会，请各位准时参加。"
        rows.append({"group_id": group_id, "sender_id": senders[n % MEMBERS], "text": text,
                     "reply_to_id": None, "origin_id": None, "parent_id": None, "hop": 0,
                     "fingerprint": fingerprint(text), "status": "delivered",
                     "verdict": "label" if n % 50 == 0 else "allow",
                     "labels": [CARD] if n % 50 == 0 else [],
                     "created_at": start + timedelta(seconds=n * 30)})
    for i in range(0, MESSAGES, 1000):
        uow.session.execute(insert(MessageRow), rows[i:i + 1000])
    uow.commit()
    first = int(uow.session.scalar(select(func.min(MessageRow.id)).where(
        MessageRow.group_id == group_id)) or 0)
    # Every tenth message replies to the one before it.
    uow.session.execute(MessageRow.__table__.update().where(
        (MessageRow.group_id == group_id) & ((MessageRow.id - first) % 10 == 9))
        .values(reply_to_id=MessageRow.id - 1))
    uow.commit()
    token = identity_actions.do_login(uow, phone="13912340001",
                                      password="bench-password").token
    uow.commit()
    uow.close()
    return token, group_id, first + MESSAGES // 2


def run_backend(name: str, url: str, data_dir: Path) -> list[tuple[str, str, list[float],
                                                                   list[float]]]:
    upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir, argon2_time_cost=1,
                        argon2_memory_cost_kib=1024, run_workers=False)
    app = create_app(settings)
    token, group_id, middle = seed(app)
    timer = ServerTimer(app)
    results = []
    with TestClient(timer) as client:  # type: ignore[arg-type]
        client.cookies.set(SESSION_COOKIE, token)
        client.get("/groups")  # warm: templates compiled, CSRF cookie set
        pages: list[tuple[str, Callable[[], str]]] = [
            ("chat page, newest 50 of 10,000", lambda: f"/groups/{group_id}"),
            ("chat page, 50 older than message 5,000",
             lambda: f"/groups/{group_id}?before={encode_cursor(middle)}"),
            ("one message (live update fragment)",
             lambda: f"/groups/{group_id}/messages/{middle}"),
            ("groups list with unread counts", lambda: "/groups"),
        ]
        for label, path in pages:
            wall, cpu = [], []
            for i in range(REQUESTS):
                if label.startswith("groups list") and i % 2:
                    # Half of these after the marker moved back to nothing read: 10,000 unread.
                    with app.state.engine.begin() as conn:
                        conn.exec_driver_sql("DELETE FROM read_markers")
                c0 = time.process_time()
                r = client.get(path(), follow_redirects=False)
                cpu.append((time.process_time() - c0) * 1000)
                assert r.status_code == 200, (label, r.status_code, r.text[:300])
                wall.append(timer.last * 1000)
            results.append((name, label, wall, cpu))
            print(f"{name:10} {label:42} p50 {percentile(wall, .5):7.1f} ms  "
                  f"p95 {percentile(wall, .95):7.1f} ms  p99 {percentile(wall, .99):7.1f} ms",
                  flush=True)
    return results


def main() -> None:
    results = []
    notes = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="qunguan-bench-web-") as tmp:
        results += run_backend("SQLite", f"sqlite:///{tmp}/bench.db", Path(tmp))
        if pg_available():
            with temporary_pg_database(PG) as url:
                results += run_backend("PostgreSQL", url, Path(tmp) / "pg")
        else:
            notes.append(f"PostgreSQL at {PG} was unreachable: not measured.")
    write_report(results, notes, load_before, os.getloadavg()[0])


def write_report(results: list[tuple[str, str, list[float], list[float]]], notes: list[str],
                  load_before: float, load_after: float) -> None:
    chat = [r for r in results if r[1].startswith("chat page")]
    worst = max(percentile(r[2], 0.95) for r in chat)
    lines = [
        START, "## Web chat page of a group with 10,000 messages (server time)", "",
        f"A group of {MEMBERS} members with {MESSAGES:,} messages (every tenth a reply, every "
        "fiftieth with a debunk card), read by a member through the real application with a "
        "cookie session, rendered in Chinese: 50 messages a page, newest first by keyset "
        "(`messages.group_id, id` index), the read marker moved in the same request. Server "
        "time runs from the request entering the ASGI application to the last byte of the "
        "response leaving it (the test client's own work is outside it); CPU time is the "
        "process's, test client included. The groups list alternates between nothing unread "
        f"and all {MESSAGES:,} unread. {REQUESTS} requests per row, one at a time.", "",
        "- Command: `make bench` (`python -m tests.bench.web_chat_page`)",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Load average (1 min): {load_before:.1f} before, {load_after:.1f} after, on "
        f"{os.cpu_count()} cores (the machine is shared: wall-clock figures include waiting for "
        "a core and for the PostgreSQL server, which other test suites use at the same time; "
        "the CPU column does not)", *[f"- {n}" for n in notes], "",
        "| database | page | p50 ms | p95 ms | p99 ms | max ms | p50 CPU ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, label, wall, cpu in results:
        lines.append(f"| {name} | {label} | {percentile(wall, .5):.1f} | "
                     f"{percentile(wall, .95):.1f} | {percentile(wall, .99):.1f} | "
                     f"{max(wall):.1f} | {percentile(cpu, .5):.1f} |")
    lines += ["", f"Target (issue 7): the chat page opens in under {TARGET_MS} ms server time: "
              f"**{'met' if worst < TARGET_MS else 'not met'}** (worst p95 of the chat-page "
              f"rows: {worst:.1f} ms).", END]
    write_section(START, END, "\n".join(lines))

if __name__ == "__main__":
    main()
