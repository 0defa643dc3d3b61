"""Problems that screening's pack check and rumours' debunk import report in English (the API's
and the CLI's language), put into the officer's language on the console.

Each known sentence shape is a pattern whose named parts (keys, names, numbers: the file's own
words) are kept as written and placed into a translated sentence. A problem no pattern knows
is shown as it came, marked English (``lang="en"``), never dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qunguan.web.i18n import N_, Gettext

_ANY = r"(?P<{}>.+?)"


def _shape(pattern: str) -> re.Pattern[str]:
    """``{name}`` stands for a named part; everything else is matched literally."""
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(_ANY.format(p) if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile(regex + r"\Z", re.S)


# (English shape, translatable sentence). Placeholders name the same parts.
_POLICY = [
    ("TOML syntax: {detail} (column {column})",
     N_("TOML syntax error: %(detail)s (column %(column)s)")),
    ("TOML syntax: {detail}", N_("TOML syntax error: %(detail)s")),
    ("term {term} is empty once normalised", N_("The term %(term)s is empty once normalised.")),
    ("term longer than {n} characters", N_("A term is longer than %(n)s characters.")),
    ("the lexicon has no terms", N_("The lexicon has no terms.")),
    ("exception {word} contains none of the lexicon's terms",
     N_("The exception %(word)s contains none of the lexicon's terms.")),
    ("scope must be a table", N_("scope must be a table.")),
    ("unknown scope key {key} (known: {known})",
     N_("Unknown scope key %(key)s (known: %(known)s).")),
    ("unknown category {name} (known: {known})",
     N_("Unknown category %(name)s (known: %(known)s).")),
    ("{key} must be a list of category names", N_("%(key)s must be a list of category names.")),
    ("{key} must be a list of positive integers",
     N_("%(key)s must be a list of positive integers.")),
    ("actions must be a list of {known}", N_("actions must be a list of %(known)s.")),
    ("each [[rule.when]] must be a table", N_("Each [[rule.when]] must be a table.")),
    ("unknown condition key {key} (known: {known})",
     N_("Unknown condition key %(key)s (known: %(known)s).")),
    ('a condition needs detector = "name"',
     N_('A condition needs a detector: detector = "name".')),
    ("unknown detector {name}", N_("Unknown detector %(name)s.")),
    ("labels must be a list of strings", N_("labels must be a list of strings.")),
    ("min_count must be an integer of at least 1",
     N_("min_count must be a whole number of at least 1.")),
    ("min_score must be a number of at least 0", N_("min_score must be a number of at least 0.")),
    ('a regex condition needs patterns = ["…"]',
     N_('A regex condition needs its patterns: patterns = ["…"].')),
    ("bad regular expression {pattern}: {detail}",
     N_("Bad regular expression %(pattern)s: %(detail)s")),
    ("a regex condition takes patterns, not labels",
     N_("A regex condition takes patterns, not labels.")),
    ("patterns are for the regex detector only", N_("patterns are for the regex detector only.")),
    ('a lexicon condition names its lexicons: labels = ["…"]',
     N_('A lexicon condition names its lexicons: labels = ["…"].')),
    ("no lexicon {label} in lexicons/ (have: {known})",
     N_("There is no lexicon %(label)s in lexicons/ (there are: %(known)s).")),
    ("detector {name} never reports label {label} (it reports: {known})",
     N_("The detector %(name)s never reports the label %(label)s (it reports: %(known)s).")),
    ("each [[rule]] must be a table", N_("Each [[rule]] must be a table.")),
    ("unknown rule key {key} (known: {known})",
     N_("Unknown rule key %(key)s (known: %(known)s).")),
    ("id must be lower-case letters, digits, '.', '_' or '-' (at most 64)",
     N_("id must be lower-case letters, digits, '.', '_' or '-' (at most 64).")),
    ("duplicate rule id {id} (first in {file})",
     N_("The rule id %(id)s is used twice (first in %(file)s).")),
    ("action must be one of {known}", N_("action must be one of %(known)s.")),
    ("severity must be an integer from 1 to 5", N_("severity must be a whole number from 1 to 5.")),
    ("mode must be one of {known}", N_("mode must be one of %(known)s.")),
    ('match must be "any" or "all"', N_('match must be "any" or "all".')),
    ("description must be text", N_("description must be text.")),
    ('a rule needs reason = { zh = "…", en = "…" }',
     N_('A rule needs its reason in both languages: reason = { zh = "…", en = "…" }.')),
    ("unknown reason key {key} (known: en, zh)",
     N_("Unknown reason key %(key)s (known: en, zh).")),
    ("reason.{lang} is missing or empty", N_("reason.%(lang)s is missing or empty.")),
    ("a rule needs at least one [[rule.when]] condition",
     N_("A rule needs at least one [[rule.when]] condition.")),
    ("confirm needs the sender, so it cannot follow a post-send detector",
     N_("confirm needs the sender, so it cannot follow a detector that runs after sending.")),
    ("missing", N_("The file is missing.")),
    ("unknown key {key} (known: description, name)",
     N_("Unknown key %(key)s (known: description, name).")),
    ('name = "…" is required', N_('The pack needs a name: name = "…".')),
    ("lexicon file names are lower-case letters, digits and '_'",
     N_("Lexicon file names are lower-case letters, digits and '_'.")),
    ("rules/ holds only .toml files and lexicons/ only .txt files",
     N_("rules/ holds only .toml files and lexicons/ only .txt files.")),
    ("not part of a pack (pack.toml, rules/*.toml, lexicons/*.txt)",
     N_("This file is not part of a pack (pack.toml, rules/*.toml, lexicons/*.txt).")),
    ("the pack has no rule files", N_("The pack has no rule files.")),
    ("unknown top-level key {key}: rules are [[rule]] tables",
     N_("Unknown top-level key %(key)s: rules are [[rule]] tables.")),
    ("rule must be an array of tables: [[rule]]", N_("rule must be an array of tables: [[rule]].")),
]

_IMPORT = [
    ("unknown field {name} (known: {known})", N_("Unknown field %(name)s (known: %(known)s).")),
    ("unknown column {name} (known: {known})", N_("Unknown column %(name)s (known: %(known)s).")),
    ("missing {names}", N_("Missing: %(names)s.")),
    ("not JSON ({detail})", N_("Not JSON (%(detail)s).")),
    ("not a JSON object", N_("Not a JSON object.")),
    ("no header row (claim, verdict, refutation, publisher, …)",
     N_("No header row (claim, verdict, refutation, publisher, …).")),
    ("more cells than columns", N_("More cells than columns.")),
    ("the file has no rows", N_("The file has no rows.")),
    ("not CSV ({detail})", N_("Not CSV (%(detail)s).")),
    ("more than {n} rows: split the file", N_("More than %(n)s rows: split the file.")),
    ("{name} is required and may not be blank", N_("%(name)s is required and may not be blank.")),
    ("{name} must be text", N_("%(name)s must be text.")),
    ("{name} is longer than {n} characters", N_("%(name)s is longer than %(n)s characters.")),
    ("{name} contains characters that cannot be stored",
     N_("%(name)s contains characters that cannot be stored.")),
    ("claim has no letters or digits once normalised",
     N_("The claim has no letters or digits once normalised.")),
    ("verdict must be one of {known}", N_("verdict must be one of %(known)s.")),
    ("source_url must be an http:// or https:// address",
     N_("source_url must be an http:// or https:// address.")),
    ("published_on must be a date, YYYY-MM-DD", N_("published_on must be a date, YYYY-MM-DD.")),
    ("language must be a language tag such as zh or en",
     N_("language must be a language tag such as zh or en.")),
    ("a phrasing needs at least {n} letters or digits once normalised",
     N_("A phrasing needs at least %(n)s letters or digits once normalised.")),
    ("a phrasing may not carry personal data ({kinds}): leave ID, phone and bank card numbers "
     "out", N_("A phrasing may not carry personal data (%(kinds)s): leave ID, phone and bank "
               "card numbers out.")),
    ("phrasings must be a list of texts, or one phrasing a line",
     N_("phrasings must be a list of texts, or one phrasing a line.")),
    ("at most {n} phrasings an entry", N_("At most %(n)s phrasings an entry.")),
]

POLICY_SHAPES = [(_shape(english), sentence) for english, sentence in _POLICY]
IMPORT_SHAPES = [(_shape(english), sentence) for english, sentence in _IMPORT]


@dataclass(frozen=True)
class Problem:
    text: str
    translated: bool  # False: shown as it came, in English


def _translate(shapes: list[tuple[re.Pattern[str], str]], message: str,
               _: Gettext) -> Problem:
    for pattern, sentence in shapes:
        found = pattern.match(message)
        if found is not None:
            return Problem(_(sentence, **found.groupdict()), True)
    return Problem(message, False)


def pack_problem(message: str, _: Gettext) -> Problem:
    """A problem of ``screening.actions.check_pack``, in the officer's language."""
    return _translate(POLICY_SHAPES, message, _)


def import_problem(message: str, _: Gettext) -> Problem:
    """A bad row of ``rumors.actions.do_import_debunks``, in the officer's language."""
    return _translate(IMPORT_SHAPES, message, _)
