"""Every state change of the debunk bank, and the outbox handlers that put its cards on
messages and push corrections back to members (CR-8).

Officers add, edit, retire and import entries; each change writes the row, the audit record
and an outbox event in one transaction, and the process's live bank picks it up at commit.
The handlers act as the system account:

- a message delivered with a debunk card: its earlier copies (same fingerprint, so forwards
  too) get the card as well;
- a debunk added, imported or upgraded to false/misleading: messages of the last
  ``rumors_correction_days`` days are matched against it newest first, in steps of
  ``rumors_correction_batch`` messages (one short transaction each, the next step scheduled as
  a ``CORRECTION_SWEEP`` event), every copy of a match is labelled, and each member who sent,
  forwarded or was in a group that received one is told once per debunk
  (``correction_notices``), however often a step is retried.

Layering: rumours sits above messaging and screening and below enforcement (it may not import
enforcement). A match worth a reviewer's look goes to the review queue through the default
pack's post-send rule ``rumors.debunk_suggest`` (``SCREENING_FLAGGED``), not from here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from qunguan.groups import queries as group_queries
from qunguan.identity import Account
from qunguan.identity import queries as identity_queries
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import Event, EventType
from qunguan.kernel.outbox import register_handler
from qunguan.kernel.text import is_storable, optional_text
from qunguan.kernel.uow import UnitOfWork, record_audit
from qunguan.messaging import Message, MessageStatus
from qunguan.messaging import actions as messaging_actions
from qunguan.messaging import queries as messaging_queries
from qunguan.rumors import errors  # noqa: F401  (defines the error codes)
from qunguan.rumors import text as rtext
from qunguan.rumors.bank import (
    CORRECTING_VERDICTS,
    LABELLING_VERDICTS,
    card,
    changed_on_commit,
    live_bank,
    phrasings_for,
)
from qunguan.rumors.matcher import MIN_CLAIM_CHARS, Verdict
from qunguan.rumors.models import (
    CorrectionNotice,
    DebunkEntry,
    DebunkPhrasing,
    DebunkStatus,
    PhrasingSource,
)
from qunguan.rumors.text import claim_key
from qunguan.screening import contains_personal_data

MAX_CLAIM_CHARS = 2000
MAX_REFUTATION_CHARS = 4000
MAX_PUBLISHER_CHARS = 200
MAX_URL_CHARS = 500
MAX_PHRASING_CHARS = 1000
MAX_PHRASINGS = 50  # active phrasings per entry
MAX_IMPORT_ROWS = 10_000
MAX_REPORTED_ERRORS = 100
FIELDS = ("claim", "verdict", "refutation", "publisher", "source_url", "published_on",
          "language")
REQUIRED = ("claim", "verdict", "refutation", "publisher")
KNOWN = (*FIELDS, "phrasings")  # an import row may carry phrasings too
# Names the `rumors match` bank format uses, accepted on import so one file serves both.
ALIASES = {"debunk_text": "refutation", "url": "source_url"}
IGNORED = frozenset({"id"})
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.I)
_NOTICE_CHUNK = 500

LABEL_RULE = "rumors.debunk_card"
LABEL_ZH = "此消息与已辟谣的说法相符，请查看辟谣信息。"
LABEL_EN = "This message repeats a claim that has been debunked; see the fact check."
NOTICE_ZH = "您发送、转发或在群内收到过的一条消息已被辟谣，请查看辟谣信息。"
NOTICE_EN = ("A message you sent, forwarded or received in a group has since been debunked; "
             "see the fact check.")


# --- fields -------------------------------------------------------------------------------


class FieldProblem(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _text(name: str, value: object, limit: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldProblem(name, f"{name} is required and may not be blank")
        return None
    if not isinstance(value, str):
        raise FieldProblem(name, f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise FieldProblem(name, f"{name} is longer than {limit} characters")
    if not is_storable(value):
        raise FieldProblem(name, f"{name} contains characters that cannot be stored")
    return value


def check_field(name: str, value: object) -> Any:
    """One field of an entry, cleaned, or FieldProblem naming what is wrong."""
    if name == "claim":
        claim = _text(name, value, MAX_CLAIM_CHARS, required=True)
        assert claim is not None
        if not rtext.compact(rtext.prepare(claim)):
            raise FieldProblem(name, "claim has no letters or digits once normalised")
        return claim
    if name == "verdict":
        allowed = [v.value for v in Verdict]
        if value not in allowed:
            raise FieldProblem(name, f"verdict must be one of {', '.join(allowed)}")
        return str(value)
    if name == "refutation":
        return _text(name, value, MAX_REFUTATION_CHARS, required=True)
    if name == "publisher":
        return _text(name, value, MAX_PUBLISHER_CHARS, required=True)
    if name == "source_url":
        url = _text(name, value, MAX_URL_CHARS, required=False)
        if url is not None and not _URL.fullmatch(url):
            raise FieldProblem(name, "source_url must be an http:// or https:// address")
        return url
    if name == "published_on":
        if value is None or value == "":
            return None
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise FieldProblem(name, "published_on must be a date, YYYY-MM-DD")
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise FieldProblem(name, "published_on must be a date, YYYY-MM-DD") from None
    if name == "language":
        if value is None or value == "":
            return "zh"
        if not isinstance(value, str) or not _LANGUAGE.fullmatch(value.strip()):
            raise FieldProblem(name, "language must be a language tag such as zh or en")
        return value.strip()
    raise FieldProblem(name, f"unknown field {name!r} (known: {', '.join(FIELDS)})")


def check_fields(raw: Mapping[str, object], *, partial: bool = False) -> dict[str, Any]:
    """Every field of ``raw`` cleaned (all of them unless ``partial``); FieldProblem on the
    first bad one."""
    names = [n for n in FIELDS if n in raw] if partial else list(FIELDS)
    return {n: check_field(n, raw.get(n)) for n in names}


def check_phrasing(value: object, name: str = "text") -> str:
    """One phrasing, cleaned: at most MAX_PHRASING_CHARS, at least MIN_CLAIM_CHARS letters
    or digits once normalised, and no personal data (it is copied into the bank, where
    every officer reads it)."""
    phrasing = _text(name, value, MAX_PHRASING_CHARS, required=True)
    assert phrasing is not None
    if len(rtext.compact(rtext.prepare(phrasing))) < MIN_CLAIM_CHARS:
        raise FieldProblem(name, f"a phrasing needs at least {MIN_CLAIM_CHARS} letters or "
                           "digits once normalised")
    kinds = contains_personal_data(phrasing)
    if kinds:
        raise FieldProblem(name, "a phrasing may not carry personal data "
                           f"({', '.join(kinds)}): leave ID, phone and bank card numbers out")
    return phrasing


def check_phrasings(value: object) -> list[str]:
    """An import row's ``phrasings``: a list of texts, or one text with a phrasing a line."""
    if value is None or value == "":
        return []
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list):
        raise FieldProblem("phrasings", "phrasings must be a list of texts, or one phrasing "
                           "a line")
    items = [i for i in items if not (isinstance(i, str) and not i.strip())]
    if len(items) > MAX_PHRASINGS:
        raise FieldProblem("phrasings", f"at most {MAX_PHRASINGS} phrasings an entry")
    out: dict[str, str] = {}
    for item in items:
        clean = check_phrasing(item, "phrasings")
        out.setdefault(claim_key(clean), clean)
    return list(out.values())


