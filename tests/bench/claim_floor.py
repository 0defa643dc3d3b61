"""The floor under the red-envelope claims benchmark: how fast could any FastAPI server claim
on this machine, if a claim were one round trip and the request pipeline did nothing else?

Not qunguan's code. A bare FastAPI app (one sync route, a bearer header read, no ORM, no unit
of work, no audit-log or outbox workers) calls one PL/pgSQL function per claim that does, in
one transaction, about what a claim must write: the envelope row locked and its counters
moved, a claim row, two ledger postings, an audit row and an outbox row. The same lean load
generator as the claims benchmark (``tests.bench.rawhttp``), 64 clients, one and two uvicorn
processes, on the same two cores. It answers one question for issue 5's target (1,000
claims/s through HTTP): whether the target is out of reach of Python, FastAPI and PostgreSQL
on two cores, or out of reach of the way qunguan's request pipeline and claim are built.

    python -m tests.bench.claim_floor      # part of make bench; BENCH_SECONDS=10 by default
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import psycopg

from tests.bench.envelope_claims import CpuMeter
from tests.bench.http_throughput import PG, SECONDS, free_port, machine, pg_available
from tests.bench.rawhttp import RawHTTP
from tests.bench.report import pg_conninfo, temporary_pg_database, write_section

START = "<!-- claim-floor:start -->"
END = "<!-- claim-floor:end -->"
CLIENTS = 64
ENVELOPES = 50

SCHEMA = """
CREATE TABLE envelope (id int PRIMARY KEY, parts int NOT NULL, fen bigint NOT NULL);
CREATE TABLE claim (id bigserial PRIMARY KEY, envelope_id int NOT NULL, member text NOT NULL,
                    amount int NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE posting (id bigserial PRIMARY KEY, claim_id bigint NOT NULL, account text NOT NULL,
                      amount bigint NOT NULL);
CREATE TABLE audit (id bigserial PRIMARY KEY, kind int NOT NULL, extra jsonb NOT NULL,
                    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE outbox (id bigserial PRIMARY KEY, kind int NOT NULL, payload jsonb NOT NULL);
INSERT INTO envelope SELECT g, 1000000000, 1000000000000 FROM generate_series(0, 49) g;
CREATE FUNCTION claim(e int, who text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE a int; p int; f bigint; c bigint;
BEGIN
  SELECT parts, fen INTO p, f FROM envelope WHERE id = e FOR UPDATE;
  a := 1 + floor(random() * least(2 * f / p, 20000))::int;
  UPDATE envelope SET parts = p - 1, fen = f - a WHERE id = e;
  INSERT INTO claim (envelope_id, member, amount) VALUES (e, who, a) RETURNING id INTO c;
  INSERT INTO posting (claim_id, account, amount) VALUES (c, 'escrow', -a), (c, who, a);
  INSERT INTO audit (kind, extra) VALUES (1, jsonb_build_object('amount_fen', a));
  INSERT INTO outbox (kind, payload) VALUES (1, jsonb_build_object('claim', c));
  RETURN a;
END $$;
"""


# --- the bare app (imported by uvicorn in the server processes) ------------------------------


def create_app() -> Any:
    from fastapi import FastAPI, Header, HTTPException

    connections: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
    for _ in range(16):
        connections.put(psycopg.connect(os.environ["CLAIM_FLOOR_DSN"], autocommit=True))

    class Borrowed:
        def __enter__(self) -> psycopg.Connection[Any]:
            self.conn = connections.get()
            return self.conn

        def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                     tb: TracebackType | None) -> None:
            connections.put(self.conn)

    app = FastAPI()

    @app.post("/claim/{envelope_id}")
    def claim(envelope_id: int, authorization: str = Header()) -> dict[str, int]:
        if not authorization.startswith("Bearer "):
            raise HTTPException(401)
        with Borrowed() as conn:
            row = conn.execute("SELECT claim(%s, %s)", (envelope_id, authorization[7:])).fetchone()
        assert row is not None
        return {"amount_fen": int(row[0])}

    return app


# --- the measurement -------------------------------------------------------------------------


@contextmanager
def bare_server(database_url: str, processes: int) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {**os.environ, "CLAIM_FLOOR_DSN": pg_conninfo(database_url)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.bench.claim_floor:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--workers", str(processes)], env=env)
    try:
        for _ in range(100):
            try:
                asyncio.run(_one(port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the bare server did not start")
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _one(port: int) -> None:
    conn = RawHTTP(port)
    try:
        status, _ = await conn.request("POST", "/claim/0", {"Authorization": "Bearer warm"})
        assert status == 200, status
    finally:
        await conn.close()


async def load(port: int, seconds: float) -> tuple[int, int]:
    done = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal done, errors
        conn = RawHTTP(port)
        headers = {"Authorization": f"Bearer member{i}"}
        k = 0
        try:
            while time.perf_counter() < deadline:
                status, _ = await conn.request("POST", f"/claim/{(i + k) % ENVELOPES}", headers)
                k += 1
                if status == 200:
                    done += 1
                else:
                    errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(CLIENTS)))
    return done, errors


def main() -> None:
    lines = [START, "## Floor under the claims: a bare FastAPI server, one SQL call per claim",
             "", __doc__.split("\n\n")[1].replace("\n", " "), ""]
    if not pg_available():
        lines += [f"PostgreSQL at {PG} was unreachable: not measured.", END]
        write_section(START, END, "\n".join(lines))
        return
    rows = []
    with temporary_pg_database(PG, prefix="qunguan_bench_floor") as database_url:
        with psycopg.connect(pg_conninfo(database_url), autocommit=True) as conn:
            conn.execute(SCHEMA)
        for processes in (1, 2):
            with bare_server(database_url, processes) as (pid, port):
                meter = CpuMeter(database_url, pid)
                meter.start()
                start = time.perf_counter()
                done, errors = asyncio.run(load(port, SECONDS))
                elapsed = time.perf_counter() - start
                server, client, db = meter.stop()
            server, client, db = (cpu / done * 1000 if done else float("nan")
                                  for cpu in (server, client, db))
            rows.append(f"| {processes} | {CLIENTS} | {done / elapsed:.0f} | {errors} | "
                        f"{server:.2f} | {client:.2f} | {db:.2f} | "
                        f"{os.getloadavg()[0]:.2f} |")
            print(rows[-1], flush=True)
    lines += ["- Command: `make bench` (`python -m tests.bench.claim_floor`), "
              f"BENCH_SECONDS={SECONDS:g}", f"- Machine: {machine()}",
              f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}", "",
              "| processes | clients | claims/s | errors | CPU ms/claim: server | client | "
              "PostgreSQL | load avg (1 min) |", "|---:|---:|---:|---:|---:|---:|---:|---:|",
              *rows, "", "Compare with the claims benchmark above: the difference is the cost "
              "of qunguan's request pipeline and of a claim written through the ORM, not of "
              "the language, the framework or the database.", END]
    write_section(START, END, "\n".join(lines))


if __name__ == "__main__":
    main()
