"""Error codes of the audit log (documented in docs/errors.md, "Audit log")."""

from __future__ import annotations

from qunguan.kernel.errors import define_error

define_error("beyond_tree_size", 422, "A proof was asked for a tree size or leaf beyond the "
             "log; details.tree_size is the log's current size.")
define_error("not_yet_logged", 409, "The audit record is not yet covered by the requested "
             "tree size (the log appends records within seconds and signs checkpoints at an "
             "interval); details.tree_size says how far the log reaches.")
define_error("no_checkpoint", 409, "The audit log has not signed a checkpoint yet.")
