"""Settings: every knob has a default, a doc line (the Field description) and a test.

Read from the environment with the prefix ``QUNGUAN_`` (``QUNGUAN_DATABASE_URL`` …) or from a
``.env`` file. ``docs/configuration.md`` documents each one; a test fails when one is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Group categories, as groups.models.Category names them (config imports no capability; a
# test keeps the two alike): the keys QUNGUAN_ENVELOPE_CATEGORY_LIMITS may use.
GROUP_CATEGORIES = ("party_branch", "village_committee", "government_office", "work", "social")
STRICT_GROUP_CATEGORIES = ("party_branch", "village_committee", "government_office")  # PAY-4
MIN_RETENTION_DAYS = 180  # six months (CN-GIP Art. 13; CSL Art. 21)
REGULATED_ARCHIVE_DAYS = 1095  # three years (LR-6)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUNGUAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./var/qunguan.db",
        description="SQLAlchemy URL of the database: SQLite (embedded default, WAL mode) or "
        "postgresql+psycopg://… for production.",
    )
    data_dir: Path = Field(
        Path("./var"), description="Folder for local state: the SQLite file and generated keys."
    )
    key_dir: Path | None = Field(
        None, description="Folder of the vault master keys and the blind-index key "
        "(default: DATA_DIR/keys). Files are created 0600 on first run."
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, description="Port the server listens on.")
    token_ttl_seconds: int = Field(
        7 * 24 * 3600, description="Lifetime of a bearer token, in seconds."
    )
    login_max_failures: int = Field(
        5, description="Failed logins for one phone number from one client address within "
        "the window before further attempts from there get too_many_attempts."
    )
    login_max_failures_per_phone: int = Field(
        50, description="Failed logins for one phone number from all addresses together "
        "within the window before every further attempt for it gets too_many_attempts.",
    )
    login_max_failures_per_address: int = Field(
        50, description="Failed logins from one client address within the window before "
        "further attempts from it get too_many_attempts.",
    )
    login_window_seconds: int = Field(
        900, description="Window, in seconds, over which failed logins are counted."
    )
    argon2_time_cost: int = Field(3, description="argon2id time cost for password hashes.")
    argon2_memory_cost_kib: int = Field(
        65536, description="argon2id memory cost for password hashes, in KiB."
    )
    max_group_members: int = Field(500, description="Default cap of members per group (GA-2).")
    max_groups_created: int = Field(
        10, description="How many groups one account may found (GA-2)."
    )
    max_groups_joined: int = Field(
        200, description="How many groups one account may be a member of (GA-2)."
    )
    max_message_chars: int = Field(
        4000, description="Longest message text accepted, in characters (message_too_long)."
    )
    max_forward_targets: int = Field(
        5, description="How many groups one forward request may target (too_many_forwards)."
    )
    recall_window_seconds: int = Field(
        120, description="How long after posting a sender may recall a message."
    )
    show_ip_province: bool = Field(
        True, description="Show the province-level IP location on member profiles (ID-6)."
    )
    ip_location_file: Path | None = Field(
        None, description="CSV of 'network,province' rows (e.g. '1.2.3.0/24,广东') used to show "
        "the province-level IP location (ID-6); unset: only private addresses are placed.",
    )
    trusted_proxy_header: str | None = Field(
        None, description="Header carrying the client address when behind a trusted proxy "
        "(e.g. X-Forwarded-For); unset means use the socket peer."
    )
    screening_fail_closed: bool = Field(
        False, description="When a pre-send detector fails: false delivers the message (the "
        "failure is logged), true holds it for human review.",
    )
    max_concurrent_requests: int = Field(
        32, ge=1, description="HTTP requests admitted into the application at once; more wait "
        "their turn. The worker thread pool is sized above it (see docs/architecture.md).",
    )
    outbox_poll_seconds: float = Field(
        1.0, description="How often the embedded outbox worker looks for new events."
    )
    run_workers: bool = Field(
        True, description="Run the outbox worker inside the server process (embedded default)."
    )
    network_id_sandbox_secret: str | None = Field(
        None,
        description="Shared secret of the sandbox 网号/网证 verifier: tokens signed with it are "
        "accepted. Unset (the default), the network_id provider refuses every credential; set "
        "it only for demos and tests, and register a real adapter for production.",
    )

    appeal_window_days: int = Field(
        180, ge=180, description="Days after a statement of reasons during which the member "
        "may appeal it (AT-2: at least six months, so at least 180).",
    )
    credit_base: int = Field(
        100, description="Credit score of an account or group with no contributions (EC-1).",
    )
    credit_half_life_days: float = Field(
        180.0, gt=0, description="Half-life, in days, of a credit contribution: a sanction's "
        "weight halves every this many days (EC-7).",
    )
    credit_large_group_members: int = Field(
        200, description="Founding a group whose member cap exceeds this needs at least "
        "credit_large_group_min credit (EC-1).",
    )
    credit_large_group_min: int = Field(
        90, description="Credit score needed to found a group larger than "
        "credit_large_group_members.",
    )
    review_claim_seconds: int = Field(
        900, ge=1, description="How long an officer's claim on a review item lasts before "
        "another officer may take the item over; claiming again extends it.",
    )
    review_sample_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share (0 to 1) of allowed posts routed to the review "
        "queue for quality control; which posts is decided from the message id, so it is "
        "reproducible.",
    )
    report_daily_cap: int = Field(
        30, ge=1, description="Reports one member may file in 24 hours; more answer "
        "too_many_reports (EC-8: abusive reporting).",
    )
    screening_policy_refresh_seconds: float = Field(
        5.0, ge=0.0, description="How often, at most, each process asks the database which "
        "policy pack version is active; a pack loaded by another process takes effect within "
        "this many seconds (at once in the process that loaded it).",
    )
    rumors_bank_refresh_seconds: float = Field(
        5.0, ge=0.0, description="How often, at most, each process checks the debunk bank for "
        "entries added, edited or retired by another process (at once in the process that "
        "changed it).",
    )
    rumors_correction_days: int = Field(
        30, ge=1, description="When a debunk is added or upgraded to false/misleading, "
        "messages of the last this many days are matched against it retroactively, labelled "
        "and their readers told (CR-8).",
    )
    rumors_correction_batch: int = Field(
        200, ge=1, le=10_000, description="Messages matched per step of a retroactive "
        "correction sweep; each step is one short transaction and schedules the next.",
    )
    rumors_cluster_copy_days: int = Field(
        7, ge=1, description="A message copied (not forwarded) joins the content cluster of a "
        "near-identical text first seen at most this many days earlier; exact copies (the same "
        "normalised fingerprint) join whatever their age.",
    )
    rumors_breaker_groups: int = Field(
        20, ge=2, description="Circuit breaker: a content cluster that reaches this many "
        "groups within QUNGUAN_RUMORS_BREAKER_MINUTES is marked frequently forwarded and its "
        "forwards are limited.",
    )
    rumors_breaker_minutes: int = Field(
        60, ge=1, description="Circuit breaker: the window, in minutes, in which a cluster "
        "must reach QUNGUAN_RUMORS_BREAKER_GROUPS groups to trip it.",
    )
    rumors_breaker_max_targets: int = Field(
        1, ge=1, description="Groups a message of a tripped cluster may be forwarded to at "
        "once (an officer may set another value per cluster).",
    )
    envelope_max_fen: int = Field(
        20_000, ge=1, le=2**62, description="The most one red envelope may hold, in fen "
        "(default 200 yuan; envelope_over_limit).",
    )
    envelope_daily_max_fen: int = Field(
        100_000, ge=1, le=2**62, description="The most one member may send in red envelopes "
        "within any 24 hours, in fen (default 1000 yuan; envelope_daily_limit).",
    )
    envelope_max_parts: int = Field(
        100, ge=1, le=10_000, description="The most parts one red envelope may be split into "
        "(also never more than the group has members, nor than the total has fen).",
    )
    envelope_expiry_seconds: int = Field(
        86_400, ge=1, description="An envelope not fully claimed after this many seconds "
        "expires and its remainder is refunded to the sender by the refund worker.",
    )
    envelope_refund_poll_seconds: float = Field(
        30.0, gt=0, description="How often the embedded refund worker looks for expired "
        "envelopes (when QUNGUAN_RUN_WORKERS is on).",
    )
    wallet_topup_max_fen: int = Field(
        1_000_000, ge=1, le=2**62, description="The most one wallet top-up may be, in fen "
        "(topup_over_limit).",
    )
    election_strict_policy: Literal["disclose", "hold", "block"] = Field(
        "hold", description="PAY-4: the weakest red-envelope policy an election may have in "
        "party_branch, village_committee and government_office groups (a declared policy "
        "below it is raised to it), and the policy of an election declared there without one.",
    )
    election_default_policy: Literal["disclose", "hold", "block"] = Field(
        "disclose", description="The red-envelope policy of an election declared without one "
        "in other groups.",
    )
    envelope_strict_max_fen: int = Field(
        5_000, ge=1, le=2**62, description="PAY-4: the most one red envelope may hold in "
        "party_branch, village_committee and government_office groups at any time, in fen "
        "(default 50 yuan; envelope_over_limit).",
    )
    envelope_category_limits: dict[str, StrictInt] = Field(
        default_factory=dict, description="Per-category red-envelope limits: a JSON object "
        "from group category to the most one envelope may hold in its groups, in fen, e.g. "
        '{"work": 10000}; never above QUNGUAN_ENVELOPE_MAX_FEN (nor, in the strict '
        "categories, QUNGUAN_ENVELOPE_STRICT_MAX_FEN). Unset categories use those.",
    )
    votebuying_thresholds_file: Path | None = Field(
        None, description="A JSON file overriding vote-buying detector thresholds (the names "
        "of qunguan.envelopes.votebuying.Thresholds); unset uses the defaults.",
    )
    votebuying_enabled: bool = Field(
        True, description="Run the vote-buying detectors on sent and claimed red envelopes "
        "(from the outbox) and queue their alerts for review.",
    )
    votebuying_at_send: bool = Field(
        True, description="Also run the vote-buying detector in the screening gate before a "
        "red envelope is sent, so that the policy pack can hold an envelope that would "
        "complete a pattern before money moves (off: after the send only).",
    )
    payment_provider: str = Field(
        "sandbox", min_length=1, max_length=32, description="The payment provider that holds "
        "members' funds (PAY-1); the built-in `sandbox` is test money.",
    )
    auditlog_origin: str = Field(
        "qunguan.local/auditlog", min_length=1, max_length=200, pattern=r"^[^\s+]+$",
        description="Origin line of the audit log's checkpoints and the name of its signing "
        "key (C2SP tlog-checkpoint); a URL-like name unique to this deployment, without "
        "spaces or '+'.",
    )
    auditlog_sequence_seconds: float = Field(
        1.0, gt=0, description="How often the embedded audit log worker appends newly "
        "committed audit records to the Merkle log.",
    )
    auditlog_batch_size: int = Field(
        10_000, ge=1, le=1_000_000, description="Audit records appended to the Merkle log per "
        "transaction.",
    )
    auditlog_checkpoint_seconds: float = Field(
        300.0, gt=0, description="How often the audit log worker signs a checkpoint when the "
        "log has grown (one is also signed on demand by `qunguan auditlog checkpoint`).",
    )
    auditlog_publish_file: Path | None = Field(
        None, description="File the latest signed checkpoint is written to after each signing "
        "(for an auditor to fetch, or a web server to publish); unset: not written.",
    )
    auditlog_public: bool = Field(
        True, description="Serve the latest signed checkpoint, the verifier keys and "
        "consistency proofs without logging in (/api/auditlog/...), for auditors and witnesses "
        "who poll the log; they reveal the log's size and root hashes, never a record. Off: "
        "those paths answer 404.",
    )
    auditlog_self_check_seconds: float = Field(
        3600.0, gt=0, description="How often the audit log worker re-verifies every stored "
        "record against the Merkle log and the signed checkpoints; a failure raises an alert "
        "(AUDITLOG_TAMPERING_DETECTED, an error log line, /healthz status).",
    )

    # --- retention, legal hold, unmasking (issue 6) ---------------------------------------
    retention_messages_days: int = Field(
        180, description="Days a message's text is kept before the purge worker removes it "
        "(LR-1, LR-7); at least 180. Messages under a legal hold or an open case are kept.",
    )
    retention_screening_days: int = Field(
        180, description="Days the evidence of a screening rule hit (its detector signals) is "
        "kept before it is anonymised; at least 180.",
    )
    retention_outbox_days: int = Field(
        180, description="Days a processed outbox event (whose payload may quote a message) "
        "is kept before it is deleted; at least 180.",
    )
    retention_login_days: int = Field(
        180, description="Days failed-login records and expired bearer tokens (network logs, "
        "LR-1) are kept before they are deleted; at least 180.",
    )
    retention_audit_content_days: int = Field(
        400, description="Days the content of an audit record (client address and port, "
        "fingerprint, request id and its evidence, e.g. a removed message's text) is kept "
        "before it is replaced by a purge marker; the record itself and its Merkle leaf stay. "
        "At least 180, and at least QUNGUAN_APPEAL_WINDOW_DAYS + 180 (LR-4).",
    )
    retention_archived_events_days: int = Field(
        180, description="Days the content of an event imported with `qunguan audit "
        "--import-into` (its text, envelope wish and chat-record items) is kept, counted from "
        "the import, before the purge worker removes it; the row and its hash-chain link "
        "stay, and the chain still verifies. At least 180.",
    )
    retention_regulated_archive: bool = Field(
        False, description="Regulated archive mode (LR-6): every record kind is kept at least "
        "3 years (1095 days) whatever its own setting says.",
    )
    retention_poll_seconds: float = Field(
        3600.0, gt=0, description="How often the embedded purge worker looks for content past "
        "retention (when QUNGUAN_RUN_WORKERS is on).",
    )
    retention_batch: int = Field(
        500, ge=1, le=10_000, description="Rows the purge worker removes or anonymises per "
        "transaction (one RETENTION_PURGED audit record each).",
    )
    unmask_reveal_minutes: int = Field(
        30, ge=1, le=1440, description="After a second officer approves an unmasking, the "
        "requester may read the identity once within this many minutes (CR-7, PI-3).",
    )

    @field_validator("retention_messages_days", "retention_screening_days",
                     "retention_outbox_days", "retention_login_days",
                     "retention_audit_content_days", "retention_archived_events_days")
    @classmethod
    def _at_least_six_months(cls, days: int, info: ValidationInfo) -> int:
        if days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"QUNGUAN_{str(info.field_name).upper()}={days} is below the legal minimum of "
                f"{MIN_RETENTION_DAYS} days (logs are kept at least six months: CN-GIP Art. 13, "
                f"LR-1); set {MIN_RETENTION_DAYS} or more")
        return days

    @model_validator(mode="after")
    def _category_limits_are_known_and_stricter(self) -> Settings:
        for category, fen in self.envelope_category_limits.items():
            where = f"QUNGUAN_ENVELOPE_CATEGORY_LIMITS[{category!r}]"
            if category not in GROUP_CATEGORIES:
                raise ValueError(f"{where}: unknown group category; use one of "
                                 f"{', '.join(GROUP_CATEGORIES)}")
            if fen < 1:
                raise ValueError(f"{where}={fen}: a limit is a positive number of fen")
            if fen > self.envelope_max_fen:
                raise ValueError(f"{where}={fen} is above QUNGUAN_ENVELOPE_MAX_FEN="
                                 f"{self.envelope_max_fen}: a category may only be stricter")
            if category in STRICT_GROUP_CATEGORIES and fen > self.envelope_strict_max_fen:
                raise ValueError(f"{where}={fen} is above QUNGUAN_ENVELOPE_STRICT_MAX_FEN="
                                 f"{self.envelope_strict_max_fen} (PAY-4): a category may "
                                 "only be stricter")
        return self

    @model_validator(mode="after")
    def _evidence_outlives_appeals(self) -> Settings:
        floor = self.appeal_window_days + MIN_RETENTION_DAYS
        if self.retention_audit_content_days < floor:
            raise ValueError(
                f"QUNGUAN_RETENTION_AUDIT_CONTENT_DAYS={self.retention_audit_content_days} is "
                f"shorter than the appeal window plus six months ({floor} days with "
                f"QUNGUAN_APPEAL_WINDOW_DAYS={self.appeal_window_days}): enforcement evidence "
                "must outlive its appeals (LR-4)")
        return self

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir if self.key_dir is not None else self.data_dir / "keys"