def _invalid(problem: FieldProblem) -> QunguanError:
    return QunguanError("invalid_request", str(problem),
                        fields=[{"loc": ["body", problem.name], "msg": str(problem)}])


# --- officers' actions ----------------------------------------------------------------------


def _require_curator(acting: Account) -> None:
    """Officers keep the bank; the system account acts for the operator's CLI and the demo."""
    if str(acting.kind) not in ("officer", "system"):
        raise QunguanError("forbidden", "Only officers may change the debunk bank.")


# pg_advisory_xact_lock key of "a text is being given to a debunk": bank writes are rare (an
# officer's edit, a review decision, an import), so they take turns on one lock.
_BANK_TEXT_LOCK = 0x71756E6775616E01  # "qunguan" + 1


def _lock_bank_texts(uow: UnitOfWork) -> None:
    """Until the transaction ends, no other transaction gives a text to a debunk: the checks
    that one text stands for one debunk span two tables (claims and phrasings), which no
    unique index covers. SQLite already runs one writer at a time."""
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.session.execute(sql("SELECT pg_advisory_xact_lock(:k)"),
                            {"k": _BANK_TEXT_LOCK})


def _stated_elsewhere(uow: UnitOfWork, key: str, *, other_than: int | None = None
                      ) -> int | None:
    """The active entry (not ``other_than``) whose claim or an active phrasing says ``key``
    (the normalised text): no text may stand for two entries, or its copies would get
    whichever card the tie-break picks."""
    return _said_by_active(uow, [key], other_than=other_than).get(key)


def _duplicate(debunk_id: int) -> QunguanError:
    return QunguanError("debunk_duplicate", "An active debunk already states this claim.",
                        debunk_id=debunk_id)


def _insert(uow: UnitOfWork, acting: Account, fields: dict[str, Any]) -> DebunkEntry:
    now = uow.now()
    entry = DebunkEntry(**fields, claim_key=claim_key(fields["claim"]),
                        status=DebunkStatus.ACTIVE, version=1, added_at=now,
                        added_by=acting.id, updated_at=now, updated_by=acting.id)
    uow.session.add(entry)
    return entry


def _flush_unique(uow: UnitOfWork, key_of: Iterable[str]) -> None:
    """Flush, answering debunk_duplicate when a concurrent transaction committed the same
    claim first (the partial unique index on active claims caught it)."""
    try:
        with uow.savepoint():
            uow.session.flush()
    except IntegrityError:
        said = _said_by_active(uow, key_of)
        if said:
            raise _duplicate(next(iter(said.values()))) from None
        raise


