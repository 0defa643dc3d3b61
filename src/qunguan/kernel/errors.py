"""The one error format of the API: ``{"error": {"code", "message", "details"}}``.

Every code a client can cause is defined here once, with its HTTP status and a doc line;
``docs/errors.md`` documents each and a test fails when one is missing. Capabilities raise
``QunguanError("code", "message", key=value)``; an undefined code is a programming error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    status: int
    doc: str


ERRORS: dict[str, ErrorSpec] = {}


def define_error(code: str, status: int, doc: str) -> ErrorSpec:
    if code in ERRORS and ERRORS[code] != ErrorSpec(code, status, doc):
        raise ValueError(f"error code {code!r} defined twice")
    spec = ErrorSpec(code, status, doc)
    ERRORS[code] = spec
    return spec


class QunguanError(Exception):
    """An error the client caused (4xx); ``code`` is stable and documented."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        if code not in ERRORS:
            raise KeyError(f"undefined error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.persist = False

    def keep_writes(self) -> QunguanError:
        """Commit what the action wrote before failing (a failed-login record, the audit
        record of a blocked message) instead of rolling it back."""
        self.persist = True
        return self

    @property
    def status(self) -> int:
        return ERRORS[self.code].status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


# Generic request errors
define_error("malformed_json", 400, "The request body is not valid JSON.")
define_error("invalid_request", 422, "The request is well-formed JSON but a field is missing, "
             "has the wrong type or is out of range; details.fields lists each problem.")
define_error("not_found", 404, "The thing does not exist, or you may not see it (the two "
             "are answered alike so that existence does not leak).")
define_error("method_not_allowed", 405, "The path exists but not with this HTTP method.")
define_error("conflict", 409, "The request conflicts with the current state; details say how.")
define_error("forbidden", 403, "You are known but not allowed to do this.")
define_error("rate_limited", 429, "Too many requests; retry after details.retry_after seconds.")
# Authentication
define_error("not_authenticated", 401, "No bearer token was given.")
define_error("invalid_token", 401, "The bearer token is unknown, revoked or expired.")
define_error("token_expired", 401, "The bearer token has expired; log in again.")
define_error("invalid_credentials", 401, "The phone number or password is wrong.")
define_error("too_many_attempts", 429, "Too many failed logins for this phone number or "
             "client address; wait details.retry_after seconds.")
define_error("phone_taken", 409, "An account with this phone number already exists.")
define_error("invalid_phone", 422, "Not a mainland China mobile number (11 digits, 1[3-9]…).")
define_error("weak_password", 422, "The password is shorter than 8 characters.")
define_error("account_closed", 403, "The account is closed.")
# Real-name verification and the vault
define_error("real_name_required", 403, "Real-name verification is required before posting, "
             "forwarding, creating groups or sending red envelopes (ID-1).")
define_error("invalid_id_number", 422, "The resident ID number fails its checks: length, "
             "region, birth date (not in the future) or check digit.")
define_error("invalid_legal_name", 422, "The legal name is empty or too long.")
define_error("identity_in_use", 409, "This identity is already verified for another account.")
define_error("identity_blacklisted", 403, "This identity is blacklisted and may not register.")
define_error("already_verified", 409, "This account is already real-name verified.")
define_error("unknown_provider", 404, "No verification provider has that name.")
define_error("verification_failed", 422, "The provider did not confirm the identity.")
define_error("purpose_required", 422, "A vault read needs a stated purpose and a request "
             "reference.")
# Groups
define_error("group_full", 409, "The group has reached its member cap (GA-2).")
define_error("too_many_groups_created", 409, "You have founded as many groups as allowed.")
define_error("too_many_groups_joined", 409, "You are a member of as many groups as allowed.")
define_error("already_member", 409, "The account is already a member of the group.")
define_error("not_member", 409, "The account is not a member of the group.")
define_error("rules_not_acknowledged", 422, "Joining needs acknowledging the group rules "
             "(GA-9): send rules_version with the version shown.")
define_error("muted", 403, "You are muted in this group until details.until.")
define_error("group_closed_for_posting", 403, "Posting in this group is suspended.")
define_error("founder_cannot_leave", 409, "The founder must transfer the group before "
             "leaving.")
# Messages
define_error("message_too_long", 422, "The text exceeds details.max_chars characters.")
define_error("message_empty", 422, "The text is empty or only whitespace.")
define_error("too_many_forwards", 422, "A forward may target at most details.max groups.")
define_error("recall_window_passed", 409, "Messages can be recalled only within "
             "details.window_seconds of posting.")
define_error("already_recalled", 409, "The message was already recalled.")
define_error("message_blocked", 422, "Screening blocked the message; details.reasons say why.")
define_error("confirmation_required", 409, "Screening asks you to confirm before sending; "
             "resend with confirm=true after reading details.reasons.")
define_error("invalid_cursor", 422, "The pagination cursor is not one this server issued.")
define_error("display_name_reserved", 422, "The display name impersonates an organisation, an "
             "official or the service (ID-5); choose another.")
define_error("invalid_display_name", 422, "The display name must have 1 to 32 visible "
             "characters.")
