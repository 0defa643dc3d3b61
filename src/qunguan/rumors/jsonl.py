"""Reading the JSONL files of `qunguan rumors match` and `qunguan rumors cascades`: each bad
line becomes a ``LineError`` naming the file, the line and the reason; good lines go on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from qunguan.rumors.cascades import Message
from qunguan.rumors.matcher import BankEntry, Verdict

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LineError:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class BadLine(ValueError):
    """A line of an input file that cannot be read; the message says why."""


def _text(row: dict[str, Any], field: str, *, required: bool = True) -> str:
    value = row.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadLine(f"`{field}` must be a string" if field in row else f"`{field}` is missing")
    return value


def _id(row: dict[str, Any]) -> str:
    value = row.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadLine("`id` must be a string or an integer" if "id" in row else "`id` is missing")
    if str(value) == "":
        raise BadLine("`id` is empty")
    return str(value)


def bank_entry(row: dict[str, Any]) -> BankEntry:
    claim = _text(row, "claim")
    if not claim.strip():
        raise BadLine("`claim` is empty")
    verdict = row.get("verdict", "false")
    try:
        parsed = Verdict(verdict)
    except ValueError:
        allowed = ", ".join(v.value for v in Verdict)
        raise BadLine(f"`verdict` must be one of {allowed}, not {verdict!r}") from None
    phrasings = row.get("phrasings", [])
    if not isinstance(phrasings, list) or not all(isinstance(p, str) for p in phrasings):
        raise BadLine("`phrasings` must be a list of strings")
    return BankEntry(id=_id(row), claim=claim, debunk_text=_text(row, "debunk_text",
                     required=False), verdict=parsed,
                     source_url=_text(row, "source_url", required=False) or
                     _text(row, "url", required=False),
                     language=_text(row, "language", required=False) or "zh",
                     phrasings=tuple(p for p in phrasings if p.strip()))


def match_message(row: dict[str, Any]) -> tuple[str, str]:
    return _id(row), _text(row, "text")


def parse_ts(value: object) -> datetime:
    if not isinstance(value, str):
        raise BadLine("`ts` must be an ISO 8601 string" if value is not None else
                      "`ts` is missing")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"`ts` is not ISO 8601: {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)  # naive times are taken as UTC


def cascade_message(row: dict[str, Any]) -> Message:
    forwarded = row.get("forwarded_from")
    if forwarded is not None and (isinstance(forwarded, bool)
                                  or not isinstance(forwarded, str | int)):
        raise BadLine("`forwarded_from` must be a message id or null")
    return Message(id=_id(row), text=_text(row, "text"), ts=parse_ts(row.get("ts")),
                   group=str(row.get("group") or ""), sender=str(row.get("sender") or ""),
                   forwarded_from=str(forwarded) if forwarded not in (None, "") else None)


def read(lines: Iterable[str], file: str, parse: Callable[[dict[str, Any]], T],
         errors: list[LineError]) -> Iterator[T]:
    """Parsed rows of a JSONL stream; blank lines are skipped, repeated ids and bad lines are
    appended to ``errors``."""
    ids: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(LineError(file, number, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict):
            errors.append(LineError(file, number, "not a JSON object"))
            continue
        try:
            item = parse(row)
        except BadLine as exc:
            errors.append(LineError(file, number, str(exc)))
            continue
        key = _id(row)
        if key in ids:
            errors.append(LineError(file, number, f"repeats id {key!r}"))
            continue
        ids.add(key)
        yield item