def do_add_debunk(uow: UnitOfWork, *, acting: Account, fields: Mapping[str, object]
                  ) -> DebunkEntry:
    _require_curator(acting)
    try:
        clean = check_fields(fields)
    except FieldProblem as exc:
        raise _invalid(exc) from None
    _lock_bank_texts(uow)
    existing = _stated_elsewhere(uow, claim_key(clean["claim"]))
    if existing is not None:
        raise _duplicate(existing)
    entry = _insert(uow, acting, clean)
    _flush_unique(uow, [entry.claim_key])
    shown = card(entry)
    record_audit(uow, EventType.DEBUNK_ADDED, acting=acting, subject_type="debunk",
                 subject_id=entry.id, extra={"card": shown, "language": entry.language})
    uow.emit(EventType.DEBUNK_ADDED, debunk_id=entry.id, version=entry.version,
             verdict=entry.verdict)
    changed_on_commit(uow)
    return entry


def _locked_entry(uow: UnitOfWork, debunk_id: int) -> DebunkEntry:
    entry = uow.session.get(DebunkEntry, debunk_id, with_for_update=True)
    if entry is None:
        raise QunguanError("not_found", "No such debunk.")
    if entry.status != DebunkStatus.ACTIVE:
        raise QunguanError("debunk_retired", "The debunk was retired.", debunk_id=entry.id)
    return entry


def _check_version(entry: DebunkEntry, expected: int | None) -> None:
    if expected is not None and expected != entry.version:
        raise QunguanError("conflict", "The debunk changed since you read it.",
                           version=entry.version, expected_version=expected)


def do_edit_debunk(uow: UnitOfWork, *, acting: Account, debunk_id: int,
                   changes: Mapping[str, object], expected_version: int | None = None
                   ) -> DebunkEntry:
    """Change some fields; the version grows by one. Nothing changes (and nothing is
    recorded) when every given field already has its value."""
    _require_curator(acting)
    try:
        clean = check_fields(changes, partial=True)
    except FieldProblem as exc:
        raise _invalid(exc) from None
    entry = _locked_entry(uow, debunk_id)
    _check_version(entry, expected_version)
    before = {n: getattr(entry, n) for n in clean}
    diff = {n: v for n, v in clean.items() if before[n] != v}
    if not diff:
        return entry
    if "claim" in diff:
        key = claim_key(diff["claim"])
        _lock_bank_texts(uow)
        existing = _stated_elsewhere(uow, key, other_than=entry.id)
        if existing is not None:
            raise _duplicate(existing)
        entry.claim_key = key
    previous_verdict = entry.verdict
    for name, value in diff.items():
        setattr(entry, name, value)
    entry.version += 1
    entry.updated_at = uow.now()
    entry.updated_by = acting.id
    _flush_unique(uow, [entry.claim_key])

    def shown(v: object) -> object:
        return v.isoformat() if isinstance(v, date) else v

    record_audit(uow, EventType.DEBUNK_EDITED, acting=acting, subject_type="debunk",
                 subject_id=entry.id,
                 extra={"version": entry.version,
                        "before": {n: shown(before[n]) for n in diff},
                        "after": {n: shown(v) for n, v in diff.items()}})
    uow.emit(EventType.DEBUNK_EDITED, debunk_id=entry.id, version=entry.version,
             verdict=entry.verdict, previous_verdict=previous_verdict,
             claim_changed="claim" in diff)
    changed_on_commit(uow)
    return entry


def _retire_reason(reason: str, what: str) -> str:
    why = optional_text(reason, 500)
    if why is None or not is_storable(why):
        raise QunguanError("invalid_request", f"Give a reason for retiring {what}.",
                           fields=[{"loc": ["body", "reason"], "msg": "reason is required"}])
    kinds = contains_personal_data(why)
    if kinds:  # it is stored with the entry and in the audit record every officer reads
        raise QunguanError("invalid_request", "A reason may not carry personal data "
                           f"({', '.join(kinds)}).",
                           fields=[{"loc": ["body", "reason"],
                                    "msg": "leave ID, phone and bank card numbers out"}])
    return why


def do_retire_debunk(uow: UnitOfWork, *, acting: Account, debunk_id: int, reason: str,
                     expected_version: int | None = None) -> DebunkEntry:
    """Stop matching the entry. Cards already on messages stay: they said what was known."""
    _require_curator(acting)
    why = _retire_reason(reason, "the debunk")
    entry = _locked_entry(uow, debunk_id)
    _check_version(entry, expected_version)
    entry.status = DebunkStatus.RETIRED
    entry.version += 1
    entry.updated_at = uow.now()
    entry.updated_by = acting.id
    record_audit(uow, EventType.DEBUNK_RETIRED, acting=acting, subject_type="debunk",
                 subject_id=entry.id, extra={"version": entry.version, "reason": why})
    uow.emit(EventType.DEBUNK_RETIRED, debunk_id=entry.id, version=entry.version)
    changed_on_commit(uow)
    return entry


# --- phrasings: other forms of a claim, typed or learned from review --------------------------


