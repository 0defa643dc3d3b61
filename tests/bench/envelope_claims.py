"""Red-envelope claims per second on PostgreSQL: through HTTP and in process.

Issue 5's benchmark. A database of its own (created and dropped here) on the PostgreSQL server
of QUNGUAN_TEST_DATABASE_URL; a real server (uvicorn, one worker process, the embedded outbox
and refund workers on, as ``make run`` has them) started with the helpers of
``tests.bench.http_throughput``; 257 members of one group registered, verified and joined
through the API. For 64 and then 256 concurrent clients: one member sends envelopes of as many
lucky parts as there are clients, and each client (a member of its own) walks the envelopes in
its own rotated order, claiming each once, for BENCH_SECONDS; then the same with the action
called in process (``actions.do_claim_envelope`` + commit on one unit of work per claim, the
account read in it as a request would), from as many threads, without HTTP.

After every run the database is checked: no member holds two claims of one envelope and
there are as many claim ledger transactions as claim rows (zero double claims); the ledger's
balances and postings sum to zero with no negative balance; for each envelope the claims,
the remainder and the refund sum to its total, the claims taken match its parts, and its
escrow holds exactly the remainder. A failed check stops the benchmark.

CPU seconds per claim: the server's process (or this process, in process), the load
generator (this process, HTTP runs) and the PostgreSQL backends serving the benchmark's
database, from /proc, so they do not count what other users of the shared machine ran. The
load average is recorded with each run.

    make bench                                    # part of it
    python -m tests.bench.envelope_claims         # alone; BENCH_SECONDS=10 by default
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import event, func, select

from tests.bench.http_throughput import (
    PG,
    SECONDS,
    machine,
    percentile,
    pg_available,
    setup,
    start_server,
)
from tests.bench.rawhttp import ConnectionLost, RawHTTP
from tests.bench.report import pg_conninfo, temporary_pg_database, write_section

CLIENTS = (64, 256)
# uvicorn worker processes of the server for the HTTP runs, one run of CLIENTS per count.
SERVER_PROCESSES = tuple(int(n) for n in os.environ.get("BENCH_CLAIM_PROCESSES", "1,2").split(","))
REFERENCE_CLIENTS = 64
START = "<!-- envelope-claims:start -->"
END = "<!-- envelope-claims:end -->"
# Enough envelopes that no client runs out at this many claims per second.
CEILING_PER_SECOND = float(os.environ.get("BENCH_CLAIMS_CEILING", "2500"))
ENVELOPE_FEN = 20_000  # the default per-envelope limit: 200 yuan
# Limits lifted for the run (one member sends every envelope); the rest are the defaults.
SERVER_ENV = {"QUNGUAN_ENVELOPE_DAILY_MAX_FEN": str(10**12),
              "QUNGUAN_WALLET_TOPUP_MAX_FEN": str(10**12),
              "QUNGUAN_ENVELOPE_MAX_PARTS": "1000"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Point:
    mode: str  # "HTTP", "in process" or "GET /api/me" (the reference)
    clients: int
    claims: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu: float  # seconds: the server process (in process: this process)
    client_cpu: float  # seconds: the load generator (0 in process: counted as the server)
    db_cpu: float  # seconds: the PostgreSQL backends of the benchmark's database
    statements: float | None  # SQL statements per claim (in process only)
    load: tuple[float, float, float]
    processes: int = 1  # the server's worker processes (in process: 1, the benchmark's)

    @property
    def rate(self) -> float:
        return self.claims / self.seconds

    def per_claim_ms(self, cpu: float) -> float:
        return cpu / self.claims * 1000 if self.claims else float("nan")


# --- CPU time from /proc -------------------------------------------------------------------


def _cpu_of(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids += _tree(int(child))
    except OSError:
        pass
    return pids


def _backends(database_url: str) -> list[int]:
    with psycopg.connect(pg_conninfo(database_url), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid()").fetchall()
    return [int(r[0]) for r in rows]


class CpuMeter:
    """CPU seconds of a process tree and of the database's backends between start and stop.
    A backend that exits before ``stop`` loses its share (the pools keep theirs open)."""

    def __init__(self, database_url: str, server_pid: int | None) -> None:
        self.database_url = database_url
        self.server_pid = server_pid

    def _server(self) -> float:
        if self.server_pid is None:
            return time.process_time()
        return sum(_cpu_of(p) for p in _tree(self.server_pid))

    def start(self) -> None:
        self.backends = {pid: _cpu_of(pid) for pid in _backends(self.database_url)}
        self.server0, self.client0 = self._server(), time.process_time()

    def stop(self) -> tuple[float, float, float]:
        server = self._server() - self.server0
        client = 0.0 if self.server_pid is None else time.process_time() - self.client0
        db = sum(_cpu_of(pid) - self.backends.get(pid, 0.0)
                 for pid in _backends(self.database_url))
        return server, client, db


# --- setup through the API -------------------------------------------------------------------


def _headers(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def send_envelopes(url: str, sender: str, group_id: int, count: int, parts: int,
                         tag: str) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        r = await client.post("/api/me/wallet/topup", headers=_headers(sender, f"{tag}-topup"),
                              json={"amount_fen": count * ENVELOPE_FEN})
        r.raise_for_status()
        ids = []
        for i in range(count):
            r = await client.post(f"/api/groups/{group_id}/envelopes",
                                  headers=_headers(sender, f"{tag}-{i}"),
                                  json={"total_fen": ENVELOPE_FEN, "parts": parts,
                                        "split": "lucky"})
            r.raise_for_status()
            ids.append(int(r.json()["id"]))
        return ids


def envelopes_needed(clients: int) -> int:
    return int(CEILING_PER_SECOND * SECONDS / clients) + 2


def rotated(envelopes: list[int], i: int, clients: int) -> list[int]:
    """Client ``i``'s order: the envelopes from its own starting point, so the clients are
    spread over the open envelopes as claimers of many groups would be, while every envelope
    is still claimed by many at once."""
    start = i * len(envelopes) // clients
    return envelopes[start:] + envelopes[:start]


# --- load ------------------------------------------------------------------------------------


Tally = tuple[list[float], dict[str, int]]  # latencies of the successes, errors by code


def _count(errors: dict[str, int], code: str) -> None:
    errors[code] = errors.get(code, 0) + 1


async def _clients(url: str, clients: int, seconds: float,
                   one: Callable[[RawHTTP, int, float, Tally], Awaitable[None]]) -> Tally:
    """``clients`` tasks, each on a keep-alive connection of its own (``RawHTTP``: the load
    generator shares the two cores, so it must cost little per request), each running
    ``one(connection, i, deadline, tally)``."""
    tally: Tally = ([], {})
    deadline = time.perf_counter() + seconds
    port = int(url.rsplit(":", 1)[1])

    async def worker(i: int) -> None:
        conn = RawHTTP(port)
        try:
            await one(conn, i, deadline, tally)
        finally:
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return tally


async def http_load(url: str, tokens: list[str], envelopes: list[int], clients: int,
                    seconds: float) -> Tally:
    """Each client claims the envelopes in its own rotated order until the time is up."""

    async def claimer(conn: RawHTTP, i: int, deadline: float, tally: Tally) -> None:
        latencies, errors = tally
        for envelope_id in rotated(envelopes, i, clients):
            if time.perf_counter() >= deadline:
                return
            # Claims carry an Idempotency-Key, so a request whose connection broke (the server
            # closing an idle keep-alive connection as the next request left, on a loaded
            # machine) is retried as a real client would: at most once taken.
            headers = _headers(tokens[i], f"bench-{i}-{envelope_id}")
            start = time.perf_counter()
            for attempt in range(3):
                try:
                    status, body = await conn.request(
                        "POST", f"/api/envelopes/{envelope_id}/claim", headers)
                    break
                except ConnectionLost:
                    if attempt == 2:
                        raise
                    _count(errors, "retried_after_lost_connection")
            if status == 200:
                latencies.append(time.perf_counter() - start)
            else:
                _count(errors, json.loads(body).get("error", {}).get("code", str(status)))
        _count(errors, "ran_out_of_envelopes")

    return await _clients(url, clients, seconds, claimer)


async def reference_load(url: str, tokens: list[str], clients: int, seconds: float) -> Tally:
    """``GET /api/me`` (the bearer-token lookup and the account, nothing written) from
    ``clients`` connections: what any authenticated request costs in this server, for
    comparison with a claim."""

    async def reader(conn: RawHTTP, i: int, deadline: float, tally: Tally) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, _ = await conn.request("GET", "/api/me", _headers(tokens[i]))
            if status == 200:
                tally[0].append(time.perf_counter() - start)
            else:
                _count(tally[1], str(status))

    return await _clients(url, clients, seconds, reader)


@dataclass
class Members:
    url: str
    tokens: list[str]  # tokens[0] sends, the others claim
    account_ids: list[int]
    group_id: int


def run_http(members: Members, database_url: str, server_pid: int,
             processes: int) -> list[Point]:
    url, sender, claimers = members.url, members.tokens[0], members.tokens[1:]
    warm = asyncio.run(send_envelopes(url, sender, members.group_id, 4, 8, f"warm-{processes}"))
    asyncio.run(http_load(url, claimers[:8], warm, 8, 1.0))
    points = []
    for clients in CLIENTS:
        envelopes = asyncio.run(send_envelopes(url, sender, members.group_id,
                                               envelopes_needed(clients), clients,
                                               f"http-{processes}-{clients}"))
        time.sleep(2)  # let the outbox worker catch up with the sends first
        meter = CpuMeter(database_url, server_pid)
        meter.start()
        start = time.perf_counter()
        latencies, errors = asyncio.run(http_load(url, claimers, envelopes, clients, SECONDS))
        elapsed = time.perf_counter() - start
        server, client, db = meter.stop()
        point = Point("HTTP", clients, len(latencies), elapsed, percentile(latencies, 50),
                      percentile(latencies, 99), errors, server, client, db, None,
                      os.getloadavg(), processes)
        report_point(point)
        verify(database_url)
        points.append(point)
    # The reference: an authenticated read through the same server, client and connections.
    meter = CpuMeter(database_url, server_pid)
    meter.start()
    start = time.perf_counter()
    latencies, errors = asyncio.run(reference_load(url, claimers, REFERENCE_CLIENTS, SECONDS))
    elapsed = time.perf_counter() - start
    server, client, db = meter.stop()
    point = Point("GET /api/me", REFERENCE_CLIENTS, len(latencies), elapsed,
                  percentile(latencies, 50), percentile(latencies, 99), errors, server, client,
                  db, None, os.getloadavg(), processes)
    report_point(point)
    points.append(point)
    return points


@contextmanager
def counting_statements(engine: object) -> Iterator[list[int]]:
    count = [0]

    def before(*_: object) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", before)


def claim_in_process(uows: Any, account_id: int, envelope_id: int) -> str | None:
    """One claim as a request would make it, without HTTP: the account read, the action,
    the commit. None when it succeeded, else the error's code."""
    from qunguan.envelopes import actions
    from qunguan.identity import Account
    from qunguan.kernel.errors import QunguanError

    uow = uows()
    try:
        acting = uow.session.get(Account, account_id)
        assert acting is not None
        actions.do_claim_envelope(uow, acting=acting, envelope_id=envelope_id)
        uow.commit()
        return None
    except QunguanError as exc:
        uow.rollback()
        return exc.code
    finally:
        uow.close()


