"""Enforcement: reports, the review queue, sanctions, credit, statements of reasons, appeals."""

# Imported for their effect: the error codes are defined, and the sanctions checker answers
# kernel.restrictions.require_allowed, as soon as anything imports the package.
from qunguan.enforcement import errors as errors
from qunguan.enforcement import restrictions as restrictions
