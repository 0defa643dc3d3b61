"""Rumour control: the debunk bank, the layered matcher and content clusters (cascades).

Pure library code: no tables yet. The server and the `qunguan rumors` commands use the same
``Bank`` and ``cluster_messages``."""

from qunguan.rumors.matcher import (
    DEFAULT_THRESHOLDS,
    Bank,
    BankEntry,
    Evidence,
    Match,
    Thresholds,
    Verdict,
    fuse,
)

__all__ = ["DEFAULT_THRESHOLDS", "Bank", "BankEntry", "Evidence", "Match", "Thresholds",
           "Verdict", "fuse"]
