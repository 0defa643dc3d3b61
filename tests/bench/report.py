"""What the benchmarks share: a section of BENCHMARKS.md between its own markers, and a
throwaway PostgreSQL database."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
NOTES_MARKER = "<!-- notes below this line are kept by make bench -->"


def write_section(start: str, end: str, section: str) -> None:
    """Replace the text between ``start`` and ``end`` in BENCHMARKS.md with ``section`` (which
    carries both markers), or append it below the notes marker the first time."""
    out = ROOT / "BENCHMARKS.md"
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text.split(start, 1)[0] + section + text.split(end, 1)[1]
    else:
        if NOTES_MARKER not in text:
            text = text.rstrip("\n") + "\n\n" + NOTES_MARKER + "\n"
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text, encoding="utf-8")
    print(section)
    print(f"wrote {out}", file=sys.stderr)


def pg_conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (for psycopg directly)."""
    u = make_url(url)
    return make_conninfo(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database)


@contextmanager
def temporary_pg_database(url: str, prefix: str = "qunguan_bench") -> Iterator[str]:
    """A fresh database on the server of ``url``, dropped afterwards; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = pg_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
