"""The starter bank: a dozen well-known debunked rumour types, written by this project in its
own words (``data/starter_bank.jsonl``), each naming the public body that debunked it. The
demo loads it and ``qunguan rumors import`` takes it like any other file. It is a seed for a
deployment's own bank, not a substitute for one."""

from __future__ import annotations

from pathlib import Path

from qunguan.identity import Account
from qunguan.kernel.uow import UnitOfWork
from qunguan.rumors.actions import ImportResult, do_import_debunks

STARTER_BANK = Path(__file__).parent / "data" / "starter_bank.jsonl"


def load_starter_bank(uow: UnitOfWork, *, acting: Account) -> ImportResult:
    """Import the starter bank; entries already in the bank are reported as duplicates."""
    return do_import_debunks(uow, acting=acting,
                             content=STARTER_BANK.read_text(encoding="utf-8"), fmt="jsonl",
                             source="starter_bank.jsonl")