def in_process_app(database_url: str) -> Any:
    from qunguan.app import create_app
    from qunguan.config import Settings

    return create_app(Settings(database_url=database_url, run_workers=False))


def run_in_process(members: Members, database_url: str) -> list[Point]:
    """The claim action without HTTP: the server's unit-of-work factory (its engine and pool),
    one unit of work per claim, from ``clients`` threads."""
    points = []
    app = in_process_app(database_url)
    uows = app.state.uows
    lock = threading.Lock()
    for clients in CLIENTS:
        envelopes = asyncio.run(send_envelopes(members.url, members.tokens[0], members.group_id,
                                               envelopes_needed(clients), clients,
                                               f"inproc-{clients}"))
        latencies: list[float] = []
        errors: dict[str, int] = {}
        deadline = time.perf_counter() + SECONDS

        def worker(i: int, envelopes: list[int] = envelopes, clients: int = clients,
                   deadline: float = deadline, latencies: list[float] = latencies,
                   errors: dict[str, int] = errors) -> None:
            for envelope_id in rotated(envelopes, i, clients):
                if time.perf_counter() >= deadline:
                    return
                start = time.perf_counter()
                code = claim_in_process(uows, members.account_ids[i + 1], envelope_id)
                elapsed = time.perf_counter() - start
                with lock:
                    if code is None:
                        latencies.append(elapsed)
                    else:
                        errors[code] = errors.get(code, 0) + 1
            with lock:
                errors["ran_out_of_envelopes"] = errors.get("ran_out_of_envelopes", 0) + 1

        meter = CpuMeter(database_url, None)
        with counting_statements(app.state.engine) as statements:
            meter.start()
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                list(pool.map(worker, range(clients)))
            elapsed = time.perf_counter() - start
            server, _, db = meter.stop()
        point = Point("in process", clients, len(latencies), elapsed,
                      percentile(latencies, 50), percentile(latencies, 99), errors, server,
                      0.0, db, statements[0] / max(1, len(latencies)), os.getloadavg())
        report_point(point)
        verify(database_url)
        points.append(point)
    app.state.engine.dispose()
    return points


