"""The CLI fixtures of tests/cli, shared with the audit log's CLI tests."""

from tests.cli.test_cli import qunguan, seeded  # noqa: F401
