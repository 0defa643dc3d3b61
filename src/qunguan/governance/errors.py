"""Error codes of retention, legal hold, unmasking requests and case export
(documented in docs/errors.md)."""

from __future__ import annotations

from qunguan.kernel.errors import define_error

define_error("hold_not_active", 409, "The legal hold was already lifted.")