def profile_in_process(members: Members, database_url: str, claims: int) -> None:
    """BENCH_PROFILE=N: cProfile of N claims from one thread, the top of the cumulative
    table on stdout (where the claim path spends its CPU; not written to BENCHMARKS.md)."""
    import cProfile
    import pstats

    app = in_process_app(database_url)
    envelopes = asyncio.run(send_envelopes(members.url, members.tokens[0], members.group_id,
                                           claims // 100 + 1, 100, "profile"))
    work = [(members.account_ids[1 + i % 100], envelopes[i // 100]) for i in range(claims)]
    profiler = cProfile.Profile()
    with counting_statements(app.state.engine) as statements:
        profiler.enable()
        for account_id, envelope_id in work:
            claim_in_process(app.state.uows, account_id, envelope_id)
        profiler.disable()
    print(f"{statements[0] / claims:.1f} SQL statements per claim")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    app.state.engine.dispose()
    verify(database_url)


def report_point(p: Point) -> None:
    print(f"{p.mode:11} {p.processes} process(es) {p.clients:3} clients: "
          f"{p.rate:7.1f} claims/s  p50 {p.p50_ms:7.1f} ms"
          f"  p99 {p.p99_ms:7.1f} ms  errors {p.errors}  CPU ms/claim: server "
          f"{p.per_claim_ms(p.server_cpu):.2f} client {p.per_claim_ms(p.client_cpu):.2f} "
          f"db {p.per_claim_ms(p.db_cpu):.2f}  load {p.load[0]:.2f}", flush=True)


# --- the checks after each run ---------------------------------------------------------------


class CheckFailed(AssertionError):
    """The ledger or the claims are inconsistent after a run: the benchmark stops."""


def verify(database_url: str) -> None:
    """Zero double claims, a ledger that sums to zero, and every envelope's fen accounted
    for; raises CheckFailed naming what is wrong."""
    from sqlalchemy.orm import Session

    from qunguan.envelopes.models import (
        Envelope,
        EnvelopeClaim,
        LedgerAccount,
        LedgerPosting,
        LedgerTransaction,
    )
    from qunguan.kernel.db import make_engine
    from qunguan.models import load_all_models

    load_all_models()
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    problems: list[str] = []
    try:
        with Session(engine) as session:
            doubles = session.execute(
                select(EnvelopeClaim.envelope_id, EnvelopeClaim.account_id)
                .group_by(EnvelopeClaim.envelope_id, EnvelopeClaim.account_id)
                .having(func.count() > 1)).all()
            if doubles:
                problems.append(f"double claims: {doubles[:5]}")
            claim_rows = int(session.scalar(select(func.count()).select_from(EnvelopeClaim))
                             or 0)
            claim_txns = int(session.scalar(select(func.count()).select_from(
                LedgerTransaction).where(LedgerTransaction.kind == "envelope_claim")) or 0)
            if claim_rows != claim_txns:
                problems.append(f"{claim_rows} claim rows but {claim_txns} claim transactions")
            sums = (session.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0))),
                    session.scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0))))
            if sums != (0, 0):
                problems.append(f"balances and postings sum to {sums}, not (0, 0)")
            negative = session.scalars(select(LedgerAccount.key).where(
                LedgerAccount.balance < 0, LedgerAccount.allow_negative.is_(False))).all()
            if negative:
                problems.append(f"negative balances: {negative[:5]}")
            claimed = dict(session.execute(
                select(EnvelopeClaim.envelope_id, func.sum(EnvelopeClaim.amount_fen))
                .group_by(EnvelopeClaim.envelope_id)).all())
            taken = dict(session.execute(
                select(EnvelopeClaim.envelope_id, func.count())
                .group_by(EnvelopeClaim.envelope_id)).all())
            escrows = dict(session.execute(
                select(LedgerAccount.owner_id, LedgerAccount.balance)
                .where(LedgerAccount.kind == "escrow")).all())
            for envelope in session.scalars(select(Envelope)):
                got = int(claimed.get(envelope.id, 0))
                if got + envelope.remaining_fen + envelope.refunded_fen != envelope.total_fen:
                    problems.append(f"envelope {envelope.id}: claims {got} + remainder "
                                    f"{envelope.remaining_fen} + refund "
                                    f"{envelope.refunded_fen} != {envelope.total_fen}")
                if int(taken.get(envelope.id, 0)) != envelope.parts - envelope.remaining_parts:
                    problems.append(f"envelope {envelope.id}: {taken.get(envelope.id, 0)} "
                                    f"claims for {envelope.parts - envelope.remaining_parts} "
                                    "parts taken")
                if int(escrows.get(envelope.id, -1)) != envelope.remaining_fen:
                    problems.append(f"envelope {envelope.id}: escrow "
                                    f"{escrows.get(envelope.id)} != remainder "
                                    f"{envelope.remaining_fen}")
    finally:
        engine.dispose()
    if problems:
        raise CheckFailed("; ".join(problems[:10]))
    print(f"checked: {claim_rows} claims, none twice; ledger sums to zero; every envelope "
          "adds up", flush=True)


