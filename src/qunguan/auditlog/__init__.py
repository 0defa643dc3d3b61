"""The audit log: the officers' view of the audit records every action writes, and the
tamper-evident Merkle log over them (RFC 9162 tree, C2SP signed checkpoints, proofs, export
and offline verification, a scheduled self-check). Retention and legal hold build on it."""

from qunguan.auditlog import errors  # noqa: F401  (defines the error codes)