def _insert_phrasing(uow: UnitOfWork, acting: Account, entry: DebunkEntry, text: str,
                     source: PhrasingSource, message_id: int | None) -> DebunkPhrasing:
    row = DebunkPhrasing(debunk_id=entry.id, text=text, text_key=claim_key(text),
                         source=source, message_id=message_id, added_at=uow.now(),
                         added_by=acting.id)
    uow.session.add(row)
    uow.session.flush()
    return row


def _changed(uow: UnitOfWork, acting: Account, entry: DebunkEntry) -> None:
    entry.version += 1
    entry.updated_at = uow.now()
    entry.updated_by = acting.id


@dataclass(frozen=True)
class PhrasingAdded:
    phrasing: DebunkPhrasing
    entry: DebunkEntry
    added: bool  # False: the entry already had it (a review that learns nothing new)


def do_add_phrasing(uow: UnitOfWork, *, acting: Account, debunk_id: int, text: object,
                    source: PhrasingSource = PhrasingSource.OFFICER,
                    message_id: int | None = None, expected_version: int | None = None
                    ) -> PhrasingAdded:
    """Give an entry another form of its claim; the entry's version grows and, for a claim
    found false or misleading, the last days' messages are matched again (CR-8). A phrasing
    the entry already has is refused (``phrasing_duplicate``), except from a review, where
    learning it twice is no error."""
    _require_curator(acting)
    try:
        clean = check_phrasing(text)
    except FieldProblem as exc:
        raise _invalid(exc) from None
    entry = _locked_entry(uow, debunk_id)
    _check_version(entry, expected_version)
    key = claim_key(clean)
    active = phrasings_for(uow, [entry.id])[entry.id]
    same = next((p for p in active if p.text_key == key), None)
    if same is not None or key == entry.claim_key:
        if source == PhrasingSource.REVIEW and same is not None:
            return PhrasingAdded(same, entry, added=False)
        raise QunguanError("phrasing_duplicate", "The debunk already says this.",
                           phrasing_id=same.id if same is not None else None)
    _lock_bank_texts(uow)
    other = _stated_elsewhere(uow, key, other_than=entry.id)
    if other is not None:
        raise QunguanError("phrasing_taken", "Another debunk already says this.",
                           debunk_id=other)
    if len(active) >= MAX_PHRASINGS:
        raise QunguanError("phrasings_full", f"The debunk has {MAX_PHRASINGS} phrasings; "
                           "retire one first.", limit=MAX_PHRASINGS)
    row = _insert_phrasing(uow, acting, entry, clean, source, message_id)
    _changed(uow, acting, entry)
    record_audit(uow, EventType.DEBUNK_PHRASING_ADDED, acting=acting, subject_type="debunk",
                 subject_id=entry.id,
                 extra={"version": entry.version, "phrasing_id": row.id, "source": source,
                        "message_id": message_id, "text": clean})
    uow.emit(EventType.DEBUNK_PHRASING_ADDED, debunk_id=entry.id, version=entry.version,
             verdict=entry.verdict, phrasing_id=row.id)
    changed_on_commit(uow)
    return PhrasingAdded(row, entry, added=True)


def do_retire_phrasing(uow: UnitOfWork, *, acting: Account, debunk_id: int, phrasing_id: int,
                       reason: str) -> DebunkPhrasing:
    """Stop matching one phrasing (say a reviewer confirmed a match too broadly)."""
    _require_curator(acting)
    why = _retire_reason(reason, "the phrasing")
    entry = _locked_entry(uow, debunk_id)
    row = uow.session.get(DebunkPhrasing, phrasing_id)
    if row is None or row.debunk_id != entry.id:
        raise QunguanError("not_found", "The debunk has no such phrasing.")
    if row.retired_at is not None:
        raise QunguanError("phrasing_retired", "The phrasing was already retired.")
    row.retired_at = uow.now()
    row.retired_by = acting.id
    row.retire_reason = why
    _changed(uow, acting, entry)
    record_audit(uow, EventType.DEBUNK_PHRASING_RETIRED, acting=acting, subject_type="debunk",
                 subject_id=entry.id,
                 extra={"version": entry.version, "phrasing_id": row.id, "reason": why})
    uow.emit(EventType.DEBUNK_PHRASING_RETIRED, debunk_id=entry.id, version=entry.version,
             phrasing_id=row.id)
    changed_on_commit(uow)
    return row


@dataclass(frozen=True)
class Confirmed:
    """What a reviewer's confirmation of a match did."""

    entry: DebunkEntry
    labelled: int  # messages that got the card (the message and its live copies)
    phrasing_id: int | None  # the phrasing learned (or already known), if any
    not_learned: str | None  # why the message's text was not learned, if it was not


