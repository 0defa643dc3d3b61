"""Red envelopes in an archive: volume per group and day, election periods from
``--elections FILE``, and the seam through which vote-buying detectors turn envelope
records into findings.

The elections file is CSV with a header: ``group,start,end`` and optionally ``name`` and
``candidates`` (``group`` is the chat's id or its name as the export gives it; dates
``YYYY-MM-DD``, both days included; ``candidates``: the export's sender identifiers of the
declared candidates, separated by ``;``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Election:
    group: str
    start: date
    end: date
    name: str = ""
    candidates: tuple[str, ...] = ()  # sender identifiers of the export (pseudonymised later)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class ElectionsInvalid(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def read_elections(path: Path) -> list[Election]:
    """Every row of the file, or ElectionsInvalid listing each bad row as FILE:LINE: reason."""
    errors: list[str] = []
    out: list[Election] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("group", "start", "end") if c not in (reader.fieldnames or [])]
        if missing:
            raise ElectionsInvalid([f"{path}:1: missing column(s) {', '.join(missing)}"])
        for row in reader:
            line = reader.line_num
            try:
                start = date.fromisoformat((row.get("start") or "").strip())
                end = date.fromisoformat((row.get("end") or "").strip())
            except ValueError:
                errors.append(f"{path}:{line}: start and end must be dates YYYY-MM-DD")
                continue
            group = (row.get("group") or "").strip()
            if not group:
                errors.append(f"{path}:{line}: `group` is empty")
            elif end < start:
                errors.append(f"{path}:{line}: the election ends before it starts")
            else:
                candidates = tuple(c.strip() for c in (row.get("candidates") or "").split(";")
                                   if c.strip())
                out.append(Election(group, start, end, (row.get("name") or "").strip(),
                                    candidates))
    if errors:
        raise ElectionsInvalid(errors)
    return out


@dataclass(frozen=True, slots=True)
class EnvelopeRecord:
    """A red envelope or transfer of an archive, as the vote-buying detectors see it: plain
    data, no database. ``amount_fen`` is None where the export does not say (personal WeChat
    red envelopes); ``sender`` is already pseudonymised."""

    id: str
    kind: str  # "red_envelope" or "transfer"
    group: str
    sender: str
    ts: datetime
    amount_fen: int | None
    parts: int | None
    group_members: int | None = None


# Vote-buying detectors: a function from the envelope records of an archive (in time order)
# and the election periods to findings ({"rule", "message_ids", "group", "time",
# "evidence"}). Registered through ``register_envelope_detector``. The records are a
# read-only sequence read from disk as it is walked (the audit does not hold them in
# memory): a detector should keep only the records it needs.
EnvelopeDetector = Callable[[Sequence[EnvelopeRecord], list[Election]], list[dict[str, Any]]]
_DETECTORS: dict[str, EnvelopeDetector] = {}


def register_envelope_detector(name: str, detector: EnvelopeDetector) -> None:
    if name in _DETECTORS:
        raise ValueError(f"envelope detector {name!r} registered twice")
    _DETECTORS[name] = detector


def unregister_envelope_detector(name: str) -> None:
    _DETECTORS.pop(name, None)


def envelope_detectors() -> dict[str, EnvelopeDetector]:
    return dict(_DETECTORS)
