"""The identity vault: the only module that sees a plaintext legal name, ID number or phone.

Envelope encryption (PI-1): each record is sealed with AES-256-GCM under its own random data
key; the data key is wrapped (AES-256-GCM) by the current master key of a ``KeyProvider``.
Rotating the master key re-wraps every data key without touching the ciphertexts. Lookups use
a keyed blind index (HMAC-SHA256 under a separate key), so uniqueness and blacklists work
without decrypting anything (PI-2). Every read writes an audit record (PI-4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.util import clean

from qunguan.identity.models import VaultRecord
from qunguan.kernel.errors import QunguanError
from qunguan.kernel.events import EventType
from qunguan.kernel.text import is_storable
from qunguan.kernel.uow import HasId, UnitOfWork, record_audit

NONCE_BYTES = 12


class KeyProvider(Protocol):
    """Where master keys come from: a key file here, a KMS or HSM adapter in production."""

    def current(self) -> tuple[str, bytes]: ...

    def get(self, key_id: str) -> bytes: ...

    def rotate(self) -> str: ...

    def index_key(self) -> bytes: ...


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class FileKeyProvider:
    """Master keys in ``KEY_DIR/master.json`` and the blind-index key in ``KEY_DIR/index.key``,
    generated on first use with mode 0600. Old master keys stay so old wraps can be read until
    a rotation re-wraps them."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._lock = threading.Lock()
        self._master = key_dir / "master.json"
        self._index = key_dir / "index.key"
        with self._lock:
            if not self._master.exists():
                _write_private(self._master, json.dumps(
                    {"current": "k1", "keys": {"k1": self._new_key()}}).encode())
            if not self._index.exists():
                _write_private(self._index, base64.b64encode(secrets.token_bytes(32)))

    @staticmethod
    def _new_key() -> str:
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()

    def _load(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self._master.read_text())
        return data

    def current(self) -> tuple[str, bytes]:
        data = self._load()
        key_id = str(data["current"])
        return key_id, self.get(key_id)

    def get(self, key_id: str) -> bytes:
        keys = self._load()["keys"]
        assert isinstance(keys, dict)
        return base64.b64decode(keys[key_id])

    def rotate(self) -> str:
        with self._lock:
            data = self._load()
            keys = data["keys"]
            assert isinstance(keys, dict)
            new_id = f"k{len(keys) + 1}"
            keys[new_id] = self._new_key()
            data["current"] = new_id
            _write_private(self._master, json.dumps(data).encode())
            return new_id

    def index_key(self) -> bytes:
        return base64.b64decode(self._index.read_bytes())


_PROVIDERS: dict[Path, FileKeyProvider] = {}
_PROVIDERS_LOCK = threading.Lock()


def key_provider(uow: UnitOfWork) -> KeyProvider:
    key_dir = uow.settings.resolved_key_dir.resolve()
    with _PROVIDERS_LOCK:
        if key_dir not in _PROVIDERS:
            _PROVIDERS[key_dir] = FileKeyProvider(key_dir)
        return _PROVIDERS[key_dir]


def blind_index(keys: KeyProvider, kind: str, value: str) -> str:
    return hmac.new(keys.index_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


# --- input checks on plaintext (they live here because only the vault may see it) ---------

_PHONE = re.compile(r"1[3-9][0-9]{9}")
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")


def normalise_phone(raw: str) -> str:
    """A mainland mobile number as 11 digits; raises invalid_phone."""
    # stdnum's clean() folds full-width and other look-alike digits and dashes to ASCII, so
    # one number has one blind index however it is typed; any other non-ASCII digit (which
    # ``\d`` would accept) is refused rather than indexed as a different number.
    digits = re.sub(r"[\s\-()]", "", clean(raw))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _PHONE.fullmatch(digits):
        raise QunguanError("invalid_phone", "Not a mainland China mobile number.")
    return digits


def phone_index(uow: UnitOfWork, raw: str) -> str:
    return blind_index(key_provider(uow), "phone", normalise_phone(raw))


def check_resident_id(number: str, today: date) -> str:
    """Validate an 18-digit resident ID number: python-stdnum's cn.ric (length, region, birth
    date, check digit), plus our own rules: 15-digit first-generation numbers are refused and
    a birth date may not lie in the future. Returns the canonical form (upper-case X)."""
    # The canonical form is what the blind index sees, so fold look-alike digits to ASCII
    # first (as stdnum does): a full-width spelling must not index as another identity.
    compact = re.sub(r"\s", "", ric.compact(number)).replace("\uff38", "X")  # full-width X
    if len(compact) != 18:
        raise QunguanError("invalid_id_number", "A resident ID number has 18 characters.",
                           reason="length")
    # ASCII only: str.isdigit() also accepts digits such as '²' that int() then rejects.
    if not _RESIDENT_ID.fullmatch(compact):
        raise QunguanError("invalid_id_number", "17 digits and a check digit (0-9 or X).",
                           reason="format")
    try:
        born = ric.get_birth_date(compact)
    except ValidationError:
        raise QunguanError("invalid_id_number", "The birth date is not a real date.",
                           reason="birth_date") from None
    if born > today:
        raise QunguanError("invalid_id_number", "The birth date lies in the future.",
                           reason="future_birth_date")
    try:
        compact = ric.validate(compact)
    except InvalidComponent:
        # stdnum also insists that the region code existed in the birth year. A code is the
        # place of first registration, which can postdate birth (440305 Nanshan, created
        # 1990, appears on IDs of people born before it), so we accept any region code that
        # ever existed and refuse only codes unknown in every year.
        if not _known_region(compact):
            raise QunguanError("invalid_id_number", "Unknown region code.",
                               reason="region") from None
    except ValidationError as exc:
        raise QunguanError("invalid_id_number", "The resident ID number is not valid.",
                           reason="checksum" if "Checksum" in type(exc).__name__
                           else type(exc).__name__) from None
    return str(compact)


def _known_region(number: str) -> bool:
    parts = numdb.get("cn/loc").info(number[:6])
    return any("county" in props for _, props in parts)


def check_legal_name(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).strip()
    if not name.isprintable() or not is_storable(name):
        raise QunguanError("invalid_legal_name", "The legal name contains control characters.")
    if not 1 <= len(name) <= 64:
        raise QunguanError("invalid_legal_name", "The legal name must have 1 to 64 characters.")
    return name


# --- sealing and reading -----------------------------------------------------------------


def _seal(keys: KeyProvider, plaintext: bytes, aad: bytes) -> tuple[str, bytes, bytes, bytes]:
    key_id, master = keys.current()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    return key_id, _wrap(master, key_id, data_key), nonce, ciphertext


def _wrap(master: bytes, key_id: str, data_key: bytes) -> bytes:
    wrap_nonce = secrets.token_bytes(NONCE_BYTES)
    return wrap_nonce + AESGCM(master).encrypt(wrap_nonce, data_key, key_id.encode())


def _unwrap(keys: KeyProvider, key_id: str, wrapped: bytes) -> bytes:
    return AESGCM(keys.get(key_id)).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                            key_id.encode())