def do_confirm_match(uow: UnitOfWork, *, acting: Account, message_id: int, debunk_id: int,
                     learn: bool = True) -> Confirmed:
    """A reviewer confirms that a message repeats a debunked claim (a suggestion of the
    review queue): the message and its live copies get the card, everyone who saw a copy of
    a claim found false or misleading is told once (CR-8), and the message's text becomes a
    phrasing of the entry, so its next copies and close paraphrases match on their own.
    Texts with personal data, or too long to be one claim, are not learned (the reviewer can
    type the claim's sentence as a phrasing instead)."""
    _require_curator(acting)
    entry = _locked_entry(uow, debunk_id)
    if entry.verdict not in LABELLING_VERDICTS:
        raise QunguanError("decision_not_applicable", "A claim found true gets no card.",
                           problem="debunk_true")
    message = messaging_queries.message_by_id(uow, message_id)
    if message is not None:
        # A recall committed since the review item was read must be seen, not overwritten
        # (its text would be labelled and learned).
        messaging_actions.lock(uow, message)
    if message is None or message.recalled_at is not None or not message.text:
        raise QunguanError("decision_not_applicable", "The message has no text to label.",
                           problem="no_text")
    shown = card(entry)
    copies = [message, *(m for m in messaging_queries.live_copies(uow, message.fingerprint)
                         if m.id != message.id)]
    labelled = len(_label_copies(uow, acting, shown, copies))
    if entry.verdict in CORRECTING_VERDICTS:
        _correct(uow, identity_queries.system_account(uow), entry, {message.fingerprint})
    if not learn:
        return Confirmed(entry, labelled, None, "not asked")
    try:
        text = check_phrasing(message.text)
    except FieldProblem as exc:
        return Confirmed(entry, labelled, None, str(exc))
    if claim_key(text) == entry.claim_key:
        return Confirmed(entry, labelled, None, "the message repeats the claim itself")
    try:
        with uow.savepoint():
            learned = do_add_phrasing(uow, acting=acting, debunk_id=entry.id, text=text,
                                      source=PhrasingSource.REVIEW, message_id=message.id)
    except QunguanError as exc:  # the entry is full of phrasings
        return Confirmed(entry, labelled, None, exc.message)
    return Confirmed(entry, labelled, learned.phrasing.id, None)


def forget_messages(uow: UnitOfWork, message_ids: Iterable[int]) -> int:
    """Retention purged these messages' text: phrasings learned from them keep the claim as
    a reviewer confirmed it circulates (bank content, checked for personal data when it was
    learned) but no longer name the message, whose row still names its sender. Returns how
    many phrasings were unlinked."""
    ids = list(message_ids)
    if not ids:
        return 0
    done = uow.session.execute(update(DebunkPhrasing).where(
        DebunkPhrasing.message_id.in_(ids)).values(message_id=None))
    return int(getattr(done, "rowcount", 0) or 0)


# --- import -------------------------------------------------------------------------------


@dataclass
class ImportResult:
    imported: list[DebunkEntry] = field(default_factory=list)
    # Rows left out: their claim is already said by an active entry ({line, debunk_id}) or
    # by an earlier row ({line, duplicate_of_line}); "phrasings" counts those they carried.
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    # Phrasings of imported rows left out: already said by an active entry or an earlier row.
    phrasings_skipped: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0


def _said_by_active(uow: UnitOfWork, keys: Iterable[str], *, other_than: int | None = None
                    ) -> dict[str, int]:
    """For each normalised text, the active entry (not ``other_than``) whose claim or an
    active phrasing says it; a claim wins over a phrasing."""
    ordered = sorted(set(keys))
    said: dict[str, int] = {}
    for start in range(0, len(ordered), 500):
        part = ordered[start:start + 500]
        claims = select(DebunkEntry.claim_key, DebunkEntry.id).where(
            DebunkEntry.claim_key.in_(part), DebunkEntry.status == DebunkStatus.ACTIVE)
        phrasings = select(DebunkPhrasing.text_key, DebunkPhrasing.debunk_id).join(
            DebunkEntry, DebunkEntry.id == DebunkPhrasing.debunk_id).where(
            DebunkPhrasing.text_key.in_(part), DebunkPhrasing.retired_at.is_(None),
            DebunkEntry.status == DebunkStatus.ACTIVE)
        if other_than is not None:
            claims = claims.where(DebunkEntry.id != other_than)
            phrasings = phrasings.where(DebunkPhrasing.debunk_id != other_than)
        # Iterated: dict.update(result) would take the Result for a mapping (it has keys()).
        for stmt in (claims, phrasings):
            for key, debunk_id in uow.session.execute(stmt):
                said.setdefault(key, debunk_id)
    return said


@dataclass
class _Parsed:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.errors.append({"line": line, "message": message})


def _take(parsed: _Parsed, line: int, raw: Mapping[str, object]) -> None:
    given: dict[str, object] = {}
    for name, value in raw.items():
        name = ALIASES.get(name, name)
        if name in IGNORED:
            continue
        if name not in FIELDS and name != "phrasings":
            parsed.error(line, f"unknown field {name!r} (known: {', '.join(KNOWN)})")
            return
        given[name] = value
    missing = [n for n in REQUIRED if n not in given]
    if missing:
        parsed.error(line, f"missing {', '.join(missing)}")
        return
    try:
        phrasings = check_phrasings(given.pop("phrasings", None))
        parsed.rows.append((line, {**check_fields(given), "phrasings": phrasings}))
    except FieldProblem as exc:
        parsed.error(line, str(exc))


