"""Error codes of red envelopes (documented in docs/errors.md, "Red envelopes")."""

from __future__ import annotations

from qunguan.kernel.errors import define_error

define_error("insufficient_funds", 409, "The wallet holds less than the amount; nothing moved. "
             "details.balance_fen and details.needed_fen say by how much.")
define_error("envelope_over_limit", 422, "The envelope total exceeds the per-envelope limit "
             "(details.max_fen).")
define_error("envelope_daily_limit", 409, "Sending this envelope would exceed your daily "
             "total (details.max_fen, details.sent_fen in the last 24 hours).")
define_error("too_many_parts", 422, "More parts than the group has members, than the total "
             "has fen, or than the maximum; details.reason says which.")
define_error("uneven_split", 422, "A fixed split needs a total divisible by the parts.")
define_error("envelope_expired", 409, "The envelope has expired; its remainder goes back to "
             "the sender.")
define_error("envelope_empty", 409, "Every part of the envelope has been claimed.")
define_error("already_claimed", 409, "You have already claimed this envelope.")
define_error("not_recipient", 403, "The envelope was sent to another member.")
define_error("envelope_blocked", 422, "Screening refused the envelope; details.reasons say why.")
define_error("idempotency_key_reused", 409, "This Idempotency-Key was used for a different "
             "request.")
define_error("topup_over_limit", 422, "A top-up may be at most details.max_fen.")
define_error("unknown_payment_provider", 404, "No payment provider has that name.")
define_error("envelope_election_blocked", 409, "An election period covering the group blocks "
             "red envelopes until details.ends_at (details.election_id, details.policy).")
define_error("envelope_held", 409, "The envelope is held for review under an election policy; "
             "it can be claimed once a reviewer releases it.")
define_error("envelope_not_held", 409, "The envelope is not held for review.")
define_error("export_too_large", 422, "The export would hold more than details.max_rows "
             "envelopes; narrow the filters.")
define_error("envelope_limit_invalid", 422, "A group's red-envelope limit must be at least 1 "
             "fen and at most the limit the group has without one (details.ceiling_fen): an "
             "override only tightens.")
define_error("envelope_limit_not_set", 409, "The group has no red-envelope limit of its own to "
             "clear.")
