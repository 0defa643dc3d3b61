"""Policy packs: folders of TOML rules and plain-text lexicons, validated with file and line.

A pack is ``pack.toml`` (name, description), ``rules/*.toml`` (``[[rule]]`` tables, each with
``[[rule.when]]`` conditions) and ``lexicons/*.txt`` (one term per line, ``#`` comments, ``!``
before an exception: an ordinary word that contains a term, such as 手机密码 around 机密).
``parse_pack`` checks everything and raises ``PackInvalid`` with every problem it found, each
naming its file and line; ``compile_pack`` builds what the gate runs. Pure: no database.
See docs/screening.md for the format.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qunguan.groups import Category
from qunguan.kernel.text import normalise
from qunguan.screening.lexicon import Matcher
from qunguan.screening.registry import (
    PackResources,
    ScreeningContext,
    detector,
    known_labels,
)
from qunguan.screening.verdicts import Mode, Stage, VerdictKind

DEFAULT_PACK_DIR = Path(__file__).parent / "packs" / "default"

ACTIONS = {k.label: k for k in VerdictKind}
MODES: tuple[Mode, ...] = ("enforce", "shadow", "off")
# What a rule's scope may name: posting and forwarding a message, sending a red envelope
# (envelopes' gate: empty text, the amounts in ``ScreeningContext.extra``).
SCOPE_ACTIONS = ("post", "forward", "envelope")
RULE_KEYS = {"id", "description", "action", "severity", "mode", "match", "reason", "scope",
             "when"}
WHEN_KEYS = {"detector", "labels", "min_count", "min_score", "patterns"}
SCOPE_KEYS = {"categories", "exclude_categories", "tiers", "groups", "actions"}
PACK_KEYS = {"name", "description"}
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
_LEXICON_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
MAX_FILE_BYTES = 2_000_000
MAX_TERM_CHARS = 64


@dataclass(frozen=True)
class PackError:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else \
            f"{self.file}: {self.message}"


class PackInvalid(Exception):
    def __init__(self, errors: list[PackError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Condition:
    detector: str
    labels: tuple[str, ...] = ()  # empty: any label of the detector
    min_count: int = 1
    min_score: float = 0.0
    patterns: tuple[str, ...] = ()  # regex detector only


@dataclass(frozen=True)
class Scope:
    """Where a rule applies; an unset field does not restrict."""

    categories: frozenset[str] | None = None
    exclude_categories: frozenset[str] = frozenset()
    tiers: frozenset[int] | None = None
    groups: frozenset[int] | None = None
    actions: frozenset[str] | None = None

    def applies(self, context: ScreeningContext) -> bool:
        return ((self.categories is None or context.group_category in self.categories)
                and context.group_category not in self.exclude_categories
                and (self.tiers is None or context.group_tier in self.tiers)
                and (self.groups is None or context.group_id in self.groups)
                and (self.actions is None or context.action in self.actions))

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.categories is not None:
            out["categories"] = sorted(self.categories)
        if self.exclude_categories:
            out["exclude_categories"] = sorted(self.exclude_categories)
        if self.tiers is not None:
            out["tiers"] = sorted(self.tiers)
        if self.groups is not None:
            out["groups"] = sorted(self.groups)
        if self.actions is not None:
            out["actions"] = sorted(self.actions)
        return out


@dataclass(frozen=True)
class Rule:
    id: str
    action: VerdictKind
    severity: int
    mode: Mode
    match: str  # "any" or "all" of the conditions
    conditions: tuple[Condition, ...]
    scope: Scope
    reason_zh: str
    reason_en: str
    stage: Stage
    description: str = ""
    file: str = ""
    line: int = 0

    @property
    def detectors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.detector for c in self.conditions))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "action": self.action.label,
                "severity": self.severity, "mode": self.mode, "stage": self.stage,
                "match": self.match, "detectors": list(self.detectors),
                "conditions": [{"detector": c.detector, "labels": list(c.labels),
                                "min_count": c.min_count, "min_score": c.min_score}
                               for c in self.conditions],
                "scope": self.scope.public(), "reason_zh": self.reason_zh,
                "reason_en": self.reason_en, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    rules: tuple[Rule, ...]
    lexicons: dict[str, tuple[str, ...]]
    files: dict[str, str]
    digest: str
    # Per lexicon, the ordinary words inside which one of its terms does not count.
    exceptions: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledPack:
    """The active pack as the gate runs it; built once per pack version and process."""

    version: int  # 0: the shipped default pack, never loaded into the database
    pack: Pack
    resources: PackResources
    by_stage: dict[str, tuple[Rule, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def digest(self) -> str:
        return self.pack.digest

    def rules_for(self, stage: Stage, context: ScreeningContext) -> list[Rule]:
        return [r for r in self.by_stage.get(stage, ()) if r.scope.applies(context)]


# --- reading ------------------------------------------------------------------------------


def digest_of(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(b"\0")
        h.update(files[name].encode())
        h.update(b"\0")
    return h.hexdigest()


def read_pack_dir(path: Path) -> dict[str, str]:
    """The pack's files as ``{relative path: text}``; unreadable ones raise PackInvalid."""
    if not path.is_dir():
        raise PackInvalid([PackError(str(path), None, "not a folder")])
    files: dict[str, str] = {}
    errors: list[PackError] = []
    wanted = [path / "pack.toml", *sorted((path / "rules").glob("*")),
              *sorted((path / "lexicons").glob("*"))]
    for file in wanted:
        rel = file.relative_to(path).as_posix()
        if not file.exists():
            errors.append(PackError(rel, None, "missing"))
            continue
        if not file.is_file():
            errors.append(PackError(rel, None, "not a file"))
            continue
        if file.stat().st_size > MAX_FILE_BYTES:
            errors.append(PackError(rel, None, f"larger than {MAX_FILE_BYTES} bytes"))
            continue
        try:
            files[rel] = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(PackError(rel, None, f"not UTF-8 text (byte {exc.start})"))
    if errors:
        raise PackInvalid(errors)
    return files