def parse_import(content: str, fmt: str) -> _Parsed:
    """Rows of a CSV (a header row naming the columns) or JSONL (one object a line) file, each
    with its line number; each bad row becomes an error naming its line."""
    parsed = _Parsed()
    if fmt == "jsonl":
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                parsed.error(number, f"not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                parsed.error(number, "not a JSON object")
                continue
            _take(parsed, number, row)
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(content, newline=""))
        try:
            header = [ALIASES.get(h.strip(), h.strip()) for h in (reader.fieldnames or [])]
            if not header:
                parsed.error(1, "no header row (claim, verdict, refutation, publisher, …)")
                return parsed
            unknown = [h for h in header if h not in KNOWN and h not in IGNORED]
            if unknown:
                parsed.error(1, f"unknown column {unknown[0]!r} (known: {', '.join(KNOWN)})")
                return parsed
            reader.fieldnames = header
            for row in reader:
                at = reader.line_num
                if None in row:
                    parsed.error(at, "more cells than columns")
                    continue
                if all(v is None or not str(v).strip() for v in row.values()):
                    continue
                _take(parsed, at, {k: v for k, v in row.items() if v is not None})
        except csv.Error as exc:
            parsed.error(reader.line_num, f"not CSV ({exc})")
    else:
        raise QunguanError("invalid_request", "format must be csv or jsonl.",
                           fields=[{"loc": ["body", "format"], "msg": "csv or jsonl"}])
    if len(parsed.rows) + len(parsed.errors) > MAX_IMPORT_ROWS:
        parsed.error(0, f"more than {MAX_IMPORT_ROWS} rows: split the file")
    return parsed


def do_import_debunks(uow: UnitOfWork, *, acting: Account, content: str, fmt: str,
                      source: str = "upload") -> ImportResult:
    """All or nothing: every row is checked first, and one bad row imports none (the error
    lists each bad row with its line). A row whose claim an active entry already says (as
    its claim or a phrasing), or an earlier row does, is a duplicate: reported and skipped, so
    importing a file twice is harmless (the phrasings it carried are counted, not added: an
    existing entry takes them through ``do_add_phrasing``). A phrasing that another entry or
    an earlier row already says is left out and reported; one text stands for one entry."""
    _require_curator(acting)
    parsed = parse_import(content, fmt)
    if not parsed.rows and not parsed.errors:
        parsed.error(0, "the file has no rows")
    if parsed.errors:
        raise QunguanError("debunk_import_invalid",
                           f"{len(parsed.errors)} bad row(s); nothing was imported.",
                           errors=parsed.errors[:MAX_REPORTED_ERRORS],
                           error_count=len(parsed.errors))
    result = ImportResult(rows=len(parsed.rows))
    keyed = [(line, fields, claim_key(fields["claim"])) for line, fields in parsed.rows]
    wanted = {k for _, _, k in keyed} | {claim_key(p) for _, fields, _ in keyed
                                         for p in fields["phrasings"]}
    _lock_bank_texts(uow)
    taken = _said_by_active(uow, wanted)  # what the bank's active entries say already
    said_here: dict[str, int] = {}  # a text this import gives an entry: the row's line

    def said_by(key: str) -> dict[str, int] | None:
        """Where a text is said already: an active entry, or an earlier row."""
        if key in taken:
            return {"debunk_id": taken[key]}
        if key in said_here:
            return {"duplicate_of_line": said_here[key]}
        return None

    new_phrasings: dict[int, list[str]] = {}
    for line, fields, key in keyed:
        phrasings = fields.pop("phrasings")
        where = said_by(key)
        if where is not None:
            # Phrasings go to an existing entry through its own endpoint, which checks them
            # against it; the report says they were left out.
            result.duplicates.append({"line": line, **where,
                                      **({"phrasings": len(phrasings)} if phrasings else {})})
            continue
        said_here[key] = line
        kept = []
        for text in phrasings:
            pkey = claim_key(text)
            if said_here.get(pkey) == line:
                continue  # the row's own claim, or twice in this row: nothing to add
            where = said_by(pkey)
            if where is not None:
                result.phrasings_skipped.append({"line": line, "text": text[:80], **where})
                continue
            said_here[pkey] = line
            kept.append(text)
        entry = _insert(uow, acting, fields)
        result.imported.append(entry)
        new_phrasings[id(entry)] = kept
    _flush_unique(uow, [e.claim_key for e in result.imported])
    learned: list[dict[str, Any]] = []
    for entry in result.imported:
        for phrasing in new_phrasings[id(entry)]:
            row = _insert_phrasing(uow, acting, entry, phrasing, PhrasingSource.IMPORT, None)
            learned.append({"debunk_id": entry.id, "phrasing_id": row.id, "text": phrasing})
    record_audit(uow, EventType.DEBUNKS_IMPORTED, acting=acting, subject_type="debunk_import",
                 extra={"source": source[:200], "format": fmt, "rows": result.rows,
                        "imported": [e.id for e in result.imported],
                        "phrasings": learned,
                        "phrasings_skipped": result.phrasings_skipped[:MAX_REPORTED_ERRORS],
                        "duplicates": result.duplicates[:MAX_REPORTED_ERRORS],
                        "duplicate_count": len(result.duplicates)})
    if result.imported:
        uow.emit(EventType.DEBUNKS_IMPORTED,
                 debunks=[{"debunk_id": e.id, "version": e.version, "verdict": e.verdict}
                          for e in result.imported])
        changed_on_commit(uow)
    return result


