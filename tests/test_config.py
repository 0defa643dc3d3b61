"""Every setting has a default, a doc line (tests/test_docs.py) and can be set from the
environment with the QUNGUAN_ prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from qunguan.config import GROUP_CATEGORIES, STRICT_GROUP_CATEGORIES, Settings
from qunguan.groups import Category
from qunguan.groups import queries as group_queries

SAMPLES: dict[str, tuple[str, object]] = {
    "database_url": ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    "data_dir": ("/srv/qunguan", Path("/srv/qunguan")),
    "key_dir": ("/srv/keys", Path("/srv/keys")),
    "host": ("0.0.0.0", "0.0.0.0"),  # noqa: S104
    "port": ("9000", 9000),
    "token_ttl_seconds": ("60", 60),
    "login_max_failures": ("3", 3),
    "login_max_failures_per_address": ("7", 7),
    "login_max_failures_per_phone": ("9", 9),
    "login_window_seconds": ("30", 30),
    "argon2_time_cost": ("2", 2),
    "argon2_memory_cost_kib": ("2048", 2048),
    "max_group_members": ("50", 50),
    "max_groups_created": ("2", 2),
    "max_groups_joined": ("9", 9),
    "max_message_chars": ("100", 100),
    "max_forward_targets": ("3", 3),
    "recall_window_seconds": ("10", 10),
    "show_ip_province": ("false", False),
    "ip_location_file": ("/srv/ip.csv", Path("/srv/ip.csv")),
    "trusted_proxy_header": ("X-Forwarded-For", "X-Forwarded-For"),
    "screening_fail_closed": ("true", True),
    "max_concurrent_requests": ("8", 8),
    "outbox_poll_seconds": ("0.5", 0.5),
    "run_workers": ("false", False),
    "network_id_sandbox_secret": ("s3cret", "s3cret"),
    "appeal_window_days": ("200", 200),
    "credit_base": ("80", 80),
    "credit_half_life_days": ("30.5", 30.5),
    "credit_large_group_members": ("300", 300),
    "credit_large_group_min": ("70", 70),
    "review_claim_seconds": ("60", 60),
    "review_sample_rate": ("0.25", 0.25),
    "report_daily_cap": ("5", 5),
    "screening_policy_refresh_seconds": ("0.5", 0.5),
    "rumors_bank_refresh_seconds": ("1.5", 1.5),
    "rumors_correction_days": ("7", 7),
    "rumors_correction_batch": ("50", 50),
    "rumors_cluster_copy_days": ("3", 3),
    "rumors_breaker_groups": ("5", 5),
    "rumors_breaker_minutes": ("30", 30),
    "rumors_breaker_max_targets": ("2", 2),
    "envelope_max_fen": ("50000", 50_000),
    "envelope_daily_max_fen": ("200000", 200_000),
    "envelope_max_parts": ("20", 20),
    "envelope_expiry_seconds": ("3600", 3600),
    "envelope_refund_poll_seconds": ("5.5", 5.5),
    "wallet_topup_max_fen": ("500", 500),
    "payment_provider": ("bank", "bank"),
    # retention, legal hold, unmasking (issue 6)
    "retention_messages_days": ("365", 365),
    "retention_screening_days": ("200", 200),
    "retention_outbox_days": ("181", 181),
    "retention_login_days": ("400", 400),
    "retention_audit_content_days": ("500", 500),
    "retention_archived_events_days": ("270", 270),
    "retention_regulated_archive": ("true", True),
    "retention_poll_seconds": ("60", 60.0),
    "retention_batch": ("50", 50),
    "unmask_reveal_minutes": ("5", 5),
    "auditlog_origin": ("example.org/qunguan-log", "example.org/qunguan-log"),
    "auditlog_sequence_seconds": ("0.5", 0.5),
    "auditlog_batch_size": ("500", 500),
    "auditlog_checkpoint_seconds": ("60", 60.0),
    "auditlog_publish_file": ("/srv/checkpoint.txt", Path("/srv/checkpoint.txt")),
    "auditlog_public": ("false", False),
    "auditlog_self_check_seconds": ("120", 120.0),
    "election_strict_policy": ("block", "block"),
    "election_default_policy": ("hold", "hold"),
    "envelope_strict_max_fen": ("8000", 8000),
    "envelope_category_limits": ('{"work": 10000, "village_committee": 3000}',
                                 {"work": 10_000, "village_committee": 3000}),
    "votebuying_thresholds_file": ("/srv/votebuying.json", Path("/srv/votebuying.json")),
    "votebuying_enabled": ("false", False),
    "votebuying_at_send": ("false", False),
}


def test_every_setting_has_a_sample() -> None:
    assert set(SAMPLES) == set(Settings.model_fields)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_setting_reads_from_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = SAMPLES[name]
    default = Settings.model_fields[name].default
    assert expected != default, "the sample must differ from the default to prove anything"
    monkeypatch.setenv(f"QUNGUAN_{name.upper()}", raw)
    assert getattr(Settings(), name) == expected


def test_defaults_are_the_embedded_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"QUNGUAN_{name.upper()}", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite:///./var/qunguan.db"
    assert settings.resolved_key_dir == Path("./var/keys")
    assert settings.max_group_members == 500
    assert settings.max_forward_targets == 5
    assert settings.recall_window_seconds == 120


RETENTION_DAYS = ("retention_messages_days", "retention_screening_days",
                  "retention_outbox_days", "retention_login_days",
                  "retention_audit_content_days", "retention_archived_events_days")


@pytest.mark.parametrize("name", RETENTION_DAYS)
def test_retention_below_six_months_refuses_to_start(name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"QUNGUAN_{name.upper()}", "179")
    with pytest.raises(ValueError, match=rf"QUNGUAN_{name.upper()}=179 is below the legal "
                       r"minimum of 180 days"):
        Settings()
    # Audit evidence also outlives the appeal window (at least 180 + 180 days).
    ok = 360 if name == "retention_audit_content_days" else 180
    monkeypatch.setenv(f"QUNGUAN_{name.upper()}", str(ok))
    assert getattr(Settings(), name) == ok


def test_audit_evidence_outlives_the_appeal_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNGUAN_RETENTION_AUDIT_CONTENT_DAYS", "300")
    with pytest.raises(ValueError, match="shorter than the appeal window plus six months"):
        Settings()
    monkeypatch.setenv("QUNGUAN_APPEAL_WINDOW_DAYS", "180")
    monkeypatch.setenv("QUNGUAN_RETENTION_AUDIT_CONTENT_DAYS", "360")
    assert Settings().retention_audit_content_days == 360


def test_config_knows_the_group_categories() -> None:
    assert set(GROUP_CATEGORIES) == {str(c) for c in Category}
    assert set(STRICT_GROUP_CATEGORIES) == {str(c) for c in group_queries.STRICT_CATEGORIES}


@pytest.mark.parametrize(("raw", "message"), [
    ('{"wrok": 1000}', r"QUNGUAN_ENVELOPE_CATEGORY_LIMITS\['wrok'\]: unknown group category"),
    ('{"work": 0}', r"QUNGUAN_ENVELOPE_CATEGORY_LIMITS\['work'\]=0: a limit is a positive "),
    ('{"work": -5}', r"=-5: a limit is a positive number of fen"),
    ('{"work": 20001}', r"=20001 is above QUNGUAN_ENVELOPE_MAX_FEN=20000"),
    ('{"party_branch": 6000}', r"=6000 is above QUNGUAN_ENVELOPE_STRICT_MAX_FEN=5000"),
    ('{"work": 100.5}', r"envelope_category_limits.work"),
    ('{"work": "100"}', r"envelope_category_limits.work"),
    ("[1000]", r"envelope_category_limits"),
])
def test_bad_category_limits_refuse_to_start(raw: str, message: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNGUAN_ENVELOPE_CATEGORY_LIMITS", raw)
    with pytest.raises(ValueError, match=message):
        Settings()
