"""Rumour control: the debunk bank (stored, served and imported), the layered matcher, the
screening detectors that put debunk cards on messages, corrections pushed back to members,
and content clusters (cascades).

The server and the `qunguan rumors` commands use the same ``Bank`` and ``cluster_messages``.
Importing the package defines its error codes and registers its screening detectors
(``debunk``, ``debunk_review``), so a policy pack naming them validates wherever rumours is
installed.
"""

from qunguan.rumors import alarm as _alarm  # noqa: F401  (registers the alarm detector)
from qunguan.rumors import detector as _detector
from qunguan.rumors import errors as errors
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

_detector.register()

__all__ = ["DEFAULT_THRESHOLDS", "Bank", "BankEntry", "Evidence", "Match", "Thresholds",
           "Verdict", "errors", "fuse"]