# --- cards on copies and corrections (outbox handlers, acting as the system account) -------


def card_label(shown: dict[str, Any]) -> dict[str, Any]:
    """The label a debunk card travels in when it is added after delivery."""
    return {"rule": LABEL_RULE, "detector": "debunk", "text_zh": LABEL_ZH, "text_en": LABEL_EN,
            "data": {"key": f"debunk:{shown['debunk_id']}", "cards": [shown]}}


def _cards_of(labels: object) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for label in labels if isinstance(labels, list) else ():
        data = label.get("data") if isinstance(label, dict) else None
        for shown in (data.get("cards") or []) if isinstance(data, dict) else ():
            if isinstance(shown, dict) and "debunk_id" in shown:
                out.append(shown)
    return out


def _same_card(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two cards say the same: every field but the entry's version, which also grows with
    changes no reader sees (a phrasing added or retired)."""
    return {k: v for k, v in a.items() if k != "version"} == \
        {k: v for k, v in b.items() if k != "version"}


def _has_card(message: Message, shown: dict[str, Any]) -> bool:
    return any(_same_card(c, shown) for c in _cards_of(message.labels))


def _label_copies(uow: UnitOfWork, system: Account, shown: dict[str, Any],
                  copies: Iterable[Message]) -> list[Message]:
    todo = [m.id for m in copies if m.recalled_at is None and not _has_card(m, shown)]
    if not todo:
        return []
    return messaging_actions.do_label_messages(uow, acting=system, message_ids=todo,
                                               label=card_label(shown))


def on_message_delivered(uow: UnitOfWork, event: Event) -> None:
    """A message went out with a debunk card: its earlier copies get the card too."""
    view = event.payload.get("message")
    if not isinstance(view, dict) or not view.get("fingerprint"):
        return
    cards = _cards_of(view.get("labels"))
    if not cards:
        return
    copies = messaging_queries.live_copies(uow, str(view["fingerprint"]))
    system = identity_queries.system_account(uow)
    for shown in {c["debunk_id"]: c for c in cards}.values():
        _label_copies(uow, system, shown, copies)


def _notify(uow: UnitOfWork, system: Account, entry: DebunkEntry, account_ids: set[int]
            ) -> list[int]:
    """Tell each account once per debunk: the notice rows are inserted with ON CONFLICT DO
    NOTHING and only the rows actually inserted are told."""
    if not account_ids:
        return []
    dialect = uow.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    told: list[int] = []
    ordered = sorted(account_ids)
    for start in range(0, len(ordered), _NOTICE_CHUNK):
        rows = [{"debunk_id": entry.id, "account_id": a, "debunk_version": entry.version,
                 "notified_at": uow.now()} for a in ordered[start:start + _NOTICE_CHUNK]]
        stmt = insert(CorrectionNotice).values(rows).on_conflict_do_nothing(
            index_elements=[CorrectionNotice.debunk_id, CorrectionNotice.account_id]
        ).returning(CorrectionNotice.account_id)
        told.extend(int(a) for a in uow.session.scalars(stmt))
    if told:
        told.sort()
        shown = card(entry)
        record_audit(uow, EventType.CORRECTION_SENT, acting=system, subject_type="debunk",
                     subject_id=entry.id,
                     extra={"version": entry.version, "accounts": told, "count": len(told)})
        uow.emit(EventType.CORRECTION_SENT, account_ids=tuple(told), debunk=shown,
                 text_zh=NOTICE_ZH, text_en=NOTICE_EN)
    return told


def _correct(uow: UnitOfWork, system: Account, entry: DebunkEntry,
             fingerprints: set[str]) -> None:
    """Label every live copy of the matched texts and tell everyone who saw one."""
    shown = card(entry)
    copies: list[Message] = []
    for digest in sorted(fingerprints):
        copies.extend(messaging_queries.live_copies(uow, digest))
    _label_copies(uow, system, shown, copies)
    readers: set[int] = set()
    groups: set[int] = set()
    for message in copies:
        readers.add(message.sender_id)  # the sender, and a forwarder sent the copy
        if message.status == MessageStatus.DELIVERED:
            groups.add(message.group_id)
    for group_id in sorted(groups):
        readers.update(group_queries.member_ids(uow, group_id))
    _notify(uow, system, entry, readers)


def needs_correction(verdict: str, previous_verdict: str | None = None,
                     claim_changed: bool = False) -> bool:
    """Added, or upgraded to false/misleading, or its claim reworded while false/misleading."""
    if verdict not in CORRECTING_VERDICTS:
        return False
    return previous_verdict is None or previous_verdict not in CORRECTING_VERDICTS \
        or claim_changed


def sweep_step(uow: UnitOfWork, targets: Mapping[int, int], *, before_id: int | None,
               since: datetime) -> int | None:
    """One step of a retroactive match: up to ``rumors_correction_batch`` delivered messages
    older than ``before_id`` (newest first) and not older than ``since``. ``targets`` maps
    debunk ids to the version that started the sweep; an entry is dropped once it is retired
    or its verdict no longer calls for a correction, and matched as it is now otherwise. A
    later change does not stop the sweep: most changes start none of their own (a phrasing
    retired, the publisher corrected), and one that does makes the two sweeps overlap, which
    costs matching time but no second card (``_has_card``) and no second notice (one per
    member and debunk). Returns the cursor of the next step, or None when done; the caller
    schedules it."""
    entries = {e.id: e for e in uow.session.scalars(
        select(DebunkEntry).where(DebunkEntry.id.in_(list(targets))))}
    current = {i: e for i, e in entries.items()
               if e.status == DebunkStatus.ACTIVE and e.verdict in CORRECTING_VERDICTS}
    if not current:
        return None
    live = live_bank(uow, fresh=True)
    label_at = live.thresholds.label
    batch = uow.settings.rumors_correction_batch
    stmt = select(Message).where(Message.status == MessageStatus.DELIVERED,
                                 Message.text.is_not(None))
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    messages = list(uow.session.scalars(stmt.order_by(Message.id.desc()).limit(batch)))
    matched: dict[int, set[str]] = {}
    seen: dict[str, list[int]] = {}
    done = len(messages) < batch
    for message in messages:
        if message.created_at < since:
            done = True
            break
        ids = seen.get(message.fingerprint)
        if ids is None:
            ids = seen[message.fingerprint] = [
                f.debunk_id for f in live.match(message.text or "", top=5)
                if f.debunk_id in current and f.score >= label_at]
        for debunk_id in ids:
            matched.setdefault(debunk_id, set()).add(message.fingerprint)
    if matched:
        system = identity_queries.system_account(uow)
        for debunk_id in sorted(matched):
            _correct(uow, system, current[debunk_id], matched[debunk_id])
    return None if done or not messages else messages[-1].id


def start_sweep(uow: UnitOfWork, targets: Mapping[int, int]) -> None:
    since = uow.now() - timedelta(days=uow.settings.rumors_correction_days)
    _continue(uow, targets, None, since)


def _continue(uow: UnitOfWork, targets: Mapping[int, int], before_id: int | None,
              since: datetime) -> None:
    cursor = sweep_step(uow, targets, before_id=before_id, since=since)
    if cursor is not None:
        # The next step is its own outbox event, hence its own short transaction.
        uow.emit(EventType.CORRECTION_SWEEP,
                 targets={str(k): v for k, v in targets.items()}, before_id=cursor,
                 since=since.isoformat())


def on_debunk_added(uow: UnitOfWork, event: Event) -> None:
    p = event.payload
    if needs_correction(str(p.get("verdict"))):
        start_sweep(uow, {int(p["debunk_id"]): int(p["version"])})


def on_debunk_edited(uow: UnitOfWork, event: Event) -> None:
    p = event.payload
    if needs_correction(str(p.get("verdict")), str(p.get("previous_verdict")),
                        bool(p.get("claim_changed"))):
        start_sweep(uow, {int(p["debunk_id"]): int(p["version"])})


def on_phrasing_added(uow: UnitOfWork, event: Event) -> None:
    p = event.payload
    if str(p.get("verdict")) in CORRECTING_VERDICTS:
        start_sweep(uow, {int(p["debunk_id"]): int(p["version"])})


def on_debunks_imported(uow: UnitOfWork, event: Event) -> None:
    targets = {int(d["debunk_id"]): int(d["version"])
               for d in event.payload.get("debunks") or []
               if needs_correction(str(d.get("verdict")))}
    if targets:
        start_sweep(uow, targets)


def on_correction_sweep(uow: UnitOfWork, event: Event) -> None:
    p = event.payload
    targets = {int(k): int(v) for k, v in dict(p["targets"]).items()}
    _continue(uow, targets, int(p["before_id"]), datetime.fromisoformat(str(p["since"])))


register_handler(EventType.MESSAGE_POSTED, on_message_delivered)
register_handler(EventType.MESSAGE_FORWARDED, on_message_delivered)
register_handler(EventType.MESSAGE_RELEASED, on_message_delivered)
register_handler(EventType.DEBUNK_ADDED, on_debunk_added)
register_handler(EventType.DEBUNK_EDITED, on_debunk_edited)
register_handler(EventType.DEBUNKS_IMPORTED, on_debunks_imported)
register_handler(EventType.DEBUNK_PHRASING_ADDED, on_phrasing_added)
register_handler(EventType.CORRECTION_SWEEP, on_correction_sweep)
