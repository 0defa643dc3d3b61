"""Fixtures shared by the governance tests."""

from tests.enforcement.review_helpers import postgresql_only  # noqa: F401  (the fixture)
