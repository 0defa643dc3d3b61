"""Time comes from a Clock so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qunguan.kernel.clock import Clock, FixedClock, SystemClock


def test_system_clock_is_aware_utc_now() -> None:
    clock: Clock = SystemClock()
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_fixed_clock_stands_still_until_advanced() -> None:
    clock: Clock = FixedClock()
    first = clock.now()
    assert first == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert clock.now() == first
    assert isinstance(clock, FixedClock)
    clock.advance(seconds=90)
    assert clock.now() == first + timedelta(seconds=90)
    clock.advance(days=1, hours=2)
    assert clock.now() == first + timedelta(days=1, hours=2, seconds=90)
    clock.advance(seconds=-30)  # moving back is allowed (tests of clock skew)
    assert clock.now() == first + timedelta(days=1, hours=2, seconds=60)


def test_fixed_clock_start() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert FixedClock(start).now() == start
