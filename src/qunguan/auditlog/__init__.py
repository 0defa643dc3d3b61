"""The audit log: today the officers' view of the audit records every action writes; the
tamper-evident Merkle log, checkpoints, retention and legal hold build on these rows."""
