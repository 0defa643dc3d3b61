"""Helpers of the governance tests: posting, opening and deciding a case, purging."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from qunguan.enforcement.models import ReviewItem
from qunguan.governance.worker import purge_pass
from qunguan.kernel.clock import FixedClock
from qunguan.messaging.models import Message
from tests.conftest import Api, Cast, login
from tests.enforcement.review_helpers import decide, drain, post, report, rows

DAY = 24 * 3600


def purge_all(app: Any) -> int:
    total = 0
    while done := purge_pass(app.state.uows):
        total += done
    return total


def later(api: Api, cast: Cast, clock: FixedClock, days: float) -> None:
    """Move time on and log the cast in again (tokens live a week)."""
    clock.advance(days=days)
    for key in ("officer", "outsider", "member", "member2", "founder"):
        login(api, cast[key])


def text_of(app: Any, message_id: int) -> str | None:
    (message,) = rows(app, Message, id=message_id)
    return message.text


def open_case(api: Api, app: Any, cast: Cast, message_id: int) -> int:
    """A member reports the message: the review item is the case."""
    report(api, cast.member2, "message", message_id, reason="rumor")
    drain(app)
    uow = app.state.uows()
    try:
        item = uow.session.scalar(select(ReviewItem).where(
            ReviewItem.subject_type == "message", ReviewItem.subject_id == message_id))
        assert item is not None
        return item.id
    finally:
        uow.close()


def decided_case(api: Api, app: Any, cast: Cast, message_id: int,
                 decision: str = "dismiss", **extra: Any) -> int:
    item_id = open_case(api, app, cast, message_id)
    api.post(f"/api/officer/review/{item_id}/claim", as_=cast.officer)
    decide(api, cast.officer, item_id, decision, **extra)
    drain(app)
    return item_id


__all__ = ["decide", "drain", "later", "post", "report", "rows"]