# --- the report ------------------------------------------------------------------------------


def write_report(points: list[Point], notes: list[str]) -> None:
    lines = [
        START, "## Red-envelope claims on PostgreSQL", "",
        "Issue 5's benchmark. Each claim: bearer-token lookup, real-name and membership checks, "
        "the restriction check, the envelope row locked, the double-average draw, the claim "
        "row, the escrow → wallet ledger transaction and postings, the audit record and outbox "
        "row, commit, the after-commit publish. The server runs as `make run` has it (uvicorn, "
        "the embedded outbox, refund and audit-log workers on), with one and then two worker "
        "processes (\"processes\"); the load generator runs in this process on the same two "
        "cores: a lean HTTP/1.1 client (`tests/bench/rawhttp.py`, about 0.1 ms of CPU a "
        "request; httpx, used before 2026-12-07, took 2 to 7 ms, as much as the server). Each "
        "client is a different member on a keep-alive connection of its own and claims the "
        "open envelopes (lucky split, as many parts as clients) in its own rotated order, so "
        "many claim one envelope at once and the clients spread over the envelopes. "
        "\"GET /api/me\" is the reference: an authenticated request that reads the token and "
        "the account and writes nothing, through the same server, client and connections, "
        "which shows what the request pipeline alone costs. \"In process\" calls "
        "`actions.do_claim_envelope` and commits from as many threads, without HTTP. Each "
        f"point runs {SECONDS:g} s; after each claim run, the database is checked: zero double "
        "claims (claim rows = claim ledger transactions, none twice per member and envelope), "
        "the ledger sums to zero with no negative balance, and each envelope's claims, "
        "remainder and refund sum to its total with its escrow holding the remainder "
        "(the run stops if not).", "",
        "CPU ms per claim are from /proc: the server process (in process: the benchmark "
        "process, threads included), the load generator, and the PostgreSQL backends of the "
        "benchmark's own database; other users of the shared machine are not counted there, "
        "but they are in the wall-clock columns (load average beside each row).", "",
        "- Command: `make bench` (`python -m tests.bench.envelope_claims`), "
        f"BENCH_SECONDS={SECONDS:g}",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}", "",
        "| mode | processes | clients | claims/s (GET: requests/s) | p50 ms | p99 ms | errors "
        "| CPU ms/claim: server | client | PostgreSQL | SQL statements/claim | load avg (1 min) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(p.errors.items())) or "0"
        statements = f"{p.statements:.1f}" if p.statements is not None else "–"
        lines.append(
            f"| {p.mode} | {p.processes} | {p.clients} | {p.rate:.0f} | {p.p50_ms:.1f} | "
            f"{p.p99_ms:.1f} | "
            f"{errors} | {p.per_claim_ms(p.server_cpu):.2f} | "
            f"{p.per_claim_ms(p.client_cpu):.2f} | {p.per_claim_ms(p.db_cpu):.2f} | "
            f"{statements} | {p.load[0]:.2f} |")
    lines += [""] + [f"Note: {n}" for n in notes]
    lines += ["", "Target (issue 5): at least 1,000 claims/s through HTTP on this 2-core "
              "machine with zero double claims."]
    http = [p for p in points if p.mode == "HTTP" and p.claims]
    reference = [p for p in points if p.mode == "GET /api/me" and p.claims]
    if http:
        best = max(http, key=lambda p: p.rate)
        server = min(p.per_claim_ms(p.server_cpu) for p in http)
        db = min(p.per_claim_ms(p.db_cpu) for p in http)
        met = best.rate >= 1000
        lines += ["", f"**{'Met' if met else 'Not met'}.** Zero double claims in every run; "
                  f"best {best.rate:.0f} claims/s ({best.processes} process(es), "
                  f"{best.clients} clients). A claim costs the server at least {server:.1f} ms "
                  f"of CPU and PostgreSQL {db:.1f} ms: on two cores that is at most "
                  f"{2000 / (server + db):.0f} claims/s however the work is spread, before "
                  "the load generator's share. 1,000 claims/s needs about 2 ms of CPU per "
                  "claim in all."]
        if reference:
            ref = min(p.per_claim_ms(p.server_cpu) for p in reference)
            top = max(reference, key=lambda p: p.rate)
            lines += ["", f"The request pipeline alone is most of that budget: "
                      f"`GET /api/me` (token and account read, nothing written) costs the "
                      f"server {ref:.1f} ms of CPU and runs at {top.rate:.0f} requests/s "
                      f"({top.processes} process(es)); the claim's own work (authorisation "
                      f"reads, the locked envelope, claim row, ledger transaction, audit record "
                      f"and outbox row through the ORM and its unit of work, then the outbox "
                      f"and audit-log workers' share) is the other {server - ref:.1f} ms."]
    lines += ["", "What was made cheaper (profiled with cProfile on one thread in process, "
              "2026-11-25, load average 1.7 to 2.8): a claim went from 25 SQL statements to "
              "13 and from 5.8 to 3.4 ms of Python CPU. The claim row is inserted "
              "`ON CONFLICT DO NOTHING` instead of looked up first; the escrow → wallet "
              "transaction is written by account key with `UPDATE … RETURNING` under the "
              "envelope's row lock (no key lookup, no savepoint, no re-read of each balance), "
              "its two postings in one statement; the claim row, the envelope's counters and "
              "the ledger statements run on the connection, past the ORM's unit of work. What "
              "remains per claim: the account, the envelope (before the lock, to authorise), "
              "membership and sanctions reads, the locked read, and the writes, each a round "
              "trip; `BEGIN`, `COMMIT` and the pool's pre-ping come on top. The guarantees "
              "are unchanged: tests/envelopes/test_race.py, the property tests and the crash "
              "test pass on SQLite and PostgreSQL.", END]
    write_section(START, END, "\n".join(lines))


