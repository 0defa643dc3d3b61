"""The tamper-evident audit log: append throughput, proof times, export verification.

1. Append throughput: BENCH_AUDITLOG_RECORDS (default 1,000,000) audit records are inserted
   in bulk into a migrated SQLite database (a file, WAL, as the server runs it), then the
   sequencer appends them in batches of QUNGUAN_AUDITLOG_BATCH_SIZE (10,000), each batch one
   committed transaction (leaves, subtree nodes, state): records/s is what the log appends
   durably. The same for PostgreSQL when BENCH_AUDITLOG_PG_RECORDS is set (default 0: off).
2. Proof times at BENCH_AUDITLOG_PROOF_LEAVES (default 10,000,000) leaves: the tree is made
   by inserting that many records and appending them with the sequencer, as in step 1 (the
   append throughput at that size is reported too); BENCH_AUDITLOG_PROOF_TREE=synthetic builds
   the tree state directly from synthetic leaf hashes instead (every complete subtree's node
   stored as the sequencer stores it; quicker, no append figure). Then inclusion and
   consistency proofs for random indices and sizes are read from the database and checked
   against the root.
3. Export verification: the records of step 1 are exported and the export verified against
   a signed checkpoint with the public key only, as `qunguan auditlog verify` does.

Writes its section of BENCHMARKS.md between its own markers.
Run: ``make bench`` or ``python -m tests.bench.auditlog``.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import sessionmaker

from qunguan.auditlog import actions, merkle
from qunguan.auditlog import log as store
from qunguan.auditlog.export import load_checkpoints, verify_export, write_export
from qunguan.auditlog.models import LogLeaf, LogState
from qunguan.config import Settings
from qunguan.kernel.clock import SystemClock
from qunguan.kernel.db import make_engine
from qunguan.kernel.events import EventBus, EventType
from qunguan.kernel.models import AuditRecord
from qunguan.kernel.uow import UnitOfWorkFactory
from qunguan.migrations import upgrade
from qunguan.models import load_all_models
from tests.bench import report
from tests.bench.http_throughput import machine

RECORDS = int(os.environ.get("BENCH_AUDITLOG_RECORDS", "1000000"))
PG_RECORDS = int(os.environ.get("BENCH_AUDITLOG_PG_RECORDS", "0"))
PG_URL = os.environ.get("BENCH_AUDITLOG_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
PROOF_LEAVES = int(os.environ.get("BENCH_AUDITLOG_PROOF_LEAVES", "10000000"))
PROOF_TREE = os.environ.get("BENCH_AUDITLOG_PROOF_TREE", "append")
PROOFS = 2000
LEAF_COLUMNS = ("leaf_index", "record_id", "leaf_hash", "content_sha256")
START = "<!-- auditlog:start -->"
END = "<!-- auditlog:end -->"


def _uows(url: str, data_dir: Path) -> UnitOfWorkFactory:
    settings = Settings(database_url=url, data_dir=data_dir)
    engine = make_engine(url)
    return UnitOfWorkFactory(sessionmaker(engine, expire_on_commit=False), settings=settings,
                             clock=SystemClock(), bus=EventBus())


def _insert_records(uows: UnitOfWorkFactory, n: int) -> float:
    """Bulk-insert ``n`` records shaped like the server's (an address, a request id, a small
    ``extra``); returns seconds."""
    t0 = time.perf_counter()
    base = datetime(2026, 11, 25, tzinfo=UTC)
    uow = uows()
    try:
        for start in range(0, n, 20_000):
            uow.session.execute(insert(AuditRecord), [
                {"event_type": int(EventType.MESSAGE_POSTED), "occurred_at": base,
                 "acting_id": 1000 + i % 500, "subject_type": "message",
                 "subject_id": str(i), "group_id": 1 + i % 300, "source_ip": "10.1.2.3",
                 "source_port": 40000 + i % 20000, "request_id": f"req-{i:012d}",
                 "extra": {"chars": 20 + i % 80}}
                for i in range(start, min(n, start + 20_000))])
            uow.commit()
    finally:
        uow.close()
    return time.perf_counter() - t0


def _append_all(uows: UnitOfWorkFactory) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds to append every pending record."""
    t0, c0 = time.perf_counter(), time.process_time()
    uow = uows()
    try:
        while actions.do_append(uow, acting=1):
            pass
    finally:
        uow.close()
    return time.perf_counter() - t0, time.process_time() - c0


