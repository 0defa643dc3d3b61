"""Admission control and the SQLite write lock: many concurrent requests all complete."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qunguan.kernel.web import Admission, ConcurrencyLimit
from tests.conftest import Api, Cast, run_async


def test_concurrency_limit_admits_at_most_limit_http_requests() -> None:
    inside = 0
    peak = 0
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        seen.append(scope["type"])
        await asyncio.sleep(0.01)
        inside -= 1

    limited = ConcurrencyLimit(app, Admission(3))

    async def main() -> None:
        calls = [limited({"type": "http"}, None, None) for _ in range(12)]
        calls += [limited({"type": "websocket"}, None, None) for _ in range(5)]
        await asyncio.gather(*calls)

    run_async(main())
    assert seen.count("http") == 12
    assert seen.count("websocket") == 5
    # 3 HTTP requests at most, plus the WebSockets, which are never held back.
    assert 3 <= peak <= 8


def test_many_concurrent_posts_all_succeed(api: Api, cast: Cast) -> None:
    """More concurrent requests than worker threads: before admission control this stalled
    until the pool timeout on SQLite (every thread waiting for the write lock while its
    holder waited for a thread to commit)."""
    group_id = cast.group["id"]
    people = [cast.founder, cast.admin, cast.member, cast.member2]

    def post(i: int) -> int:
        r = api.post(f"/api/groups/{group_id}/messages", as_=people[i % len(people)],
                     json={"text": f"并发消息 {i}"})
        return int(r.status_code)

    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(post, range(96)))
    assert statuses == [201] * 96
    page = api.get(f"/api/groups/{group_id}/messages?limit=200", as_=cast.member).json()
    assert len([m for m in page["items"] if m["text"].startswith("并发消息")]) == 96
