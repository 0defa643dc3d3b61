"""Fixtures shared by the enforcement tests."""

from tests.enforcement.review_helpers import (  # noqa: F401  (the fixtures, shared)
    hold_on,
    postgresql_only,
)
