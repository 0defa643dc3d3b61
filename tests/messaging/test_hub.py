"""The realtime hub on its own: routing, membership following, closing, back-pressure."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from qunguan.kernel.events import Event, EventType
from qunguan.messaging.realtime import QUEUE_LIMIT, Connection, Hub, frame_of
from tests.conftest import run_async


def drain(conn: Connection) -> list[dict[str, Any] | None]:
    frames = []
    while not conn.queue.empty():
        frames.append(conn.queue.get_nowait())
    return frames


def posted(group_id: int, n: int = 1, mentions: tuple[int, ...] = ()) -> Event:
    return Event(EventType.MESSAGE_POSTED, {"message": {"id": n}}, group_id, mentions)


def run(coro: Any) -> Any:
    return run_async(coro)


def test_frame_shape() -> None:
    assert frame_of(posted(7, 3)) == {"type": "message_posted", "group_id": 7,
                                      "payload": {"message": {"id": 3}}}


def test_register_and_route_by_group_and_account() -> None:
    async def scenario() -> None:
        hub = Hub()
        a = hub.register(1, 101, {10, 20})
        a2 = hub.register(1, 102, {10})  # same account, second device
        b = hub.register(2, 201, {20})
        c = hub.register(3, 301, set())
        assert hub.connection_count == 4
        assert a.groups == {10, 20}

        hub.dispatch(posted(10, 1))
        assert [f["payload"]["message"]["id"] for f in drain(a)] == [1]  # type: ignore[index]
        assert len(drain(a2)) == 1
        assert drain(b) == drain(c) == []

        # group 20 plus a mention of account 3, who is not in it; account 2 listed twice
        hub.dispatch(posted(20, 2, mentions=(3, 2)))
        assert len(drain(a)) == len(drain(b)) == len(drain(c)) == 1
        assert drain(a2) == []

        # account-only events (a held message) reach just that account's connections
        hub.dispatch(Event(EventType.MESSAGE_HELD, {"message": {"id": 3}}, None, (1,)))
        assert len(drain(a)) == len(drain(a2)) == 1
        assert drain(b) == drain(c) == []
        # an event of a group nobody follows goes nowhere
        hub.dispatch(posted(99))
        assert all(drain(x) == [] for x in (a, a2, b, c))

    run(scenario())


def test_unregister_forgets_the_connection() -> None:
    async def scenario() -> None:
        hub = Hub()
        a = hub.register(1, 101, {10, 20})
        b = hub.register(1, 102, {10})
        hub.unregister(a)
        assert hub.connection_count == 1
        hub.dispatch(posted(10))
        hub.dispatch(posted(20))
        assert drain(a) == []
        assert len(drain(b)) == 1
        hub.unregister(b)
        hub.unregister(b)  # twice is harmless
        assert hub.connection_count == 0
        assert hub._by_group == {}
        assert hub._by_account == {}

    run(scenario())


def test_join_and_leave_are_followed() -> None:
    async def scenario() -> None:
        hub = Hub()
        newbie = hub.register(5, 501, set())
        other = hub.register(6, 601, {10})
        hub.dispatch(Event(EventType.MEMBER_JOINED, {"account_id": 5}, 10, (5,)))
        assert [f["type"] for f in drain(newbie)] == ["member_joined"]  # type: ignore[index]
        assert [f["type"] for f in drain(other)] == ["member_joined"]  # type: ignore[index]
        assert newbie.groups == {10}
        hub.dispatch(posted(10))
        assert len(drain(newbie)) == 1

        for leave in (EventType.MEMBER_REMOVED, EventType.MEMBER_LEFT):
            hub.dispatch(Event(EventType.MEMBER_JOINED, {"account_id": 5}, 10, (5,)))
            drain(newbie), drain(other)
            hub.dispatch(Event(leave, {"account_id": 5}, 10, (5,)))
            # the leaver hears of it once, then nothing more from the group
            assert [f["type"] for f in drain(newbie)] == [leave.name.lower()]  # type: ignore[index]
            assert newbie.groups == set()
            hub.dispatch(posted(10))
            assert drain(newbie) == []
            assert len(drain(other)) == 2
            assert not newbie.closed

    run(scenario())


def test_logout_closes_only_that_session() -> None:
    async def scenario() -> None:
        hub = Hub()
        phone = hub.register(1, 101, {10})
        laptop = hub.register(1, 102, {10})
        hub.dispatch(Event(EventType.LOGGED_OUT, {"account_id": 1, "session_id": 101}, None,
                           (1,)))
        assert phone.closed
        assert not laptop.closed
        assert drain(phone)[-1] is None  # the close sentinel ends the socket's pump
        hub.dispatch(posted(10))
        assert drain(phone) == []
        assert drain(laptop)[-1] == frame_of(posted(10))

    run(scenario())


def test_blacklisting_closes_every_session() -> None:
    async def scenario() -> None:
        hub = Hub()
        a = hub.register(1, 101, {10})
        b = hub.register(1, 102, set())
        c = hub.register(2, 201, {10})
        hub.dispatch(Event(EventType.IDENTITY_BLACKLISTED, {}, None, (1,)))
        assert a.closed
        assert b.closed
        assert not c.closed

    run(scenario())


def test_overflow_closes_the_slow_connection() -> None:
    async def scenario() -> None:
        hub = Hub()
        slow = hub.register(1, 101, {10})
        fast = hub.register(2, 201, {10})
        for i in range(QUEUE_LIMIT):
            hub.dispatch(posted(10, i))
            drain(fast)
        assert not slow.closed
        assert slow.queue.full()
        hub.dispatch(posted(10, QUEUE_LIMIT))  # one too many
        assert slow.closed
        assert not fast.closed
        assert len(drain(fast)) == 1
        frames = drain(slow)
        assert frames[-1] is None
        assert len(frames) <= QUEUE_LIMIT
        hub.dispatch(posted(10))  # a closed connection takes nothing more
        assert drain(slow) == []
        slow.close()  # closing twice is harmless
        assert drain(slow) == []

    run(scenario())


def test_on_event_hops_onto_the_hub_loop_from_other_threads() -> None:
    async def scenario() -> None:
        hub = Hub()
        loop = asyncio.get_running_loop()
        hub.bind(loop)
        conn = hub.register(1, 101, {10})
        worker = threading.Thread(target=hub.on_event, args=(posted(10, 42),))
        worker.start()
        worker.join()
        frame = await asyncio.wait_for(conn.queue.get(), timeout=5)
        assert frame is not None
        assert frame["payload"] == {"message": {"id": 42}}
        # from the loop's own thread it is delivered at once
        hub.on_event(posted(10, 43))
        assert conn.queue.get_nowait() == frame_of(posted(10, 43))

    run(scenario())


def test_on_event_without_a_loop_is_dropped() -> None:
    hub = Hub()
    hub.on_event(posted(10))  # before lifespan binds a loop: nothing, and no error

    async def closed_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = run(closed_loop())
    hub.bind(loop)
    hub.on_event(posted(10))  # after the loop closed: nothing, and no error


@pytest.mark.parametrize("kind", [EventType.MEMBER_JOINED, EventType.MEMBER_REMOVED])
def test_membership_event_without_group_changes_nothing(kind: EventType) -> None:
    async def scenario() -> None:
        hub = Hub()
        conn = hub.register(1, 101, {10})
        hub.dispatch(Event(kind, {}, None, (1,)))
        assert conn.groups == {10}

    run(scenario())


def test_membership_change_during_the_group_read_is_not_lost() -> None:
    """The socket registers before reading its groups; a removal that commits during the
    read must win over the (stale) read."""
    from qunguan.kernel.events import Event, EventType
    from qunguan.messaging.realtime import Hub

    async def main() -> None:
        hub = Hub()
        hub.bind(asyncio.get_running_loop())
        conn = hub.register_loading(7, 1)
        # Committed while the groups were being read: removed from 1, added to 3.
        hub.dispatch(Event(EventType.MEMBER_REMOVED, {}, 1, (7,)))
        hub.dispatch(Event(EventType.MEMBER_JOINED, {}, 3, (7,)))
        hub.load(conn, {1, 2})  # the read still saw group 1, not yet group 3
        assert conn.groups == {2, 3}
        hub.dispatch(Event(EventType.MESSAGE_POSTED, {"n": 1}, 1))
        hub.dispatch(Event(EventType.MESSAGE_POSTED, {"n": 2}, 3))
        frames = []
        while not conn.queue.empty():
            frames.append(conn.queue.get_nowait())
        assert [f["type"] for f in frames] == ["member_removed", "member_joined",
                                               "message_posted"]
        assert frames[-1]["group_id"] == 3

    run(main())
