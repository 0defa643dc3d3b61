"""Error codes of the debunk bank (documented in docs/errors.md, section "Rumours").

Imported from the package ``__init__`` so the codes are defined before any action raises them.
"""

from __future__ import annotations

from qunguan.kernel.errors import define_error

define_error("debunk_duplicate", 409, "An active debunk already states this claim, as its "
             "claim or a phrasing (the same text once normalised); details.debunk_id names it.")
define_error("debunk_retired", 409, "The debunk was retired: it can be neither edited nor "
             "retired again (add a new entry instead).")
define_error("debunk_import_invalid", 422, "The import file has bad rows, so nothing was "
             "imported; details.errors lists each as {line, message} (at most 100), "
             "details.error_count counts them all.")
define_error("phrasing_duplicate", 409, "The debunk already has this phrasing, or its claim says "
             "it (the same text once normalised); details.phrasing_id names the phrasing.")
define_error("phrasing_taken", 409, "Another active debunk already says this text, as its claim "
             "or a phrasing (the same text once normalised): one text stands for one "
             "debunk; details.debunk_id names it.")
define_error("phrasings_full", 409, "The debunk has as many active phrasings as it may keep "
             "(details.limit); retire one that no longer circulates first.")
define_error("phrasing_retired", 409, "The phrasing was already retired.")
