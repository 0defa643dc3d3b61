"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519 keys.

A checkpoint body is three lines, each ending in a newline: the log's origin, the tree size in
decimal, the base64 (RFC 4648 §4) root hash. The signed note is the body, a blank line and one
signature line per key: U+2014 EM DASH, a space, the key name, a space, and base64 of the
4-byte key id followed by the 64-byte Ed25519 signature of the body. The key id is the first
four bytes of SHA-256(key name || 0x0A || 0x01 || public key) (0x01: Ed25519). A verifier key
is written ``name+hex(key id)+base64(0x01 || public key)``, as Go's sumdb/note does.

Pure functions plus the file that holds the signing keys (``KEY_DIR/auditlog-signing.json``,
0600, generated on first use; rotation keeps every old public key so old checkpoints still
verify, and drops the old private key). Nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
DASH = "\u2014 "
MAX_NOTE_BYTES = 1 << 16
_NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note or checkpoint that does not parse or verify; the message says what failed."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public: bytes

    @property
    def text(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_verifier(text: str) -> Verifier:
    """A verifier key ``name+hexid+base64(0x01||key)``; NoteError saying what is wrong."""
    parts = text.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise NoteError("verifier key is not name+keyid+key")
    name, hex_id, b64 = parts
    if not _NAME.match(name):
        raise NoteError("verifier key has an invalid name")
    try:
        kid = bytes.fromhex(hex_id)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("verifier key id or key is not valid hex/base64") from None
    if len(kid) != 4 or len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("verifier key is not a 4-byte id and an Ed25519 key")
    if key_id(name, raw[1:]) != kid:
        raise NoteError("verifier key id does not match its name and key")
    return Verifier(name, kid, raw[1:])


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, name: str, private: Ed25519PrivateKey) -> str:
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = private.sign(body.encode())
    return f"{body}\n{DASH}{name} {base64.b64encode(key_id(name, public) + sig).decode()}\n"


@dataclass(frozen=True)
class CheckpointInfo:
    origin: str
    size: int
    root: bytes
    key_name: str
    key_id: bytes
    note: str


def open_checkpoint(note: str, verifiers: list[Verifier], *, origin: str | None = None
                    ) -> CheckpointInfo:
    """Parse and verify a signed checkpoint against trusted keys; NoteError naming what
    failed: the format, an unknown key, a bad signature, the body's lines, the origin."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("checkpoint is larger than 64 KiB")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("checkpoint contains control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note: no blank line before the signatures, or no final "
                        "newline")
    body, sig_lines = note[:split + 1], note[split + 2:-1].split("\n")
    known = {(v.name, v.key_id): v for v in verifiers}
    signer: Verifier | None = None
    unknown: list[str] = []
    for line in sig_lines:
        if not line.startswith(DASH):
            raise NoteError("malformed signature line (no em dash)")
        fields = line[len(DASH):].split(" ")
        if len(fields) != 2 or not _NAME.match(fields[0]):
            raise NoteError("malformed signature line")
        try:
            raw = base64.b64decode(fields[1], validate=True)
        except binascii.Error:
            raise NoteError("signature is not base64") from None
        if len(raw) < 5:
            raise NoteError("signature is too short")
        verifier = known.get((fields[0], raw[:4]))
        if verifier is None:
            unknown.append(f"{fields[0]}+{raw[:4].hex()}")
            continue
        if not verifier.verify(body.encode(), raw[4:]):
            raise NoteError(f"signature by {verifier.text.rsplit('+', 1)[0]} does not verify: "
                            "the checkpoint was altered or signed with another key")
        signer = signer or verifier
    if signer is None:
        raise NoteError("checkpoint is signed by an unknown key: " + ", ".join(unknown))
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("checkpoint body does not have origin, size and root lines")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1]):
        raise NoteError("checkpoint tree size is not a decimal number")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    if origin is not None and lines[0] != origin:
        raise NoteError(f"checkpoint is for origin {lines[0]!r}, not {origin!r}")
    return CheckpointInfo(lines[0], int(lines[1]), root, signer.name, signer.key_id, note)


# --- the signing key file -------------------------------------------------------------------


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def publish(path: Path, text: str) -> None:
    """Write a public file (a checkpoint, the verifier keys) atomically, world-readable."""
    _write_private(path, text.encode(), 0o644)


class SigningKeys:
    """``KEY_DIR/auditlog-signing.json``: the current Ed25519 key's seed and every public key
    the log ever signed with; ``KEY_DIR/auditlog-verifiers.txt`` lists the verifier keys
    (publishable: an outside verifier needs nothing else)."""

    FILE = "auditlog-signing.json"
    PUBLIC = "auditlog-verifiers.txt"
    _lock = threading.Lock()

    def __init__(self, key_dir: Path, name: str) -> None:
        if not _NAME.match(name):
            raise NoteError(f"invalid key name {name!r} (no spaces or '+')")
        self.path = key_dir / self.FILE
        self.public_path = key_dir / self.PUBLIC
        self.name = name
        with self._lock:
            if not self.path.exists():
                self._save({"name": name, "current": None, "keys": []})
                self._add_key()

    def _load(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.path.read_text())
        return data

    def _save(self, data: dict[str, object]) -> None:
        _write_private(self.path, json.dumps(data, indent=1).encode())

    def _add_key(self) -> Verifier:
        data = self._load()
        keys = data["keys"]
        assert isinstance(keys, list)
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes_raw()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        for old in keys:
            old["seed"] = None  # an old key never signs again; its public half stays
        keys.append({"public": base64.b64encode(public).decode(),
                     "seed": base64.b64encode(seed).decode(),
                     "created_at": datetime.now(UTC).isoformat()})
        data["current"] = key_id(self.name, public).hex()
        self._save(data)
        publish(self.public_path, "".join(v.text + "\n" for v in self._verifiers(data)))
        return Verifier(self.name, key_id(self.name, public), public)

    def _verifiers(self, data: dict[str, object]) -> list[Verifier]:
        keys = data["keys"]
        assert isinstance(keys, list)
        out = []
        for k in keys:
            public = base64.b64decode(k["public"])
            out.append(Verifier(self.name, key_id(self.name, public), public))
        return out

    def verifiers(self) -> list[Verifier]:
        """Every public key the log has signed with, oldest first."""
        return self._verifiers(self._load())

    def current(self) -> Ed25519PrivateKey:
        keys = self._load()["keys"]
        assert isinstance(keys, list)
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(keys[-1]["seed"]))

    def rotate(self) -> Verifier:
        """A new current key; the old private key is deleted, its public key kept."""
        with self._lock:
            return self._add_key()

    def sign_checkpoint(self, origin: str, size: int, root: bytes) -> str:
        return sign_note(checkpoint_body(origin, size, root), self.name, self.current())
