"""Fixtures shared by the enforcement tests."""

from tests.enforcement.review_helpers import hold_on  # noqa: F401  (the fixture, shared)