def _aad(account_id: int, kind: str) -> bytes:
    return f"qunguan-vault:{account_id}:{kind}".encode()


def seal(uow: UnitOfWork, *, account_id: int, kind: str, fields: dict[str, str],
         index: str | None) -> VaultRecord:
    keys = key_provider(uow)
    key_id, wrapped, nonce, ct = _seal(keys, json.dumps(fields, ensure_ascii=False).encode(),
                                       _aad(account_id, kind))
    row = VaultRecord(account_id=account_id, kind=kind, key_id=key_id, wrapped_key=wrapped,
                      nonce=nonce, ciphertext=ct, blind_index=index, created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    return row


@dataclass(frozen=True)
class SealedIdentity:
    """What the rest of the code may hold after sealing: references, never plaintext."""

    record_id: int
    identity_index: str


def seal_phone(uow: UnitOfWork, *, account_id: int, raw: str) -> SealedIdentity:
    phone = normalise_phone(raw)
    index = blind_index(key_provider(uow), "phone", phone)
    row = seal(uow, account_id=account_id, kind="phone", fields={"phone": phone}, index=index)
    return SealedIdentity(row.id, index)


def seal_resident_identity(uow: UnitOfWork, *, account_id: int, legal_name: str,
                           id_number: str) -> SealedIdentity:
    name = check_legal_name(legal_name)
    canonical = check_resident_id(id_number, uow.now().date())
    index = blind_index(key_provider(uow), "resident_id", canonical)
    row = seal(uow, account_id=account_id, kind="resident_id",
               fields={"legal_name": name, "id_number": canonical}, index=index)
    return SealedIdentity(row.id, index)


def seal_network_identity(uow: UnitOfWork, *, account_id: int, token: str,
                          network_number: str) -> SealedIdentity:
    """网号/网证 (NID): keep the opaque token and the result only; the network number is
    itself an opaque, per-person pseudonym, used solely for the blind index."""
    index = blind_index(key_provider(uow), "network_id", network_number)
    row = seal(uow, account_id=account_id, kind="network_id",
               fields={"token": token, "result": "pass"}, index=index)
    return SealedIdentity(row.id, index)


def reveal(uow: UnitOfWork, record_id: int, *, acting: HasId, purpose: str,
           request_ref: str) -> dict[str, str]:
    """Decrypt one record for an authorised reader; the read itself is audited (PI-4)."""
    if not purpose.strip() or not request_ref.strip():
        raise QunguanError("purpose_required", "State the purpose and the request reference.")
    row = uow.session.get(VaultRecord, record_id)
    if row is None:
        raise QunguanError("not_found", "No such vault record.")
    keys = key_provider(uow)
    data_key = _unwrap(keys, row.key_id, row.wrapped_key)
    plain = AESGCM(data_key).decrypt(row.nonce, row.ciphertext, _aad(row.account_id, row.kind))
    record_audit(uow, EventType.VAULT_READ, acting=acting, subject_type="vault_record",
                 subject_id=row.id, extra={"purpose": purpose.strip()[:500],
                                           "request_ref": request_ref.strip()[:200],
                                           "kind": row.kind, "account_id": row.account_id})
    # Not addressed to the account read: the event feeds oversight, not the member's sockets.
    uow.emit(EventType.VAULT_READ, vault_record_id=row.id, kind=row.kind,
             account_id=row.account_id)
    fields: dict[str, str] = json.loads(plain)
    return fields


def rotate_keys(uow: UnitOfWork, *, acting: HasId) -> tuple[str, int]:
    """New master key; re-wrap every data key under it. Returns (new key id, records)."""
    keys = key_provider(uow)
    new_id = keys.rotate()
    master = keys.get(new_id)
    count = 0
    for row in uow.session.scalars(select(VaultRecord)):
        data_key = _unwrap(keys, row.key_id, row.wrapped_key)
        row.wrapped_key = _wrap(master, new_id, data_key)
        row.key_id = new_id
        count += 1
    record_audit(uow, EventType.VAULT_KEYS_ROTATED, acting=acting, subject_type="vault",
                 extra={"key_id": new_id, "records": count})
    uow.emit(EventType.VAULT_KEYS_ROTATED, key_id=new_id, records=count)
    return new_id, count
