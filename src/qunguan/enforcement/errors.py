"""Error codes of sanctions, credit, statements and appeals (documented in docs/errors.md).

Imported from the package ``__init__`` so the codes are defined before any action raises them.
"""

from __future__ import annotations

from qunguan.kernel.errors import define_error

# Sanctions and the restrictions they impose
define_error("restricted", 403, "A sanction takes this function away from you; "
             "details.sanction_id names it, details.until says until when (null: permanent).")
define_error("group_suspended", 403, "Posting in this group is suspended by a sanction until "
             "details.until; details.sanction_id names it.")
define_error("group_closed", 403, "The group was closed by a sanction: nobody may post in it or "
             "join it; details.sanction_id names it.")
define_error("invalid_sanction", 422, "The sanction does not fit its subject or lacks what its "
             "kind needs (a duration, a group, functions); details.problem says which.")
define_error("warning_required", 409, "EC-8: suspending or blacklisting a member who was never "
             "warned needs skip_warning_reason, an explicit reason for skipping the warning.")
define_error("sanction_not_active", 409, "The sanction was already lifted or has expired.")
define_error("reason_has_personal_data", 422, "An officer's reason or the facts of a "
             "statement may not quote personal data (a resident ID, mobile or bank card "
             "number); details.kinds names what was found. The evidence stays on record.")
define_error("credit_too_low", 403, "Your credit score is below details.required, needed for "
             "this (e.g. founding a group of more than details.member_cap members).")
# Appeals
define_error("already_appealed", 409, "This statement was already appealed; each measure can "
             "be appealed once (details.appeal_id).")
define_error("appeal_window_passed", 409, "The appeal deadline (details.deadline) has passed.")
define_error("own_decision", 403, "Four-eyes rule (AT-2): an appeal must be decided by an "
             "officer other than the one who decided the measure.")
define_error("appeal_decided", 409, "The appeal was already decided.")
define_error("not_appealable", 409, "This statement cannot be appealed: a hold waits for the "
             "review decision, and a removal gets its own statement, which can be appealed.")
