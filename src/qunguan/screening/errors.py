"""Screening's error codes (docs/errors.md, section Screening)."""

from qunguan.kernel.errors import define_error

define_error("invalid_policy_pack", 422, "The policy pack fails validation; details.errors "
             "lists each problem with its file, line and reason. The active pack is unchanged.")
