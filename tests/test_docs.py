"""Docs are tested: every setting, error code, event type and CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

import qunguan.app  # noqa: F401  (imports every capability, so every error code is defined)
from qunguan.cli.main import app as cli_app
from qunguan.config import Settings
from qunguan.kernel.errors import ERRORS
from qunguan.kernel.events import EventType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`QUNGUAN_{name.upper()}`" in read("configuration.md")
    assert Settings.model_fields[name].description, f"{name} has no description"


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_error_code_is_documented(code: str) -> None:
    row = re.search(rf"^\| `{code}` \| (\d+) \|", read("errors.md"), re.M)
    assert row, f"{code} missing from docs/errors.md"
    assert int(row.group(1)) == ERRORS[code].status


def test_errors_doc_lists_no_unknown_codes() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", read("errors.md"), re.M))
    assert documented == set(ERRORS)


@pytest.mark.parametrize("event", list(EventType), ids=lambda e: e.name)
def test_every_event_type_is_documented(event: EventType) -> None:
    row = re.search(rf"^\| {int(event)} \| `{event.name}` \| (.+) \|$", read("events.md"), re.M)
    assert row, f"{event.name} undocumented in docs/events.md"
    assert row.group(1).strip()


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    click_group = typer.main.get_command(group)
    names: list[str] = []

    def walk(cmd: object, path: str) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, f"{path} {name}".strip())
        else:
            names.append(path)

    walk(click_group, prefix)
    return names


@pytest.mark.parametrize("command", _commands(cli_app))
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"`qunguan {command}" in read("cli.md"), f"qunguan {command} missing from docs/cli.md"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme[: readme.index("## What it does")]
    assert "make run" in head
    assert "make test" in head


def test_ci_calls_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