def append_and_verify(url: str, data_dir: Path, n: int, *, verify: bool) -> dict[str, Any]:
    uows = _uows(url, data_dir)
    insert_s = _insert_records(uows, n)
    append_s, append_cpu_s = _append_all(uows)
    print(f"  {n:,} records: insert {insert_s:.1f} s, append {append_s:.1f} s "
          f"({n / append_s:,.0f}/s; {n / append_cpu_s:,.0f} per CPU-second)", flush=True)
    out: dict[str, Any] = {"records": n, "insert_s": insert_s, "append_s": append_s,
                           "append_cpu_s": append_cpu_s}
    if not verify:
        return out
    uow = uows()
    try:
        cp = actions.do_sign_checkpoint(uow, acting=1)
        uow.commit()
        assert cp is not None
        keys = actions.signing_keys(uow.settings).verifiers()
        path = data_dir / "export.jsonl"
        t0 = time.perf_counter()
        with path.open("w", encoding="utf-8") as fh:
            write_export(uow.session, fh, origin=uow.settings.auditlog_origin,
                         tree_size=cp.tree_size)
        out["export_s"] = time.perf_counter() - t0
        out["export_mb"] = path.stat().st_size / 1e6
        t0, c0 = time.perf_counter(), time.process_time()
        checkpoints = load_checkpoints([cp.note], keys)
        with path.open(encoding="utf-8") as fh:
            report = verify_export(fh, checkpoints)
        out["verify_s"] = time.perf_counter() - t0
        out["verify_cpu_s"] = time.process_time() - c0
        assert report.ok, report.problems[:3]
        assert report.verified_size == n
        print(f"  export {out['export_s']:.1f} s ({out['export_mb']:.0f} MB), verify "
              f"{out['verify_s']:.1f} s", flush=True)
    finally:
        uow.close()
    return out


def build_tree(url: str, data_dir: Path, leaves: int) -> tuple[UnitOfWorkFactory, bytes, float]:
    """The stored state of a ``leaves``-leaf tree, written as the sequencer writes it (leaf
    rows and every complete subtree's node), from synthetic leaf hashes."""
    uows = _uows(url, data_dir)
    t0 = time.perf_counter()
    frontier = merkle.Frontier()
    uow = uows()
    try:
        leaf_rows: list[tuple[object, ...]] = []
        node_rows: list[tuple[object, ...]] = []
        for i in range(leaves):
            h = hashlib.sha256(i.to_bytes(8, "big")).digest()
            made = frontier.append(h)
            leaf_rows.append((i, i + 1, h, h))
            node_rows.extend((store.node_key(lv, ix), nh) for (lv, ix), nh in made[1:])
            if len(leaf_rows) == 100_000 or i == leaves - 1:
                store.insert_rows(uow.session, "auditlog_leaves", LEAF_COLUMNS, leaf_rows)
                store.insert_rows(uow.session, "auditlog_nodes", ("node_id", "hash"), node_rows)
                uow.commit()
                leaf_rows, node_rows = [], []
        uow.session.add(LogState(id=1, tree_size=frontier.size, frontier=frontier.pack(),
                                 root_hash=frontier.root(), last_record_id=leaves,
                                 updated_at=datetime.now(UTC)))
        uow.commit()
    finally:
        uow.close()
    return uows, frontier.root(), time.perf_counter() - t0


def append_tree(url: str, data_dir: Path, leaves: int
                ) -> tuple[UnitOfWorkFactory, bytes, dict[str, float]]:
    """The tree of ``leaves`` real records appended by the sequencer (step 1 at this size)."""
    uows = _uows(url, data_dir)
    insert_s = _insert_records(uows, leaves)
    append_s, append_cpu_s = _append_all(uows)
    print(f"  {leaves:,} records: insert {insert_s:.1f} s, append {append_s:.1f} s "
          f"({leaves / append_s:,.0f}/s; {leaves / append_cpu_s:,.0f} per CPU-second)",
          flush=True)
    uow = uows()
    try:
        st = store.state(uow.session)
        assert st.tree_size == leaves
        root = st.root_hash
    finally:
        uow.close()
    return uows, root, {"records": leaves, "insert_s": insert_s, "append_s": append_s,
                        "append_cpu_s": append_cpu_s}


