"""A SIGKILL in the middle of a burst of sends and claims: after a restart the ledger still
balances, no claim is duplicated or lost, and the refund worker finishes the job."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qunguan.envelopes import ledger
from qunguan.envelopes.models import (
    Envelope,
    EnvelopeClaim,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
)
from qunguan.kernel.db import make_engine
from tests.bench.http_throughput import setup, start_server
from tests.conftest import run_async

CLIENTS = 8
KILL_AFTER_SENDS = 12


def _burst(url: str, tokens: list[str], group_id: int, stop: threading.Event,
           sent: list[int]) -> None:
    def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        n = 0
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                n += 1
                try:
                    r = http.post(f"/api/groups/{group_id}/envelopes", headers={
                        **headers, "Idempotency-Key": f"crash-{i}-{n}"},
                        json={"total_fen": 400, "parts": 4, "split": "lucky"})
                    if r.status_code == 201:
                        sent.append(int(r.json()["id"]))
                    for envelope_id in list(sent[-6:]):
                        http.post(f"/api/envelopes/{envelope_id}/claim", headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)


def _check(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            balances = int(s.scalar(select(func.sum(LedgerAccount.balance))) or 0)
            postings = int(s.scalar(select(func.sum(LedgerPosting.amount))) or 0)
            negatives = s.scalar(select(func.count(LedgerAccount.id)).where(
                LedgerAccount.balance < 0, LedgerAccount.allow_negative.is_(False)))
            envelopes = list(s.scalars(select(Envelope)))
            claims: dict[int, list[int]] = {}
            for c in s.scalars(select(EnvelopeClaim)):
                claims.setdefault(c.envelope_id, []).append(c.amount_fen)
            claim_txns = s.scalar(select(func.count(LedgerTransaction.id)).where(
                LedgerTransaction.kind == "envelope_claim"))
            escrows = {a.key: a.balance for a in s.scalars(select(LedgerAccount).where(
                LedgerAccount.kind == "escrow"))}
            return {"balances": balances, "postings": postings, "negatives": negatives,
                    "envelopes": envelopes, "claims": claims, "claim_txns": claim_txns,
                    "escrows": escrows}
    finally:
        engine.dispose()


def test_sigkill_mid_burst(database_url: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNGUAN_ENVELOPE_EXPIRY_SECONDS", "3")
    monkeypatch.setenv("QUNGUAN_ENVELOPE_REFUND_POLL_SECONDS", "0.5")
    proc, url = start_server(database_url, tmp_path, wait_seconds=90)
    try:
        tokens, group_id = run_async(setup(url, CLIENTS))
        for i, token in enumerate(tokens):
            r = httpx.post(f"{url}/api/me/wallet/topup", timeout=10, json={"amount_fen": 100_000},
                           headers={"Authorization": f"Bearer {token}",
                                    "Idempotency-Key": f"crash-topup-{i}"})
            assert r.status_code == 201, r.text
        stop = threading.Event()
        sent: list[int] = []
        burst = threading.Thread(target=_burst, args=(url, tokens, group_id, stop, sent))
        burst.start()
        deadline = time.monotonic() + 60
        while len(sent) < KILL_AFTER_SENDS and time.monotonic() < deadline:
            time.sleep(0.05)  # kill once sends and claims are flowing, whatever the load
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: requests in flight die with it
        proc.wait(timeout=10)
        stop.set()
        burst.join(timeout=60)
        assert len(sent) > 0, "the burst sent nothing before the kill"
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _check(database_url)
    assert (before["balances"], before["postings"], before["negatives"]) == (0, 0, 0)

    # Restart: the refund worker runs in the server.
    proc, url = start_server(database_url, tmp_path, wait_seconds=90)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            after = _check(database_url)
            if all(e.status != "open" for e in after["envelopes"]):
                break
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert all(e.status in ("claimed", "refunded") for e in after["envelopes"])
    assert (after["balances"], after["postings"], after["negatives"]) == (0, 0, 0)
    assert set(after["escrows"].values()) <= {0}
    total_claims = 0
    for e in after["envelopes"]:
        taken = after["claims"].get(e.id, [])
        total_claims += len(taken)
        assert len(taken) == e.parts - e.remaining_parts  # no claim lost or duplicated
        assert sum(taken) + e.refunded_fen == e.total_fen  # every fen accounted for
    assert after["claim_txns"] == total_claims
    assert ledger.escrow_key(1) in after["escrows"] or not after["envelopes"]
