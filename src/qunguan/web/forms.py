"""Errors of actions shown on forms: next to the field they concern, in the visitor's language.

Actions raise ``QunguanError`` with a stable code and an English message for the API. Pages
never show that message or any trace: they show the sentence below for the code, translated,
beside the field it belongs to (or at the top of the form when it concerns no one field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qunguan.kernel.errors import QunguanError
from qunguan.kernel.money import yuan_to_fen
from qunguan.kernel.uow import UnitOfWork
from qunguan.web.i18n import N_, Gettext

T = TypeVar("T")

# code -> (field or None, sentence). Sentences are msgids of the catalogues.
MESSAGES: dict[str, tuple[str | None, str]] = {
    "invalid_phone": ("phone", N_("Enter a mainland China mobile number of 11 digits.")),
    "phone_taken": ("phone", N_("An account with this phone number exists. Log in instead.")),
    "weak_password": ("password", N_("Use at least 8 characters.")),
    "invalid_credentials": (None, N_("Wrong phone number or password.")),
    "too_many_attempts": (None, N_("Too many failed logins. Try again in %(minutes)s minutes.")),
    "account_closed": (None, N_("This account is closed.")),
    "invalid_display_name": ("display_name", N_("Choose 1 to 32 visible characters.")),
    "display_name_reserved": ("display_name",
                              N_("This name could pass for an organisation or an official. "
                                 "Choose another.")),
    "invalid_id_number": ("id_number", N_("This is not a valid resident ID number.")),
    "invalid_legal_name": ("legal_name", N_("Enter your legal name (1 to 64 characters).")),
    "identity_in_use": (None, N_("This identity is already verified for another account.")),
    "identity_blacklisted": (None, N_("This identity may not register.")),
    "already_verified": (None, N_("Your account is already verified.")),
    "unknown_provider": ("provider", N_("Choose one of the listed ways to verify.")),
    "verification_failed": ("token", N_("The credential was not accepted.")),
    "real_name_required": (None, N_("Verify your real identity first.")),
    "not_found": (None, N_("Not found, or you may not see it.")),
    "forbidden": (None, N_("You may not do this.")),
    "conflict": (None, N_("This conflicts with the current state. Reload the page.")),
    "message_empty": ("text", N_("Write something first.")),
    "message_too_long": ("text", N_("The message is too long (at most %(max_chars)s "
                                    "characters).")),
    "message_blocked": ("text", N_("This message cannot be sent.")),
    "muted": ("text", N_("You are muted in this group.")),
    "group_closed_for_posting": ("text", N_("Posting in this group is suspended.")),
    "group_suspended": ("text", N_("Posting in this group is suspended.")),
    "group_closed": ("text", N_("This group was closed.")),
    "restricted": (None, N_("A sanction takes this function away from you. See My sanctions.")),
    "recall_window_passed": (None, N_("Messages can be recalled only shortly after sending.")),
    "already_recalled": (None, N_("The message was already recalled.")),
    "too_many_forwards": ("group_ids", N_("Forward to at most %(max)s groups at a time.")),
    "forward_limited": ("group_ids", N_("This message spreads fast: forward it to at most "
                                        "%(max_targets)s group(s) at a time.")),
    "rules_not_acknowledged": ("rules_version", N_("Read and acknowledge the group rules.")),
    "already_member": (None, N_("You are already a member of this group.")),
    "not_member": (None, N_("That account is not a member of this group.")),
    "group_full": (None, N_("The group is full.")),
    "too_many_groups_created": (None, N_("You have founded as many groups as allowed "
                                         "(%(max)s).")),
    "credit_too_low": ("member_cap", N_("Your credit is too low to found a group of more than "
                                        "%(member_cap)s members: choose a smaller size.")),
    "founder_cannot_leave": (None, N_("As the founder, hand the group to another member "
                                      "before you leave.")),
    "too_many_groups_joined": (None, N_("You are in as many groups as allowed.")),
    "already_appealed": (None, N_("You already appealed this decision.")),
    "appeal_window_passed": (None, N_("The appeal deadline has passed.")),
    "not_appealable": (None, N_("This decision cannot be appealed.")),
    "insufficient_funds": ("total_yuan", N_("Your wallet holds too little for this.")),
    "envelope_over_limit": ("total_yuan", N_("The amount is over the limit per envelope.")),
    "envelope_daily_limit": ("total_yuan", N_("This would exceed your daily total.")),
    "too_many_parts": ("parts", N_("Too many parts for this amount or group.")),
    "uneven_split": ("parts", N_("A fixed split needs an amount divisible by the parts.")),
    "envelope_expired": (None, N_("The envelope has expired.")),
    "envelope_empty": (None, N_("Every part has been claimed.")),
    "already_claimed": (None, N_("You have already opened this envelope.")),
    "not_recipient": (None, N_("The envelope was sent to another member.")),
    "envelope_blocked": (None, N_("This envelope cannot be sent.")),
    "invalid_request": (None, N_("Check the highlighted fields.")),
    "rate_limited": (None, N_("Too many requests. Try again in %(minutes)s minutes.")),
    "invalid_cursor": (None, N_("This page link is not valid. Go back to the newest "
                                "messages.")),
    "already_reported": (None, N_("You already reported this; your report is still open. You "
                                  "will be told the outcome.")),
    "too_many_reports": (None, N_("You filed %(cap)s reports in the last 24 hours. Try again "
                                  "later.")),
    "idempotency_key_reused": (None, N_("This form was already sent with other values. Reload "
                                        "the page.")),
    "topup_over_limit": ("amount_yuan", N_("A top-up is limited. Enter a smaller amount.")),
    "envelope_election_blocked": ("total_yuan", N_("An election covering this group blocks red "
                                                   "envelopes while it runs.")),
    "envelope_held": (None, N_("This envelope is held for review under the election rules. It "
                               "can be opened once a reviewer releases it.")),
}
GENERIC = N_("That did not work (%(code)s).")


@dataclass
class FormErrors:
    """Errors by field name; ``None`` holds those of the whole form."""

    by_field: dict[str | None, list[str]] = field(default_factory=dict)
    code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str | None, text: str) -> None:
        self.by_field.setdefault(name, []).append(text)

    def get(self, name: str | None) -> list[str]:
        return self.by_field.get(name, [])

    def merge(self, other: FormErrors) -> None:
        for name, texts in other.by_field.items():
            for text in texts:
                self.add(name, text)

    def __bool__(self) -> bool:
        return bool(self.by_field)


    def require(self, name: str, value: str, limit: int, missing: str, too_long: str) -> None:
        """A text field that must not be blank nor longer than ``limit`` characters; the
        two sentences come translated."""
        if not value.strip():
            self.add(name, missing)
        elif len(value) > limit:
            self.add(name, too_long)


def explain(exc: QunguanError, _: Gettext) -> FormErrors:
    errors = FormErrors(code=exc.code, details=dict(exc.details))
    name, sentence = MESSAGES.get(exc.code, (None, GENERIC))
    values: dict[str, Any] = {"code": exc.code}
    values.update({k: v for k, v in exc.details.items() if isinstance(v, (int, str))})
    if "retry_after" in exc.details:
        values["minutes"] = max(1, int(exc.details["retry_after"]) // 60)
    try:
        text = _(sentence) % values
    except (KeyError, TypeError, ValueError):
        text = _(sentence)
    fields = exc.details.get("fields")
    if exc.code == "invalid_request" and isinstance(fields, list) and fields:
        for entry in fields:
            errors.add(str(entry) if isinstance(entry, str) else None, _("Check this field."))
    errors.add(name, text)
    return errors


def attempt(uow: UnitOfWork, work: Callable[[], T]) -> T | QunguanError:
    """Run an action for a form. On a QunguanError the action's writes are rolled back (or
    committed when the error asks to keep them, like a failed login's record), exactly as
    the API's unit of work does, and the error is returned for the form to show."""
    try:
        return work()
    except QunguanError as exc:
        if exc.persist:
            uow.commit()
        else:
            uow.rollback()
        return exc


def check_all(_: Gettext, *checks: Callable[[], object]) -> FormErrors:
    """Run pure checks (no writes) and collect every error, so a form shows them all at once
    instead of one per submission."""
    errors = FormErrors()
    for check in checks:
        try:
            check()
        except QunguanError as exc:
            errors.merge(explain(exc, _))
    return errors


MAX_YUAN_FIELD = 24  # characters: longer is no amount anyone typed


def yuan_field(errors: FormErrors, name: str, text: str, message: str) -> int | None:
    """Yuan typed in a form, as integer fen (no float); None, with ``message`` beside the
    field, when it is not a positive amount."""
    try:
        fen = yuan_to_fen(text) if len(text) <= MAX_YUAN_FIELD else None
    except ValueError:
        fen = None
    if fen is None or fen <= 0:
        errors.add(name, message)
        return None
    return int(fen)
