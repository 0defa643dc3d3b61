"""Reconciliation: the sandbox provider's own book against the ledger."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from qunguan.cli.main import app as cli_app
from qunguan.envelopes import queries
from qunguan.envelopes.models import SandboxPayment
from tests.conftest import Api, Cast
from tests.envelopes.conftest import send, topup


def _reconcile(app: Any) -> list[queries.Discrepancy]:
    uow = app.state.uows()
    try:
        return queries.reconcile(uow, "sandbox")
    finally:
        uow.close()


def test_books_agree_then_disagree(api: Api, cast: Cast, app: Any, database_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    topup(api, cast.founder, 3000)
    topup(api, cast.member, 1200)
    send(api, cast.founder, cast.group["id"], 1000, 2)
    assert _reconcile(app) == []
    monkeypatch.setenv("QUNGUAN_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli_app, ["envelopes", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output

    with app.state.engine.begin() as conn:  # the provider reports a payment differently
        conn.execute(update(SandboxPayment).where(SandboxPayment.amount_fen == 1200)
                     .values(amount_fen=1100))
    [found] = _reconcile(app)
    assert (found.provider_fen, found.ledger_fen) == (1100, 1200)
    result = CliRunner().invoke(cli_app, ["envelopes", "reconcile"])
    assert result.exit_code == 1
    assert found.payment in result.output