# --- locating lines -----------------------------------------------------------------------


class _Locator:
    """Finds the line of a rule, a key or a sub-table in a rules file's raw text, so that
    errors found after parsing still point at the line to fix."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rules = [i + 1 for i, line in enumerate(self.lines)
                      if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]

    def span(self, index: int) -> tuple[int, int]:
        start = self.rules[index] if index < len(self.rules) else 1
        end = self.rules[index + 1] if index + 1 < len(self.rules) else len(self.lines) + 1
        return start, end

    def key(self, start: int, end: int, key: str) -> int | None:
        pattern = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
        for n in range(start, end):
            if pattern.match(self.lines[n - 1]):
                return n
        return None

    def table(self, start: int, end: int, name: str, nth: int = 0) -> tuple[int, int] | None:
        header = re.compile(rf"\s*\[\[?\s*rule\.{re.escape(name)}\s*\]\]?")
        any_header = re.compile(r"\s*\[")
        found = [n for n in range(start, end) if header.match(self.lines[n - 1])]
        if nth >= len(found):
            return None
        first = found[nth]
        last = next((n for n in range(first + 1, end) if any_header.match(self.lines[n - 1])),
                    end)
        return first, last


# --- parsing ------------------------------------------------------------------------------


class _Checker:
    def __init__(self, categories: set[str]) -> None:
        self.errors: list[PackError] = []
        self.categories = categories

    def err(self, file: str, line: int | None, message: str) -> None:
        self.errors.append(PackError(file, line, message))

    def toml(self, file: str, text: str) -> dict[str, Any] | None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib says "… (at line 3, column 7)"; keep the line, reword the rest.
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            if m:
                self.err(file, int(m.group(1)), f"TOML syntax: {message} (column {m.group(2)})")
            else:
                self.err(file, None, f"TOML syntax: {message}")
            return None


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _int_list(value: Any) -> list[int] | None:
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                       for v in value):
        return list(value)
    return None


def _parse_lexicon(c: _Checker, file: str, text: str
                   ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The terms and the exceptions (``!`` lines) of a lexicon file. An exception must contain
    one of the lexicon's terms: one that contains none masks nothing, so it is a mistake."""
    terms: list[str] = []
    exceptions: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        term = normalise(line)
        if not term:
            c.err(file, n, f"term {line!r} is empty once normalised")
        elif len(term) > MAX_TERM_CHARS:
            c.err(file, n, f"term longer than {MAX_TERM_CHARS} characters")
        elif exception:
            exceptions.append((n, term))
        else:
            terms.append(term)
    if not terms and not any(e.file == file for e in c.errors):
        c.err(file, 1, "the lexicon has no terms")
    for n, word in exceptions:
        if terms and not any(t in word for t in terms):
            c.err(file, n, f"exception {word!r} contains none of the lexicon's terms")
    return tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(w for _, w in exceptions))


