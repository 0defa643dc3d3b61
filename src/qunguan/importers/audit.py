"""``qunguan audit``: the governance pipeline over exported archives, offline.

The main process reads the archives as one stream of events (``stream.Archive``), computes
what needs the order of the stream (the flood count: a sender's messages in the group in the
minute before; whether it is the sender's first message in the group), and hands chunks of
messages to ``--workers`` processes, each with its own ``screener.Screener`` (the policy
pack, the detectors, the debunk bank). Results come back in order; the main process writes
each finding to ``findings.jsonl`` at once and keeps in memory only counts per group and day
and the state of senders active in the last minute; what it keeps per message (a bounded
number of flagged messages per group with two messages of context on each side, the recalled
ids, the messages that repeat a debunked claim, for clustering, and the red envelopes) goes to
a temporary SQLite database (``spill.Spill``). Memory during the stream therefore grows with
the number of groups and (group, sender) pairs, not with the number of messages; at most
``workers × 2`` chunks are in flight (``_screened`` does not read ahead of them).

At the end, the rumour copies are read back and clustered with rumours' ``cluster_messages``
(the code of ``qunguan rumors cascades``; this step reads every copy and indexes each distinct
text once, so its memory grows with the distinct ones, at most ``MAX_RUMOUR_COPIES``
copies), vote-buying detectors registered in ``elections`` run over the envelope records
read from disk in time order, and
``report.html`` is rendered straight to its file, the examples read group by group.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from qunguan.importers.elections import (
    Election,
    EnvelopeRecord,
    envelope_detectors,
    read_elections,
)
from qunguan.importers.events import TEXT_KINDS, ArchiveEvent, iso_utc
from qunguan.importers.masking import mask
from qunguan.importers.pseudonyms import Pseudonyms
from qunguan.importers.reading import ReadError
from qunguan.importers.report import write_report
from qunguan.importers.screener import (
    Item,
    Outcome,
    Screener,
    init_worker,
    load_bank,
    load_pack,
    screen_chunk,
)
from qunguan.importers.spill import Spill
from qunguan.importers.stream import Archive, StrictStop
from qunguan.rumors.cascades import Message, cluster_messages

CHUNK = 500
EXAMPLES_PER_GROUP = 50  # flagged messages shown in context per group
CONTEXT = 2  # messages before and after a flagged one
EXCERPT_CHARS = 300
MAX_RUMOUR_COPIES = 200_000  # messages kept for clustering; beyond, counted only
ERRORS_IN_REPORT = 200
FLOOD_SECONDS = 60
FLOOD_PURGE_EVERY = 10_000
RUMOUR_DETECTORS = frozenset({"debunk", "debunk_review", "alarm"})


@dataclass
class AuditOptions:
    files: list[Path]
    out: Path
    fmt: str = "auto"
    bank: Path | None = None
    policy: Path | None = None
    elections: Path | None = None
    workers: int = 0  # 0: the number of cores
    strict: bool = False
    reveal_map: Path | None = None
    key: bytes | None = None
    category: str = ""


def _excerpt(text: str) -> str:
    text = mask(text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


@dataclass
class GroupStats:
    name: str
    messages: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    flagged: int = 0
    first: datetime | None = None
    last: datetime | None = None
    senders: set[str] = field(default_factory=set)
    shown: int = 0  # flagged messages kept (on disk) to show in context, at most
    # EXAMPLES_PER_GROUP


@dataclass
class Tally:
    """What the report needs, gathered in stream order."""

    pseudonyms: Pseudonyms
    groups: dict[str, GroupStats] = field(default_factory=dict)
    events: int = 0
    messages: int = 0
    screened: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    rules: Counter[tuple[str, str]] = field(default_factory=Counter)
    pii: Counter[str] = field(default_factory=Counter)
    pii_groups: Counter[str] = field(default_factory=Counter)
    rumour_copies: int = 0  # kept (on disk) for clustering
    rumour_dropped: int = 0
    envelopes: int = 0  # red envelopes and transfers (their records on disk)
    envelope_days: dict[str, Counter[date]] = field(default_factory=dict)
    envelope_fen: dict[str, Counter[date]] = field(default_factory=dict)
    envelope_unknown_amount: Counter[str] = field(default_factory=Counter)
    errors: list[ReadError] = field(default_factory=list)
    error_count: int = 0
    before: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    # Examples still collecting the lines after them, with their number in the group.
    waiting: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    flood: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)
    # (group, sender) pairs that have posted text, as 64-bit digests: an int costs a third of
    # a tuple of the event's two strings, and this set grows with the archive's pairs.
    seen_senders: set[int] = field(default_factory=set)
    since_purge: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None

    def group_label(self, group: str) -> str:
        if group.startswith("dm:"):  # a one-to-one chat's id is its two senders
            return "dm:" + "|".join(self.pseudonyms.of(p) for p in group[3:].split("|"))
        return group

    def stats(self, event: ArchiveEvent) -> GroupStats:
        key = self.group_label(event.group)
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = GroupStats(event.group_name or key)
        elif event.group_name and found.name == key:
            found.name = event.group_name
        return found


def pair_digest(group: str, sender: str) -> int:
    """A (group, sender) pair as a 64-bit number (collisions: about one in 10^9 for 200,000
    pairs, which would only make one sender's first message not count as the first)."""
    return int.from_bytes(hashlib.blake2b(f"{group}\x1f{sender}".encode(), digest_size=8)
                          .digest(), "big")


def _item(tally: Tally, index: int, event: ArchiveEvent) -> Item | None:
    """The worker's input for a message with text, with the counts that need stream order."""
    text = event.content if event.kind in TEXT_KINDS else event.text if \
        event.kind == "red_envelope" else ""
    if not text.strip():
        return None
    key = (event.group, event.sender)
    tally.since_purge += 1
    if tally.since_purge >= FLOOD_PURGE_EVERY:
        # Forget senders silent for a minute, so the flood state holds only the active ones.
        # abs(): files are read one after another, so time may step back at a file's start,
        # and a window from another file's later times must go too, not stay for ever.
        tally.since_purge = 0
        tally.flood = {k: w for k, w in tally.flood.items()
                       if w and abs((event.ts - w[-1]).total_seconds()) <= FLOOD_SECONDS}
    window = tally.flood.get(key)
    if window is None:
        window = tally.flood[key] = deque()
    while window and (event.ts - window[0]).total_seconds() > FLOOD_SECONDS:
        window.popleft()
    recent = len(window)
    window.append(event.ts)
    pair = pair_digest(event.group, event.sender)
    first = pair not in tally.seen_senders
    tally.seen_senders.add(pair)
    return Item(index, text, event.kind == "forward", recent, first)


def _kind_of(hit: dict[str, Any]) -> str:
    names = set(hit["detectors"].split(","))
    if "personal_data" in names:
        return "pii"
    if names & RUMOUR_DETECTORS:
        return "rumour"
    return "screening"


class Run:
    def __init__(self, options: AuditOptions, findings: TextIO,
                 on_error: Callable[[ReadError], None] | None, spill: Spill) -> None:
        self.options = options
        self.findings = findings
        self.on_error = on_error
        self.spill = spill
        self.tally = Tally(Pseudonyms(options.key, keep_map=options.reveal_map is not None))
        self.errors_file: TextIO | None = None

    def error(self, error: ReadError) -> None:
        self.tally.error_count += 1
        if len(self.tally.errors) < ERRORS_IN_REPORT:
            self.tally.errors.append(error)
        if self.errors_file is not None:
            self.errors_file.write(str(error) + "\n")
        if self.on_error is not None:
            self.on_error(error)

    def write(self, finding: dict[str, Any]) -> None:
        self.tally.findings[finding["kind"]] += 1
        self.tally.rules[(finding["kind"], finding["rule"])] += 1
        self.findings.write(json.dumps(finding, ensure_ascii=False) + "\n")

    def take(self, events: list[ArchiveEvent], outcomes: dict[int, Outcome],
             screened: int) -> None:
        """Fold one chunk, in stream order, into the tally."""
        t = self.tally
        t.screened += screened
        for index, event in enumerate(events):
            t.events += 1
            t.first_ts = event.ts if t.first_ts is None else min(t.first_ts, event.ts)
            t.last_ts = event.ts if t.last_ts is None else max(t.last_ts, event.ts)
            stats = t.stats(event)
            group = t.group_label(event.group)
            stats.kinds[event.kind] += 1
            stats.first = event.ts if stats.first is None else min(stats.first, event.ts)
            stats.last = event.ts if stats.last is None else max(stats.last, event.ts)
            sender = t.pseudonyms.of(event.sender, event.sender_name)
            if sender:
                stats.senders.add(sender)
            if event.kind in TEXT_KINDS:
                t.messages += 1
                stats.messages += 1
            if event.kind == "recall" and event.recalled_id:
                self.spill.add_recalled(event.recalled_id)
            if event.kind in ("red_envelope", "transfer"):
                self._envelope(event, group, sender)
            line = {"id": event.id, "sender": sender, "time": iso_utc(event.ts),
                    "kind": event.kind, "media": event.media,
                    # System and membership lines name members: not shown.
                    "text": _excerpt(event.content) if event.content and (
                        event.kind in TEXT_KINDS or event.kind == "red_envelope") else ""}
            waiting = t.waiting.get(group)
            if waiting:
                for _, example in waiting:
                    example["after"].append(line)
                self._store([w for w in waiting if len(w[1]["after"]) >= CONTEXT], group)
                waiting[:] = [w for w in waiting if len(w[1]["after"]) < CONTEXT]
            outcome = outcomes.get(index)
            if outcome is not None:
                self._flagged(event, outcome, stats, group, sender, line)
            t.before.setdefault(group, deque(maxlen=CONTEXT)).append(line)

    def _store(self, examples: Iterable[tuple[int, dict[str, Any]]], group: str) -> None:
        for seq, example in examples:
            self.spill.add_example(group, seq, example)

    def finish(self) -> None:
        """The end of the stream: examples short of lines after them are stored as they are,
        and the state only the stream needs (per sender and group: flood windows, who has
        spoken, the pseudonym cache; context lines) is let go before clustering needs memory."""
        t = self.tally
        for group, waiting in t.waiting.items():
            self._store(waiting, group)
        t.waiting.clear()
        t.before.clear()
        t.flood.clear()
        t.seen_senders.clear()
        t.pseudonyms.forget_cache()

    def _envelope(self, event: ArchiveEvent, group: str, sender: str) -> None:
        t = self.tally
        day = event.ts.astimezone(UTC).date()
        if event.kind == "red_envelope":
            t.envelope_days.setdefault(group, Counter())[day] += 1
            if event.amount_fen is None:
                t.envelope_unknown_amount[group] += 1
            else:
                t.envelope_fen.setdefault(group, Counter())[day] += event.amount_fen
        t.envelopes += 1
        self.spill.add_envelope(EnvelopeRecord(event.id, event.kind, group, sender, event.ts,
                                               event.amount_fen, event.parts))

    def _flagged(self, event: ArchiveEvent, outcome: Outcome, stats: GroupStats, group: str,
                 sender: str, line: dict[str, Any]) -> None:
        t = self.tally
        if outcome.debunk is not None:
            if t.rumour_copies < MAX_RUMOUR_COPIES:
                t.rumour_copies += 1
                self.spill.add_copy(Message(event.id, event.content, event.ts, group, sender,
                                            None), outcome.debunk[0])
            else:
                t.rumour_dropped += 1
        if not outcome.hits:
            return
        stats.flagged += 1
        kinds = []
        for hit in outcome.hits:
            kind = _kind_of(hit)
            kinds.append(kind)
            if kind == "pii":
                for s in hit["signals"]:
                    if s["detector"] == "personal_data":
                        t.pii[s["label"]] += s["count"]
                t.pii_groups[group] += 1
            self.write({"kind": kind, "rule": hit["rule"], "action": hit["action"],
                        "severity": hit["severity"], "mode": hit["mode"],
                        "message_ids": [event.id], "group": group, "group_name": stats.name,
                        "time": iso_utc(event.ts), "sender": sender, "file": event.file,
                        "line": event.line, "evidence": {
                            "detectors": hit["detectors"], "reason": hit["reason_en"],
                            "signals": hit["signals"], "excerpt": line["text"]}})
        if stats.shown < EXAMPLES_PER_GROUP:
            example = {**line, "rules": [h["rule"] for h in outcome.hits],
                       "kinds": sorted(set(kinds)), "before": list(t.before.get(group, ())),
                       "after": []}
            t.waiting.setdefault(group, []).append((stats.shown, example))
            stats.shown += 1


def _chunks(archive: Archive, tally: Tally) -> Iterator[tuple[list[ArchiveEvent], list[Item]]]:
    events: list[ArchiveEvent] = []
    items: list[Item] = []
    for event in archive:
        item = _item(tally, len(events), event)
        events.append(event)
        if item is not None:
            items.append(item)
        if len(events) >= CHUNK:
            yield events, items
            events, items = [], []
    if events:
        yield events, items


def _screened(chunks: Iterator[tuple[list[ArchiveEvent], list[Item]]], options: AuditOptions,
              workers: int) -> Iterator[tuple[list[ArchiveEvent], dict[int, Outcome], int]]:
    """Each chunk with its outcomes (flagged or rumour-matched messages only), in order."""
    def keep(outcomes: list[Outcome]) -> dict[int, Outcome]:
        return {o.index: o for o in outcomes if o.hits or o.debunk is not None}

    if workers <= 1:
        init_worker(options.policy, options.bank, options.category)
        for events, items in chunks:
            yield events, keep(screen_chunk(items)), len(items)
        return
    window: deque[tuple[list[ArchiveEvent], int, Future[list[Outcome]]]] = deque()
    with ProcessPoolExecutor(workers, initializer=init_worker,
                             initargs=(options.policy, options.bank, options.category)) as pool:
        for events, items in chunks:
            window.append((events, len(items), pool.submit(screen_chunk, items)))
            while len(window) > workers * 2:
                done_events, n, future = window.popleft()
                yield done_events, keep(future.result()), n
        while window:
            done_events, n, future = window.popleft()
            yield done_events, keep(future.result()), n


def _no_examples(group: str) -> Iterable[dict[str, Any]]:
    return ()


@dataclass
class AuditSummary:
    tally: Tally
    clusters: list[dict[str, Any]]
    envelope_findings: list[dict[str, Any]]
    elections: list[Election]
    options: AuditOptions
    started: datetime
    seconds: float
    skipped_detectors: list[str]
    pack: str
    bank: str
    strict_stopped: str | None = None
    read_seconds: float = 0.0  # reading and screening the stream; the rest is the report
    # A group's flagged messages shown in context (read from the spill while the report is
    # written; empty once ``run_audit`` has returned).
    examples: Callable[[str], Iterable[dict[str, Any]]] = field(default=_no_examples)


def run_audit(options: AuditOptions, *,
              on_progress: Callable[[Archive, Tally], None] | None = None,
              on_error: Callable[[ReadError], None] | None = None) -> AuditSummary:
    """Audit the archives into ``options.out`` (findings.jsonl, errors.txt, report.html and,
    when asked, the reveal map). Raises the loaders' errors for a bad bank, pack or elections
    file before reading any archive."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    elections = read_elections(options.elections) if options.elections else []
    pack = load_pack(options.policy)  # validate in the parent before any worker starts
    # The workers load their own bank; the main process only checks it and asks which
    # detectors cannot run, then lets it go.
    skipped = Screener(pack, load_bank(options.bank)[0], {}, options.category).skipped
    workers = options.workers or os.cpu_count() or 1
    options.out.mkdir(parents=True, exist_ok=True)
    stopped = None
    with Spill() as spill, \
            (options.out / "findings.jsonl").open("w", encoding="utf-8") as findings, \
            (options.out / "errors.txt").open("w", encoding="utf-8") as errors_file:
        run = Run(options, findings, on_error, spill)
        run.errors_file = errors_file
        archive = Archive(options.files, options.fmt, options.strict, run.error)
        try:
            for events, outcomes, screened in _screened(_chunks(archive, run.tally), options,
                                                        workers):
                run.take(events, outcomes, screened)
                if on_progress is not None:
                    on_progress(archive, run.tally)
        except StrictStop as exc:
            stopped = str(exc.error)
        run.finish()
        read_seconds = time.monotonic() - clock
        clusters = _clusters(run)
        envelope_findings = _envelope_findings(run, elections)
        findings.close()
        errors_file.close()
        if options.reveal_map is not None:
            run.tally.pseudonyms.write_map(options.reveal_map)
        summary = AuditSummary(run.tally, clusters, envelope_findings, elections, options,
                               started, time.monotonic() - clock, skipped,
                               f"{pack.name} (version {pack.version}, {pack.digest[:12]})"
                               if options.policy is None else
                               f"{pack.name} from {options.policy}",
                               str(options.bank) if options.bank else
                               "the shipped starter bank", stopped, read_seconds,
                               spill.examples)
        write_report(summary, options.out / "report.html")
    summary.examples = _no_examples
    return summary


def _clusters(run: Run) -> list[dict[str, Any]]:
    """Rumour copies clustered as ``qunguan rumors cascades`` does; one finding each."""
    if not run.tally.rumour_copies:
        return []
    copies: list[Message] = []
    debunk_of: dict[str, str] = {}
    for m, debunk_id in run.spill.copies():
        copies.append(m)
        debunk_of[m.id] = debunk_id
    cluster_of = cluster_messages(copies)
    members: dict[str, list[Message]] = {}
    for m in copies:
        members.setdefault(cluster_of[m.id], []).append(m)
    del copies
    out: list[dict[str, Any]] = []
    for cluster_id, ms in members.items():
        ms.sort(key=lambda m: (m.ts, m.id))
        first = ms[0]
        reached: dict[str, datetime] = {}
        for m in ms:
            reached.setdefault(m.group, m.ts)
        debunks = Counter(debunk_of.get(m.id, "") for m in ms).most_common(1)
        cluster: dict[str, Any] = {"cluster": cluster_id, "copies": len(ms), "groups": len(reached),
                   "senders": len({m.sender for m in ms if m.sender}),
                   "first": {"id": first.id, "group": first.group, "sender": first.sender,
                             "time": iso_utc(first.ts), "text": _excerpt(first.text)},
                   "last_time": iso_utc(ms[-1].ts),
                   "span_seconds": int((ms[-1].ts - first.ts).total_seconds()),
                   "group_reached": {g: iso_utc(ts) for g, ts in reached.items()},
                   "debunk_id": debunks[0][0] if debunks else "",
                   "times": [m.ts for m in ms]}
        out.append(cluster)
        run.write({"kind": "rumour_cluster", "rule": "rumors.cluster",
                   "message_ids": [m.id for m in ms[:1000]], "group": first.group,
                   "time": iso_utc(first.ts), "sender": first.sender,
                   "evidence": {k: v for k, v in cluster.items() if k != "times"}})
    out.sort(key=lambda c: (-c["groups"], -c["copies"], c["cluster"]))
    return out


def _envelope_findings(run: Run, elections: list[Election]) -> list[dict[str, Any]]:
    """The registered vote-buying detectors over the envelope records (the seam of
    ``elections.register_envelope_detector``)."""
    t = run.tally
    by_name = {g: s.name for g, s in t.groups.items()}
    wanted = [Election(_match_group(e.group, by_name), e.start, e.end, e.name,
                       tuple(t.pseudonyms.of(c) for c in e.candidates)) for e in elections]
    # The senders seen in a group stand in for its membership, which exports rarely list.
    records = run.spill.envelopes({g: len(s.senders) for g, s in t.groups.items()})
    out: list[dict[str, Any]] = []
    for name, detector in envelope_detectors().items():
        for finding in detector(records, wanted):
            finding = {"kind": "envelope", "detector": name, **finding}
            out.append(finding)
            run.write({"time": finding.get("time", ""), "message_ids": [], "group": "",
                       "evidence": {}, **finding})
    return out


def _match_group(group: str, by_name: dict[str, str]) -> str:
    """An election names a group by id or by name."""
    if group in by_name:
        return group
    for gid, name in by_name.items():
        if name == group:
            return gid
    return group


def election_days(elections: list[Election], group: str) -> list[tuple[date, date]]:
    return [(e.start, e.end) for e in elections if e.group == group]

