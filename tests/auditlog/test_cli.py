"""`qunguan auditlog ...` end to end on a temporary SQLite installation: checkpoint, keys,
export, verify with only the public keys, tampering caught by verify and by the self-check,
key rotation, and bad input to verify."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import func, select, text

from qunguan.kernel.events import EventType
from qunguan.kernel.models import AuditRecord
from tests.cli.test_cli import Qunguan


def test_checkpoint_export_verify_and_tampering(seeded: Qunguan, tmp_path: Path) -> None:
    published = tmp_path / "public" / "checkpoint.txt"
    out = seeded("auditlog", "checkpoint", "--publish", str(published))
    assert out.startswith("qunguan.local/auditlog")
    assert published.read_text().startswith("qunguan.local/auditlog\n")
    keys = tmp_path / "keys.txt"
    keys.write_text(seeded("auditlog", "keys").replace(" ", "\n") + "\n")
    assert (tmp_path / "var" / "keys" / "auditlog-verifiers.txt").read_text() == \
        keys.read_text()
    export = tmp_path / "export.jsonl"
    out = seeded("auditlog", "export", "--out", str(export))
    assert "exported" in out
    cp = Path(str(export) + ".checkpoint")
    out = seeded("auditlog", "verify", str(export), "--checkpoint", str(published),
                 "--checkpoint", str(cp), "--key", str(keys))
    assert out.startswith("OK:"), out
    assert seeded.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.event_type == int(EventType.AUDITLOG_EXPORTED))) == 1
    assert "self-check passed" in seeded("auditlog", "self-check")

    with seeded.session() as s:
        victim = s.scalar(select(func.min(AuditRecord.id)).where(
            AuditRecord.event_type == int(EventType.MESSAGE_POSTED)))
        s.execute(text("UPDATE audit_records SET occurred_at = '2020-01-01 00:00:00.000000' "
                       "WHERE id = :id"), {"id": victim})
        s.commit()
    out = seeded("auditlog", "self-check", code=1)
    assert f"TAMPERING DETECTED: record {victim} (leaf" in out
    tampered = tmp_path / "tampered.jsonl"
    seeded("auditlog", "export", "--out", str(tampered))
    out = seeded("auditlog", "verify", str(tampered), "--checkpoint", str(cp), "--key",
                 str(keys), code=1)
    assert f"FAILED: record {victim} (leaf" in out

    # a rotated key: the old export still verifies with the full key list
    assert "new signing key" in seeded("auditlog", "rotate-key")
    keys.write_text((tmp_path / "var" / "keys" / "auditlog-verifiers.txt").read_text())
    assert len(keys.read_text().splitlines()) == 2
    out = seeded("auditlog", "verify", str(export), "--checkpoint", str(cp), "--key", str(keys))
    assert out.startswith("OK:")


def test_verify_rejects_bad_input_without_crashing(seeded: Qunguan, tmp_path: Path) -> None:
    cp = tmp_path / "cp.txt"
    seeded("auditlog", "checkpoint", "--publish", str(cp))
    keys = tmp_path / "keys.txt"
    keys.write_text((tmp_path / "var" / "keys" / "auditlog-verifiers.txt").read_text())
    export = tmp_path / "export.jsonl"
    seeded("auditlog", "export", "--out", str(export))
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_bytes(export.read_bytes()[:-40])
    out = seeded("auditlog", "verify", str(truncated), "--checkpoint", str(cp), "--key",
                 str(keys), code=2)
    assert "export does not verify" in out
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\xff\xfe not json")
    out = seeded("auditlog", "verify", str(garbage), "--checkpoint", str(cp), "--key",
                 str(keys), code=2)
    assert "cannot read the export" in out or "not JSON" in out
    other_keys = tmp_path / "other.txt"
    other_keys.write_text("someone.else/log+01020304+AQ" + "A" * 42 + "=\n")
    out = seeded("auditlog", "verify", str(export), "--checkpoint", str(cp), "--key",
                 str(other_keys), code=2)
    assert "verifier key" in out
    out = seeded("auditlog", "verify", str(export), "--checkpoint", str(tmp_path / "none.txt"),
                 "--key", str(keys), code=2)
    assert "cannot read" in out
    flipped = tmp_path / "flipped.txt"
    # Flip one bit inside the signature bytes. Editing the last base64 character is not
    # enough: with 68 bytes its low bits are padding, which lenient decoders ignore.
    body, _, sig_line = cp.read_text().rstrip("\n").rpartition("\n")
    prefix, _, b64 = sig_line.rpartition(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 0x01
    flipped.write_text(f"{body}\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n")
    out = seeded("auditlog", "verify", str(export), "--checkpoint", str(flipped), "--key",
                 str(keys), code=1)
    assert "checkpoint 1:" in out
