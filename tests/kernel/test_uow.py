"""UnitOfWork.end_read: ends a read-only transaction, refuses to drop writes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from qunguan.kernel.events import EventType
from qunguan.kernel.models import OutboxEvent


def test_end_read_releases_a_read_only_transaction(app: Any) -> None:
    uow = app.state.uows()
    try:
        assert uow.session.scalar(select(func.count(OutboxEvent.id))) == 0
        assert uow.session.in_transaction()
        uow.end_read()
        assert not uow.session.in_transaction()
    finally:
        uow.close()


def test_end_read_refuses_after_a_write(app: Any) -> None:
    uow = app.state.uows()
    try:
        uow.emit(EventType.DEMO_SEEDED)
        with pytest.raises(RuntimeError, match="after writes"):
            uow.end_read()
    finally:
        uow.rollback()
        uow.close()
