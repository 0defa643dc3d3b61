"""The demo institution of `make run` has sandbox wallets and an envelope to show."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qunguan.cli.main import app as cli
from qunguan.demo import DEMO_WALLET_FEN
from qunguan.envelopes.models import Envelope, EnvelopeClaim, LedgerAccount
from qunguan.kernel.db import make_engine


def test_demo_has_wallets_and_an_envelope(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"QUNGUAN_DATABASE_URL": f"sqlite:///{tmp_path}/q.db",
           "QUNGUAN_DATA_DIR": str(tmp_path), "QUNGUAN_ARGON2_MEMORY_COST_KIB": "1024",
           "QUNGUAN_ARGON2_TIME_COST": "1"}
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"], env=env).exit_code == 0
    result = runner.invoke(cli, ["seed-demo"], env=env)
    assert result.exit_code == 0, result.output
    with Session(make_engine(env["QUNGUAN_DATABASE_URL"])) as s:
        wallets = list(s.scalars(select(LedgerAccount).where(LedgerAccount.kind == "wallet")))
        assert len(wallets) == 7  # every verified member of the cast
        [envelope] = s.scalars(select(Envelope))
        assert (envelope.total_fen, envelope.parts, envelope.remaining_parts) == (3000, 3, 2)
        assert s.scalar(select(func.count(EnvelopeClaim.id))) == 1
        total = sum(w.balance for w in wallets) + envelope.remaining_fen
        assert total == 7 * DEMO_WALLET_FEN  # every fen is somewhere
        assert s.scalar(select(func.sum(LedgerAccount.balance))) == 0
