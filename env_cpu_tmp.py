import asyncio, os, tempfile, time, cProfile, pstats
from pathlib import Path
from tests.bench import envelope_claims as b
from tests.bench.report import temporary_pg_database
b.CLIENTS = (100,)
with tempfile.TemporaryDirectory() as tmp, temporary_pg_database(b.PG, prefix="qunguan_bench_claims") as db:
    with b.server(db, Path(tmp), workers=False) as (_, url):
        m = b.members_of(url)
        app = b.in_process_app(db)
        env = asyncio.run(b.send_envelopes(url, m.tokens[0], m.group_id, 8, 100, "x"))
        for i in range(100): b.claim_in_process(app.state.uows, m.account_ids[1+i], env[0])
        for e in env[1:4]:
            c0, w0 = time.process_time(), time.perf_counter()
            for i in range(100): b.claim_in_process(app.state.uows, m.account_ids[1+i], e)
            print("cpu ms/claim", (time.process_time()-c0)*10, "wall", (time.perf_counter()-w0)*10)
        pr = cProfile.Profile(time.process_time)
        pr.enable()
        for e in env[4:8]:
            for i in range(100): b.claim_in_process(app.state.uows, m.account_ids[1+i], e)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats("qunguan|tests", 40)
        app.state.engine.dispose()