def _leaf_hash(s: Any, index: int, synthetic: bool) -> bytes:
    if synthetic:
        return hashlib.sha256(index.to_bytes(8, "big")).digest()
    return bytes(s.scalar(select(LogLeaf.leaf_hash).where(LogLeaf.leaf_index == index)))


def proof_times(uows: UnitOfWorkFactory, size: int, root: bytes,
                synthetic: bool = True) -> dict[str, float]:
    rng = random.Random(6)
    uow = uows()
    try:
        s = uow.session
        assert store.root_at(s, size) == root
        inclusion, consistency, cpu_i, cpu_c = [], [], [], []
        for _ in range(PROOFS):
            index = rng.randrange(size)
            t0, c0 = time.perf_counter(), time.thread_time()
            proof = store.inclusion(s, index, size)
            inclusion.append(time.perf_counter() - t0)
            cpu_i.append(time.thread_time() - c0)
            h = _leaf_hash(s, index, synthetic)
            assert merkle.verify_inclusion(h, index, size, proof, root)
            s.rollback()
        for _ in range(PROOFS):
            old = rng.randrange(1, size)
            t0, c0 = time.perf_counter(), time.thread_time()
            proof = store.consistency(s, old, size)
            consistency.append(time.perf_counter() - t0)
            cpu_c.append(time.thread_time() - c0)
            if len(consistency) <= 50:  # the old root costs as much again: check a sample
                assert merkle.verify_consistency(old, size, store.root_at(s, old), root, proof)
            s.rollback()
    finally:
        uow.close()
    q = statistics.quantiles
    return {"inclusion_p50_ms": q(inclusion, n=100)[49] * 1e3,
            "inclusion_p99_ms": q(inclusion, n=100)[98] * 1e3,
            "consistency_p50_ms": q(consistency, n=100)[49] * 1e3,
            "consistency_p99_ms": q(consistency, n=100)[98] * 1e3,
            "inclusion_cpu_ms": statistics.mean(cpu_i) * 1e3,
            "consistency_cpu_ms": statistics.mean(cpu_c) * 1e3}


def _pg_database(name: str) -> str:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_URL}/{name}"


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_section(results: dict[str, Any]) -> None:
    a, p = results["sqlite"], results["proofs"]
    made = "building" if p.get("tree", "synthetic") == "synthetic" else "inserting and appending"
    lines = [START, "## Tamper-evident audit log", "",
             "Append: audit records inserted in bulk, then appended to the Merkle log by the "
             "sequencer in batches of 10,000, each batch one committed transaction (leaf rows, "
             "the nodes of every subtree they complete, the state row); \"durable\" is the "
             "database's own: SQLite in WAL mode with `synchronous=NORMAL`, as the server runs "
             "it (survives a process kill, see tests/auditlog/test_crash.py; a power cut may "
             "lose the last commits), PostgreSQL with its defaults (fsync on commit). "
             "Proofs: " + (
                 "the tree state of the given size built directly from synthetic leaf "
                 "hashes, stored exactly as the sequencer stores it"
                 if p.get("tree", "synthetic") == "synthetic" else
                 "the tree the sequencer appended from that many records (the second append "
                 "row)") + "; each proof is read from the "
             "database (one or two indexed queries for at most two nodes per level) and "
             "checked against the root. Verify: the export of the appended records verified "
             "against a signed checkpoint with the public key only (`qunguan auditlog "
             "verify`'s code). Each part runs in one process; the machine is shared.", "",
             "- Command: `make bench` (`python -m tests.bench.auditlog`)",
             f"- Machine: {machine()}",
             f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
             "- Load average when it finished (1, 5, 15 min): "
             f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", "",
             "| measure | figure | target |", "|---|---:|---:|",
             f"| append, SQLite, {a['records']:,} records | "
             f"{a['records'] / a['append_s']:,.0f} records/s ({a['append_s']:.1f} s); "
             f"{a['records'] / a['append_cpu_s']:,.0f} per CPU-second | "
             "≥ 20,000 records/s |"]
    if "sqlite_large" in results:
        b = results["sqlite_large"]
        lines.append(f"| append, SQLite, {b['records']:,} records | "
                     f"{b['records'] / b['append_s']:,.0f} records/s ({b['append_s']:.1f} s); "
                     f"{b['records'] / b['append_cpu_s']:,.0f} per CPU-second | "
                     "≥ 20,000 records/s |")
    if "postgresql" in results:
        g = results["postgresql"]
        lines.append(f"| append, PostgreSQL, {g['records']:,} records | "
                     f"{g['records'] / g['append_s']:,.0f} records/s ({g['append_s']:.1f} s); "
                     f"{g['records'] / g['append_cpu_s']:,.0f} per CPU-second of this "
                     "process (the server's work not counted) | "
                     "≥ 20,000 records/s |")
    lines += [
        f"| inclusion proof at {p['leaves']:,} leaves (SQLite), p50 / p99 | "
        f"{p['inclusion_p50_ms']:.3f} / {p['inclusion_p99_ms']:.3f} ms wall; "
        f"{p['inclusion_cpu_ms']:.3f} ms CPU (mean) | ≤ 1 ms |",
        f"| consistency proof at {p['leaves']:,} leaves (SQLite), p50 / p99 | "
        f"{p['consistency_p50_ms']:.3f} / {p['consistency_p99_ms']:.3f} ms wall; "
        f"{p['consistency_cpu_ms']:.3f} ms CPU (mean) | ≤ 1 ms |",
        f"| export of {a['records']:,} records | {a['export_s']:.1f} s "
        f"({a['export_mb']:.0f} MB) | |",
        f"| verify the export of {a['records']:,} records | {a['verify_s']:.1f} s wall; "
        f"{a['verify_cpu_s']:.1f} s CPU | ≤ 30 s |",
        f"| {made} the {p['leaves']:,}-leaf tree (not a target) | {p['build_s']:.0f} s | |",
        ""]
    if results.get("notes"):
        lines += [results["notes"], ""]
    lines.append(END)
    report.write_section(START, END, "\n".join(lines))