def members_of(url: str) -> Members:
    tokens, group_id = asyncio.run(setup(url, max(CLIENTS) + 1))
    with httpx.Client(base_url=url, timeout=30) as client:
        ids = [int(client.get("/api/me", headers=_headers(t)).json()["id"]) for t in tokens]
    return Members(url, tokens, ids, group_id)


@contextmanager
def server(database_url: str, data_dir: Path, workers: bool,
           processes: int = 1) -> Iterator[tuple[int, str]]:
    """A server of ``processes`` uvicorn workers on the benchmark's database (its keys in
    ``data_dir``, kept between starts so the members' sessions stay valid), with or without
    the embedded workers (outbox, refunds, audit log: in every process, as ``make run``)."""
    os.environ.update(SERVER_ENV)  # start_server passes this process's environment on
    os.environ["QUNGUAN_RUN_WORKERS"] = "true" if workers else "false"
    proc, url = start_server(database_url, data_dir, wait_seconds=30, workers=processes)
    try:
        yield proc.pid, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    points: list[Point] = []
    notes: list[str] = []
    if not pg_available():
        notes.append(f"PostgreSQL at {PG} was unreachable: not measured.")
        print(notes[-1])
        write_report(points, notes)
        return
    profile = int(os.environ.get("BENCH_PROFILE", "0"))
    with tempfile.TemporaryDirectory(prefix="qunguan-bench-claims-") as tmp, \
            temporary_pg_database(PG, prefix="qunguan_bench_claims") as database_url:
        data_dir = Path(tmp)
        members: Members | None = None
        for processes in SERVER_PROCESSES if not profile else (1,):
            with server(database_url, data_dir, workers=True, processes=processes) as (pid, url):
                if members is None:
                    members = members_of(url)
                members.url = url
                if not profile:
                    points += run_http(members, database_url, pid, processes)
        assert members is not None
        # In process: a server still answers the setup (the sends), never the claims; its
        # workers are off so that it takes no CPU from the measured threads.
        with server(database_url, data_dir, workers=False) as (_, url):
            members.url = url
            if profile:
                profile_in_process(members, database_url, profile)
                return
            points += run_in_process(members, database_url)
    write_report(points, notes)


if __name__ == "__main__":
    main()