def _parse_scope(c: _Checker, file: str, loc: _Locator, start: int, end: int,
                 value: Any) -> Scope:
    where = loc.table(start, end, "scope")
    s_start, s_end = where if where else (start, end)
    line = (where[0] if where else loc.key(start, end, "scope")) or start
    if not isinstance(value, dict):
        c.err(file, line, "scope must be a table")
        return Scope()
    for key in sorted(set(value) - SCOPE_KEYS):
        c.err(file, loc.key(s_start, s_end, key) or line,
              f"unknown scope key {key!r} (known: {', '.join(sorted(SCOPE_KEYS))})")
    out: dict[str, Any] = {}
    for key in ("categories", "exclude_categories"):
        if key not in value:
            continue
        names = _str_list(value[key])
        kline = loc.key(s_start, s_end, key) or line
        if names is None:
            c.err(file, kline, f"{key} must be a list of category names")
            continue
        for name in names:
            if name not in c.categories:
                c.err(file, kline, f"unknown category {name!r} (known: "
                      f"{', '.join(sorted(c.categories))})")
        out[key] = frozenset(names)
    for key in ("tiers", "groups"):
        if key in value:
            ints = _int_list(value[key])
            if ints is None:
                c.err(file, loc.key(s_start, s_end, key) or line,
                      f"{key} must be a list of positive integers")
            else:
                out[key] = frozenset(ints)
    if "actions" in value:
        acts = _str_list(value["actions"])
        if acts is None or not set(acts) <= set(SCOPE_ACTIONS):
            c.err(file, loc.key(s_start, s_end, "actions") or line,
                  f"actions must be a list of {', '.join(SCOPE_ACTIONS)}")
        else:
            out["actions"] = frozenset(acts)
    return Scope(**out)


def _parse_condition(c: _Checker, file: str, loc: _Locator, span: tuple[int, int],
                     value: Any, lexicons: dict[str, tuple[str, ...]], rule_id: str,
                     nth: int) -> Condition | None:
    start, end = span
    if not isinstance(value, dict):
        c.err(file, start, "each [[rule.when]] must be a table")
        return None
    for key in sorted(set(value) - WHEN_KEYS):
        c.err(file, loc.key(start, end, key) or start,
              f"unknown condition key {key!r} (known: {', '.join(sorted(WHEN_KEYS))})")
    name = value.get("detector")
    dline = loc.key(start, end, "detector") or start
    if not isinstance(name, str) or not name:
        c.err(file, dline, "a condition needs detector = \"name\"")
        return None
    found = detector(name)
    if found is None:
        c.err(file, dline, f"unknown detector {name!r}")
        return None
    labels_raw = value.get("labels", [])
    labels = _str_list(labels_raw)
    lline = loc.key(start, end, "labels") or start
    if labels is None:
        c.err(file, lline, "labels must be a list of strings")
        labels = []
    min_count = value.get("min_count", 1)
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        c.err(file, loc.key(start, end, "min_count") or start,
              "min_count must be an integer of at least 1")
        min_count = 1
    min_score = value.get("min_score", 0.0)
    if not isinstance(min_score, int | float) or isinstance(min_score, bool) or min_score < 0:
        c.err(file, loc.key(start, end, "min_score") or start,
              "min_score must be a number of at least 0")
        min_score = 0.0
    patterns: list[str] = []
    if name == "regex":
        pline = loc.key(start, end, "patterns") or start
        raw = _str_list(value.get("patterns"))
        if not raw:
            c.err(file, pline, "a regex condition needs patterns = [\"…\"]")
        else:
            for p in raw:
                try:
                    re.compile(p)
                except re.error as exc:
                    c.err(file, pline, f"bad regular expression {p!r}: {exc}")
                else:
                    patterns.append(p)
        if labels:
            c.err(file, lline, "a regex condition takes patterns, not labels")
        labels = [f"{rule_id}#{nth}"]
    elif "patterns" in value:
        c.err(file, loc.key(start, end, "patterns") or start,
              "patterns are for the regex detector only")
    elif name == "lexicon":
        if not labels:
            c.err(file, lline, "a lexicon condition names its lexicons: labels = [\"…\"]")
        for label in labels:
            if label not in lexicons:
                c.err(file, lline, f"no lexicon {label!r} in lexicons/ (have: "
                      f"{', '.join(sorted(lexicons)) or 'none'})")
    else:
        known = known_labels(found)
        for label in labels:
            if known is not None and label not in known:
                c.err(file, lline, f"detector {name!r} never reports label {label!r} (it "
                      f"reports: {', '.join(sorted(known))})")
    return Condition(name, tuple(labels), int(min_count), float(min_score), tuple(patterns))


