"""The policy engine: the active pack, the pre-send gate and post-send screening.

Each process keeps the compiled active pack per database engine and asks the database for the
active version at most every ``QUNGUAN_SCREENING_POLICY_REFRESH_SECONDS`` (one indexed
query), so a pack loaded elsewhere takes effect within that interval; the process that loads
a pack forgets its copy at once. Lexicons are compiled once per pack version.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, event, select

from qunguan.kernel.uow import UnitOfWork
from qunguan.screening.models import PolicyPack
from qunguan.screening.policy import (
    CompiledPack,
    PackInvalid,
    Rule,
    compile_pack,
    load_default_pack,
    parse_pack,
)
from qunguan.screening.registry import ScreeningContext, detector, uses_database
from qunguan.screening.verdicts import (
    ALLOW,
    Finding,
    Hit,
    Reason,
    Signal,
    Stage,
    Verdict,
    VerdictKind,
)

log = logging.getLogger(__name__)


@dataclass
class _Cached:
    compiled: CompiledPack
    checked_at: float


_LOCK = threading.Lock()
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, _Cached] = weakref.WeakKeyDictionary()
_DEFAULT: CompiledPack | None = None
_WARNED: set[str] = set()


def default_pack() -> CompiledPack:
    """The shipped pack (version 0), compiled once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = compile_pack(load_default_pack(), 0)
    return _DEFAULT


def _engine(uow: UnitOfWork) -> Engine:
    bind = uow.session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def active_pack(uow: UnitOfWork) -> CompiledPack:
    engine = _engine(uow)
    now = time.monotonic()
    cached = _BY_ENGINE.get(engine)
    if cached is not None and \
            now - cached.checked_at < uow.settings.screening_policy_refresh_seconds:
        return cached.compiled
    row = uow.session.execute(
        select(PolicyPack.version, PolicyPack.digest).where(PolicyPack.active)
        .order_by(PolicyPack.version.desc()).limit(1)).first()
    if row is None:
        compiled = default_pack()
    elif cached is not None and cached.compiled.version == row.version:
        compiled = cached.compiled
    else:
        files = uow.session.scalar(select(PolicyPack.files)
                                   .where(PolicyPack.version == row.version))
        try:
            compiled = compile_pack(parse_pack(dict(files or {})), row.version)
        except PackInvalid as exc:
            # Valid when loaded, so something of this process is missing (a detector
            # plug-in not installed here): keep screening with what we had, loudly.
            log.error("policy pack version %s cannot be used in this process: %s",
                      row.version, exc)
            compiled = cached.compiled if cached is not None else default_pack()
    with _LOCK:
        _BY_ENGINE[engine] = _Cached(compiled, now)
    return compiled


def forget_active_pack(uow: UnitOfWork) -> None:
    """Re-read the active pack on next use: now, and again once this transaction commits
    (so a concurrent request cannot keep the old pack cached across the commit)."""
    engine = _engine(uow)

    def drop(*_: object) -> None:
        with _LOCK:
            _BY_ENGINE.pop(engine, None)

    drop()
    event.listen(uow.session, "after_commit", drop, once=True)


# --- running rules ------------------------------------------------------------------------


def _run_detectors(uow: UnitOfWork, context: ScreeningContext, pack: CompiledPack,
                   rules: Iterable[Rule], stages: tuple[Stage, ...]
                   ) -> tuple[dict[str, list[Signal]], list[str]]:
    signals: dict[str, list[Signal]] = {}
    failed: list[str] = []
    needed = dict.fromkeys(name for rule in rules for name in rule.detectors)
    for name in needed:
        found = detector(name)
        if found is None or found.stage not in stages:
            if name not in _WARNED:
                _WARNED.add(name)
                log.warning("policy pack %s names detector %s, not registered here for %s",
                            pack.version, name, "/".join(stages))
            continue
        try:
            if uses_database(found):
                # A savepoint, so a detector whose SQL failed cannot leave the transaction
                # aborted for the message insert that follows.
                with uow.savepoint():
                    signals[name] = found.screen(uow, context, pack.resources)
            else:
                signals[name] = found.screen(uow, context, pack.resources)
        except Exception:
            # A broken detector must neither crash the request nor pass silently: it is
            # logged, and with QUNGUAN_SCREENING_FAIL_CLOSED the message is held for review.
            log.exception("screening detector %s failed", name)
            failed.append(name)
    return signals, failed


def evaluate(rules: Iterable[Rule], signals: dict[str, list[Signal]],
             version: int) -> list[Hit]:
    """Every rule whose conditions hold (any or all of them), in the pack's order."""
    hits = []
    for rule in rules:
        matched: list[Signal] = []
        results = []
        for cond in rule.conditions:
            got = [s for s in signals.get(cond.detector, ())
                   if (not cond.labels or s.label in cond.labels)
                   and s.count >= cond.min_count and s.score >= cond.min_score]
            results.append(bool(got))
            matched.extend(got)
        if not (all(results) if rule.match == "all" else any(results)):
            continue
        labels = sorted({s.label for s in matched if "#" not in s.label})
        # A detector may hand the reader something to see with the reason (rumours: the
        # debunk card); it travels in the reason's data, which stays with the message.
        cards = [s.evidence["card"] for s in matched if isinstance(s.evidence.get("card"), dict)]
        reason = Reason(rule.id, ",".join(dict.fromkeys(s.detector for s in matched)),
                        rule.reason_zh, rule.reason_en,
                        {"severity": rule.severity, **({"labels": labels} if labels else {}),
                         **({"cards": cards} if cards else {})})
        hits.append(Hit(rule.id, rule.mode, rule.action, rule.severity, rule.stage, version,
                        reason, tuple(matched)))
    return hits


def _failure_findings(uow: UnitOfWork, failed: list[str]) -> list[Finding]:
    if not failed or not uow.settings.screening_fail_closed:
        return []
    return [Finding(VerdictKind.HOLD, Reason(
        rule="detector_error", detector=name,
        text_zh="自动审核暂不可用，消息将在人工审核后送达。",
        text_en="Automatic screening is unavailable; the message will be delivered after "
        "human review.")) for name in failed]


def gate(uow: UnitOfWork, context: ScreeningContext) -> Verdict:
    """The pre-send gate: the active pack's pre-send rules in scope for this group, over the
    signals of the detectors they name (and no others). Strictest enforced verdict wins;
    shadow rules are evaluated and kept in ``Verdict.hits`` for the record, nothing more."""
    pack = active_pack(uow)
    rules = pack.rules_for("pre", context)
    if not rules:
        return ALLOW
    signals, failed = _run_detectors(uow, context, pack, rules, ("pre",))
    hits = evaluate(rules, signals, pack.version)
    findings = [Finding(h.action, h.reason) for h in hits
                if h.mode == "enforce" and h.action > VerdictKind.ALLOW]
    return Verdict.combine(findings + _failure_findings(uow, failed), tuple(hits))


def screen_delivered(uow: UnitOfWork, context: ScreeningContext) -> list[Hit]:
    """Post-send: the rules that need a post-send detector, run from the outbox."""
    pack = active_pack(uow)
    rules = pack.rules_for("post", context)
    if not rules:
        return []
    signals, _ = _run_detectors(uow, context, pack, rules, ("pre", "post"))
    return evaluate(rules, signals, pack.version)