def main() -> None:
    """All parts in one process, or one part (``append`` or ``proofs``) with its result saved
    as JSON to BENCH_AUDITLOG_OUT, and ``write FILE...`` to merge saved parts into the section
    (two processes finish sooner on a shared machine)."""
    import json
    import sys

    load_all_models()
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part == "write":
        results: dict[str, Any] = {}
        for name in sys.argv[2:]:
            results.update(json.loads(Path(name).read_text()))
        results["notes"] = os.environ.get("BENCH_AUDITLOG_NOTES", "")
        write_section(results)
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="qunguan-bench-auditlog-") as tmp:
        root = Path(tmp)
        if part in ("all", "append"):
            url = f"sqlite:///{root / 'append.db'}"
            upgrade(url)
            print(f"append and verify, SQLite, {RECORDS:,} records", flush=True)
            results["sqlite"] = append_and_verify(url, root, RECORDS, verify=True)
            (root / "append.db").unlink()
            if PG_RECORDS:
                name = f"qunguan_bench_auditlog_{os.getpid()}"
                pg = _pg_database(name)
                try:
                    upgrade(pg)
                    print(f"append, PostgreSQL, {PG_RECORDS:,} records", flush=True)
                    results["postgresql"] = append_and_verify(pg, root, PG_RECORDS,
                                                              verify=False)
                finally:
                    _drop_pg(name)
        if part in ("all", "proofs"):
            url = f"sqlite:///{root / 'proofs.db'}"
            upgrade(url)
            synthetic = PROOF_TREE == "synthetic"
            if synthetic:
                print(f"building a {PROOF_LEAVES:,}-leaf tree state", flush=True)
                uows, tree_root, build_s = build_tree(url, root, PROOF_LEAVES)
            else:
                print(f"append, SQLite, {PROOF_LEAVES:,} records (the proofs' tree)", flush=True)
                t0 = time.perf_counter()
                uows, tree_root, appended = append_tree(url, root, PROOF_LEAVES)
                build_s = time.perf_counter() - t0
                results["sqlite_large"] = appended
            results["proofs"] = {"leaves": PROOF_LEAVES, "build_s": build_s,
                                 "tree": "synthetic" if synthetic else "appended",
                                 **proof_times(uows, PROOF_LEAVES, tree_root, synthetic)}
            print(f"  proofs: {results['proofs']}", flush=True)
    if part != "all":
        Path(os.environ.get("BENCH_AUDITLOG_OUT", f"auditlog-{part}.json")).write_text(
            json.dumps(results))
        return
    results["notes"] = os.environ.get("BENCH_AUDITLOG_NOTES", "")
    write_section(results)


if __name__ == "__main__":
    main()