def _parse_rule(c: _Checker, file: str, loc: _Locator, index: int, value: Any,
                lexicons: dict[str, tuple[str, ...]], seen: dict[str, str]) -> Rule | None:
    start, end = loc.span(index)
    if not isinstance(value, dict):
        c.err(file, start, "each [[rule]] must be a table")
        return None
    ok = True
    for key in sorted(set(value) - RULE_KEYS):
        c.err(file, loc.key(start, end, key) or start,
              f"unknown rule key {key!r} (known: {', '.join(sorted(RULE_KEYS))})")
        ok = False
    rule_id = value.get("id")
    idline = loc.key(start, end, "id") or start
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        c.err(file, idline, "id must be lower-case letters, digits, '.', '_' or '-' "
              "(at most 64)")
        return None
    if rule_id in seen:
        c.err(file, idline, f"duplicate rule id {rule_id!r} (first in {seen[rule_id]})")
        ok = False
    seen.setdefault(rule_id, file)
    action = value.get("action")
    if action not in ACTIONS:
        c.err(file, loc.key(start, end, "action") or start,
              f"action must be one of {', '.join(ACTIONS)}")
        ok = False
    severity = value.get("severity")
    if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 5:
        c.err(file, loc.key(start, end, "severity") or start,
              "severity must be an integer from 1 to 5")
        ok = False
    mode = value.get("mode", "enforce")
    if mode not in MODES:
        c.err(file, loc.key(start, end, "mode") or start,
              f"mode must be one of {', '.join(MODES)}")
        ok = False
    match = value.get("match", "any")
    if match not in ("any", "all"):
        c.err(file, loc.key(start, end, "match") or start, "match must be \"any\" or \"all\"")
        ok = False
    description = value.get("description", "")
    if not isinstance(description, str):
        c.err(file, loc.key(start, end, "description") or start, "description must be text")
        ok = False
    reason = value.get("reason")
    where = loc.table(start, end, "reason")
    rline = (where[0] if where else loc.key(start, end, "reason")) or start
    texts: dict[str, str] = {}
    if not isinstance(reason, dict):
        c.err(file, rline, "a rule needs reason = { zh = \"…\", en = \"…\" }")
        ok = False
    else:
        for key in sorted(set(reason) - {"zh", "en"}):
            c.err(file, rline, f"unknown reason key {key!r} (known: en, zh)")
            ok = False
        for lang in ("zh", "en"):
            text = reason.get(lang)
            if not isinstance(text, str) or not text.strip():
                c.err(file, rline, f"reason.{lang} is missing or empty")
                ok = False
            else:
                texts[lang] = text.strip()
    scope = _parse_scope(c, file, loc, start, end, value["scope"]) if "scope" in value \
        else Scope()
    when = value.get("when")
    conditions: list[Condition] = []
    if not isinstance(when, list) or not when:
        c.err(file, start, "a rule needs at least one [[rule.when]] condition")
        ok = False
    else:
        for nth, cond in enumerate(when):
            span = loc.table(start, end, "when", nth) or (start, end)
            parsed = _parse_condition(c, file, loc, span, cond, lexicons, rule_id, nth)
            if parsed is None:
                ok = False
            else:
                conditions.append(parsed)
    if not ok or len(conditions) != len(when or ()):
        return None
    stages = set()
    for cond in conditions:
        d = detector(cond.detector)
        assert d is not None
        stages.add(d.stage)
    stage: Stage = "post" if "post" in stages else "pre"
    kind = ACTIONS[str(action)]
    if stage == "post" and kind == VerdictKind.CONFIRM:
        c.err(file, loc.key(start, end, "action") or start,
              "confirm needs the sender, so it cannot follow a post-send detector")
        return None
    return Rule(id=rule_id, action=kind, severity=int(str(severity)), mode=mode,
                match=str(match), conditions=tuple(conditions), scope=scope,
                reason_zh=texts["zh"], reason_en=texts["en"], stage=stage,
                description=str(description).strip(), file=file, line=start)


def parse_pack(files: dict[str, str], categories: Iterable[str] | None = None) -> Pack:
    """Validate a pack; raise PackInvalid listing every problem with its file and line."""
    c = _Checker(set(categories) if categories is not None else {str(x) for x in Category})
    name, description = "", ""
    if "pack.toml" not in files:
        c.err("pack.toml", None, "missing")
    else:
        meta = c.toml("pack.toml", files["pack.toml"])
        if meta is not None:
            loc = _Locator(files["pack.toml"])
            for key in sorted(set(meta) - PACK_KEYS):
                c.err("pack.toml", loc.key(1, len(loc.lines) + 1, key),
                      f"unknown key {key!r} (known: description, name)")
            if not isinstance(meta.get("name"), str) or not meta["name"].strip():
                c.err("pack.toml", loc.key(1, len(loc.lines) + 1, "name") or 1,
                      "name = \"…\" is required")
            else:
                name = meta["name"].strip()[:100]
            if not isinstance(meta.get("description", ""), str):
                c.err("pack.toml", loc.key(1, len(loc.lines) + 1, "description"),
                      "description must be text")
            else:
                description = str(meta.get("description", "")).strip()
    lexicons: dict[str, tuple[str, ...]] = {}
    exceptions: dict[str, tuple[str, ...]] = {}
    rule_files: list[str] = []
    for rel in sorted(files):
        if rel == "pack.toml":
            continue
        folder, _, base = rel.partition("/")
        stem, dot, ext = base.rpartition(".")
        if folder == "lexicons" and dot and ext == "txt" and "/" not in base:
            if not _LEXICON_NAME.fullmatch(stem):
                c.err(rel, None, "lexicon file names are lower-case letters, digits and '_'")
                continue
            lexicons[stem], excepted = _parse_lexicon(c, rel, files[rel])
            if excepted:
                exceptions[stem] = excepted
        elif folder == "rules" and dot and ext == "toml" and "/" not in base:
            rule_files.append(rel)
        elif folder in ("rules", "lexicons"):
            c.err(rel, None, "rules/ holds only .toml files and lexicons/ only .txt files")
        else:
            c.err(rel, None, "not part of a pack (pack.toml, rules/*.toml, lexicons/*.txt)")
    if not rule_files:
        c.err("rules/", None, "the pack has no rule files")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for rel in rule_files:
        data = c.toml(rel, files[rel])
        if data is None:
            continue
        loc = _Locator(files[rel])
        for key in sorted(set(data) - {"rule"}):
            c.err(rel, loc.key(1, len(loc.lines) + 1, key) or 1,
                  f"unknown top-level key {key!r}: rules are [[rule]] tables")
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list):
            c.err(rel, 1, "rule must be an array of tables: [[rule]]")
            continue
        for index, raw in enumerate(raw_rules):
            rule = _parse_rule(c, rel, loc, index, raw, lexicons, seen)
            if rule is not None:
                rules.append(rule)
    if c.errors:
        raise PackInvalid(c.errors)
    return Pack(name, description, tuple(rules), lexicons, dict(files), digest_of(files),
                exceptions)


def compile_pack(pack: Pack, version: int) -> CompiledPack:
    """Build the automaton over every lexicon term and exception, and the rules' regular
    expressions."""
    owners: dict[str, set[str]] = {}
    for lexicon, terms in pack.lexicons.items():
        for term in terms:
            owners.setdefault(term, set()).add(lexicon)
    excepting: dict[str, set[str]] = {}
    for lexicon, words in pack.exceptions.items():
        for word in words:
            excepting.setdefault(word, set()).add(lexicon)
    matcher = Matcher([*owners, *excepting]) if owners else None
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for rule in pack.rules:
        if rule.mode == "off":
            continue
        for cond in rule.conditions:
            if cond.patterns:
                compiled = re.compile("|".join(f"(?:{p})" for p in cond.patterns))
                patterns.append((cond.labels[0], compiled))
    by_stage: dict[str, tuple[Rule, ...]] = {
        stage: tuple(r for r in pack.rules if r.stage == stage and r.mode != "off")
        for stage in ("pre", "post")}
    resources = PackResources(
        matcher=matcher,
        lexicons_of=tuple(frozenset(owners.get(t, ())) for t in (matcher.terms if matcher
                                                                 else ())),
        exceptions_of=tuple(frozenset(excepting.get(t, ())) for t in (matcher.terms if matcher
                                                                      else ())),
        patterns=tuple(patterns))
    return CompiledPack(version, pack, resources, by_stage)


def load_default_pack() -> Pack:
    return parse_pack(read_pack_dir(DEFAULT_PACK_DIR))
