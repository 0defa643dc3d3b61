"""`qunguan eval rumors` and `qunguan eval alarm`: the figures of docs/evaluation.md, on the
research data kept beside the checkout (``../shared/data``), never copied into the repository."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from qunguan.kernel.text import normalise
from qunguan.rumors import Bank, BankEntry
from qunguan.rumors.actions import MAX_PHRASINGS, FieldProblem, check_phrasing
from qunguan.rumors.alarm import alarm_cues, default_model, long_enough
from qunguan.rumors.breaker import BreakerRule
from qunguan.rumors.evaluation import (
    CASCADE_GROUPS,
    Post,
    claim_matching,
    claim_matching_with_review,
    claim_of_ruling,
    clustering,
    edited_copy,
    label_rate,
    load_checked,
    load_weibo21,
    long_post,
    read_jsonl,
    replay_cascades,
    stream_jsonl,
)
from qunguan.rumors.text import fingerprint, prepare

eval_app = typer.Typer(help="Evaluations on the research data (docs/evaluation.md).",
                       no_args_is_help=True)
console = Console()
err = Console(stderr=True)
DEFAULT_DATA = Path("../shared/data")
COPIES = 500  # edited copies drawn for the near-copy check


def learnable(text: str) -> bool:
    """What a reviewer's confirmation would teach the bank (rumors.actions.check_phrasing)."""
    try:
        check_phrasing(text)
    except FieldProblem:
        return False
    return True


def _progress() -> Progress:
    return Progress(console=err, transient=True, disable=not err.is_terminal)


@eval_app.command("rumors")
def rumors(data: Annotated[Path, typer.Option(help="The research data folder (relative to "
                                              "the current directory).")] = DEFAULT_DATA
           ) -> None:
    """Claim matching (CHECKED dev), false labels (Weibo21 real news), edited-copy recall and
    copy-and-paraphrase clustering, printed as tables."""
    checked = data / "rumors" / "checked_pairs_dev.jsonl"
    if not checked.exists():
        err.print(f"no research data at {data.resolve()} (expected {checked.name}): "
                  "skipping the rumour evaluation.", soft_wrap=True)
        return
    started = time.perf_counter()
    bank_entries, posts = load_checked(data)
    rows = read_jsonl(checked)
    real = load_weibo21(data, ["val", "test"], label=0)
    real_texts = [r["text"] for r in real]
    # Fake posts as claims, one per normalised text (the split repeats some), none that also
    # appears among the real news.
    real_prints = {fingerprint(prepare(t)) for t in real_texts}
    fake_train = []
    for r in load_weibo21(data, ["train"], label=1):
        key = fingerprint(prepare(r["text"]))
        if key not in real_prints:
            real_prints.add(key)
            fake_train.append(r)
    every_ruling = {r["debunk_text"]: r for r in rows}  # the whole bank: every distinct ruling
    whole = Bank([BankEntry(id=f"{r['cluster']}#{i}", claim=claim_of_ruling(t), debunk_text=t)
                  for i, (t, r) in enumerate(sorted(every_ruling.items()))])
    stress = Bank([BankEntry(id=r["id"], claim=r["text"]) for r in fake_train])

    table = Table(title="Rumour matching (qunguan eval rumors)")
    for col in ("measure", "n", "value"):
        table.add_column(col)
    with _progress() as progress:
        t = progress.add_task("claim matching", total=2 * len(posts))
        per_cluster = claim_matching(Bank(bank_entries), posts,
                                     progress=lambda n: progress.advance(t, n))
        t2 = progress.add_task("review loop", total=len(posts))
        loop = claim_matching_with_review(bank_entries, posts, learnable, limit=MAX_PHRASINGS,
                                          progress=lambda n: progress.advance(t2, n))
        whole_posts = [Post(p.id, p.text, p.gold) for p in posts]
        by_ruling = _cluster_level(whole, whole_posts, lambda n: progress.advance(t, n))
        t = progress.add_task("false labels", total=3 * len(real_texts))
        fl_whole = label_rate(whole, real_texts, lambda n: progress.advance(t, n))
        fl_learned = label_rate(Bank(loop.final), real_texts, lambda n: progress.advance(t, n))
        fl_stress = label_rate(stress, real_texts, lambda n: progress.advance(t, n))
        rng = random.Random(20261124)
        sample = rng.sample(fake_train, min(COPIES, len(fake_train)))
        t = progress.add_task("edited copies", total=len(sample))
        copies = [Post(r["id"], edited_copy(r["text"], rng), r["id"]) for r in sample]
        copy_rank = claim_matching(stress, copies, progress=lambda n: progress.advance(t, n))
        t = progress.add_task("long posts", total=2 * COPIES + 4 * len(bank_entries))
        long_rng = random.Random(20261125)
        buried = [Post(f"long{i}", long_post(real_texts, long_rng, r["text"]), r["id"])
                  for i, r in enumerate(sample)]
        buried_rank = claim_matching(stress, buried, progress=lambda n: progress.advance(t, n))
        buried_checked = [Post(f"longc{i}-{e.id}", long_post(real_texts, long_rng, e.claim), e.id)
                          for e in bank_entries for i in range(4)]
        checked_rank = claim_matching(Bank(bank_entries), buried_checked,
                                      progress=lambda n: progress.advance(t, n))
        long_news = [long_post(real_texts, long_rng) for _ in range(COPIES)]
        fl_long = label_rate(stress, long_news, lambda n: progress.advance(t, n))
        progress.add_task("clustering", total=None)
        others = [Post(r["id"], r["text"], r["id"]) for r in real]
        precision, recall, n_msgs = clustering(posts, others)

    rows_out = [
        ("CHECKED dev, bank = 1 ruling per cluster: recall@1", len(posts), per_cluster.recall_at_1),
        ("  MRR", len(posts), per_cluster.mrr),
        ("  gold match at or above 'suggest'", len(posts), per_cluster.suggested),
        ("  auto-labelled", len(posts), per_cluster.labelled),
        ("  auto-labelled with a wrong debunk", len(posts), per_cluster.labelled_wrong),
        ("same, in posting order, reviewers confirming suggestions (bank learns): recall@1",
         len(posts), loop.ranking.recall_at_1),
        ("  MRR", len(posts), loop.ranking.mrr),
        ("  auto-labelled", len(posts), loop.ranking.labelled),
        ("  auto-labelled with a wrong debunk", len(posts), loop.ranking.labelled_wrong),
        ("  reached a reviewer (share of posts)", len(posts), loop.reviewed / len(posts)),
        ("  reviewer confirmed the right debunk (count)", loop.reviewed, loop.confirmed),
        ("  phrasings learned (count)", loop.confirmed, loop.learned),
        ("  false labels, Weibo21 val+test real news vs that bank at the end", fl_learned.n,
         fl_learned.labelled),
        ("    suggested to a reviewer or labelled", fl_learned.n, fl_learned.suggested),
        (f"CHECKED dev, bank = all {len(whole)} rulings: cluster recall@1", len(posts),
         by_ruling[0]),
        ("  MRR (cluster level)", len(posts), by_ruling[1]),
        (f"false labels, Weibo21 val+test real news vs the {len(whole)} CHECKED rulings",
         fl_whole.n, fl_whole.labelled),
        ("  suggested to a reviewer or labelled", fl_whole.n, fl_whole.suggested),
        (f"false labels, same news vs {len(stress)} Weibo21 train fake posts as claims",
         fl_stress.n, fl_stress.labelled),
        ("  suggested to a reviewer or labelled", fl_stress.n, fl_stress.suggested),
        ("edited copies of bank claims: auto-labelled", copy_rank.n, copy_rank.labelled),
        ("  auto-labelled with the right entry", copy_rank.n,
         copy_rank.labelled - copy_rank.labelled_wrong),
        ("  recall@1", copy_rank.n, copy_rank.recall_at_1),
        ("stress-bank claims quoted in the middle of long news posts: recall@1",
         buried_rank.n, buried_rank.recall_at_1),
        ("  auto-labelled with the right entry", buried_rank.n,
         buried_rank.labelled - buried_rank.labelled_wrong),
        ("  auto-labelled with a wrong entry", buried_rank.n, buried_rank.labelled_wrong),
        ("CHECKED claims (1 per cluster) quoted in long news posts: recall@1", checked_rank.n,
         checked_rank.recall_at_1),
        ("  auto-labelled with the right entry", checked_rank.n,
         checked_rank.labelled - checked_rank.labelled_wrong),
        ("false labels, long posts of real news only vs the stress bank", fl_long.n,
         fl_long.labelled),
        ("  suggested to a reviewer or labelled", fl_long.n, fl_long.suggested),
        ("clustering, CHECKED posts + Weibo21 real news: B-cubed precision", n_msgs, precision),
        ("  B-cubed recall", n_msgs, recall),
    ]
    for name, n, value in rows_out:
        table.add_row(name, str(n), f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"data: {data.resolve()}  time: {time.perf_counter() - started:.1f} s")


def _cluster_level(bank: Bank, posts: list[Post], progress: object) -> tuple[float, float]:
    """Recall@1 and MRR when any ruling of the post's cluster counts (entry ids are
    ``<cluster>#<n>``)."""
    hits = 0
    rr = 0.0
    for p in posts:
        clusters = [m.debunk_id.split("#")[0] for m in bank.match(p.text, 10)]
        hits += bool(clusters) and clusters[0] == p.gold
        if p.gold in clusters:
            rr += 1 / (clusters.index(p.gold) + 1)
        if callable(progress):
            progress(1)
    return hits / len(posts), rr / len(posts)


# Hard negatives for the alarm friction: real posts (label 0) about missing people and police
# notices, which share the alarm's words but are the official version of it.
HARD_NEGATIVE = re.compile("寻人|走失|失踪|警方")


@eval_app.command("alarm")
def alarm(data: Annotated[Path, typer.Option(help="The research data folder (relative to "
                                             "the current directory).")] = DEFAULT_DATA
          ) -> None:
    """The alarm-claim classifier on Weibo21 test (label 1 = fake): macro-F1 at 0.5, the
    friction rule's precision and recall, false prompts on hard negatives, and the time per
    message on one core."""
    test = data / "rumors" / "weibo21_test.jsonl"
    if not test.exists():
        err.print(f"no research data at {data.resolve()} (expected {test.name}): "
                  "skipping the alarm evaluation.", soft_wrap=True)
        return
    model = default_model()
    rows = read_jsonl(test)
    texts = [str(r["text"]) for r in rows]
    y = [int(r["label"]) for r in rows]
    scores, prompts, total_ms, model_ms = [], [], [], []
    for t in texts:
        start = time.perf_counter()
        normalised = normalise(t)
        mid = time.perf_counter()
        s = model.score_normalised(normalised, t)
        end = time.perf_counter()
        scores.append(s)
        prompts.append(long_enough(normalised) and bool(alarm_cues(normalised))
                       and s >= model.threshold)
        total_ms.append((end - start) * 1000)
        model_ms.append((end - mid) * 1000)
    predicted = [s >= 0.5 for s in scores]
    hard = [i for i, (t, label) in enumerate(zip(texts, y, strict=True))
            if label == 0 and HARD_NEGATIVE.search(t)]
    flagged = [i for i, p in enumerate(prompts) if p]
    fakes = sum(y)
    table = Table(title=f"Alarm claims (qunguan eval alarm), threshold {model.threshold}")
    for col in ("measure", "n", "value"):
        table.add_column(col)
    for name, n, value in (
            ("Weibo21 test: macro-F1 of the model at 0.5", len(y), _macro_f1(y, predicted)),
            ("  accuracy at 0.5", len(y),
             sum(p == bool(label) for p, label in zip(predicted, y, strict=True)) / len(y)),
            ("friction (score >= threshold and an alarm cue): prompts", len(y),
             len(flagged) / len(y)),
            ("  precision (prompted posts that are fake)", len(flagged),
             sum(y[i] for i in flagged) / max(len(flagged), 1)),
            ("  recall (fake posts prompted)", fakes,
             sum(y[i] for i in flagged) / max(fakes, 1)),
            ("  false prompts on real news", len(y) - fakes,
             sum(1 - y[i] for i in flagged) / max(len(y) - fakes, 1)),
            ("hard negatives (real, 寻人/走失/失踪/警方): model >= 0.5", len(hard),
             sum(predicted[i] for i in hard) / max(len(hard), 1)),
            ("  false prompts", len(hard), sum(prompts[i] for i in hard) / max(len(hard), 1)),
            ("ms per message, normalise + score: p50", len(y), _quantile(total_ms, 0.5)),
            ("  p99", len(y), _quantile(total_ms, 0.99)),
            ("ms per message, score only (the gate normalises once for all): p50", len(y),
             _quantile(model_ms, 0.5)),
            ("  p99", len(y), _quantile(model_ms, 0.99))):
        table.add_row(name, str(n), f"{value:.4f}")
    console.print(table)


def _macro_f1(y: list[int], predicted: list[bool]) -> float:
    f1 = []
    for c in (0, 1):
        tp = sum(p == c and g == c for p, g in zip(predicted, y, strict=True))
        fp = sum(p == c and g != c for p, g in zip(predicted, y, strict=True))
        fn = sum(p != c and g == c for p, g in zip(predicted, y, strict=True))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1) / 2


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# The server's default first; the others show how the choice moves the figures.
CASCADE_RULES = (BreakerRule(groups=20, minutes=60), BreakerRule(groups=10, minutes=60),
                 BreakerRule(groups=50, minutes=60), BreakerRule(groups=20, minutes=15))


@eval_app.command("cascades")
def cascades(data: Annotated[Path, typer.Option(help="The research data folder (relative to "
                                                "the current directory).")] = DEFAULT_DATA
             ) -> None:
    """Forwarding limits on real propagation: the CED dev repost trees replayed as forwards
    across groups, with the server's circuit-breaker rule; per label, how often and how soon
    it trips and what share of the forwards come after it."""
    path = data / "cascades" / "ced_cascades_dev.jsonl"
    if not path.exists():
        err.print(f"no research data at {data.resolve()} (expected {path.name}): "
                  "skipping the cascade replay.", soft_wrap=True)
        return
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("cascades", total=path.stat().st_size)
        outcomes, skipped = replay_cascades(
            stream_jsonl(path, lambda n: progress.advance(task, n)), CASCADE_RULES)
    table = Table(title=f"Circuit breaker on CED dev, reposts into {CASCADE_GROUPS} groups "
                        "(qunguan eval cascades)")
    # rule: N groups in T minutes; "after": share of the forwards made once it had tripped,
    # among the events it tripped on and among all.
    for col in ("rule", "label", "events", "tripped", "min to trip p50/p90", "after: tripped",
                "after: all"):
        table.add_column(col)
    for i, rule in enumerate(CASCADE_RULES):
        for label in ("rumour", "non-rumour"):
            o = outcomes.get((i, label))
            if o is None:
                continue
            soon = (f"{_quantile(o.minutes_to_trip, 0.5):.1f} / "
                    f"{_quantile(o.minutes_to_trip, 0.9):.1f}" if o.minutes_to_trip else "-")
            table.add_row(f"{rule.groups} in {rule.minutes}m", label, str(o.events),
                          f"{o.tripped} ({o.tripped / max(o.events, 1):.1%})", soon,
                          f"{o.forwards_after / max(o.forwards_in_tripped, 1):.1%}",
                          f"{o.forwards_after / max(o.forwards, 1):.1%}")
    console.print(table)
    console.print(f"reposts skipped for a year-less date: {skipped}; "
                  f"{time.perf_counter() - started:.1f} s")


@eval_app.command("envelopes")
def envelopes(
    seeds: Annotated[str, typer.Option(help="Comma-separated scenario seeds.")] = "1",
    days: Annotated[int, typer.Option(help="Days each scenario covers.")] = 150,
    cases: Annotated[int, typer.Option(help="Planted cases per pattern and seed.")] = 3,
    out_dir: Annotated[Path | None, typer.Option(help="Keep each scenario and its alerts "
                                                 "here (JSONL).")] = None,
    replay: Annotated[bool, typer.Option(help="Run each scenario through the real ledger on a "
                                         "fresh database (qunguan envelopes replay) instead "
                                         "of the detectors in memory: the same alerts, "
                                         "hours instead of seconds.")] = False,
) -> None:
    """Vote-buying detectors on seeded scenarios: per-pattern recall, false alerts per
    10,000 normal envelopes, hours from a case's first envelope to its alert."""
    import json

    from qunguan.cli.envelopes import run_replay
    from qunguan.envelopes.scenarios import generate, score, simulate, write_jsonl

    all_lines: list[dict[str, object]] = []
    all_alerts: list[dict[str, object]] = []
    started = time.perf_counter()
    for seed in [int(s) for s in seeds.split(",") if s.strip()]:
        lines, summary = generate(seed=seed, days=days, cases_per_pattern=cases)
        err.print(f"seed {seed}: {summary}")
        if replay:
            result = run_replay(lines)
            err.print(f"seed {seed}: {result.sends} sends, {result.claims} claims, "
                      f"refused {dict(result.refused)}")
            alerts = result.alerts
        else:
            alerts = simulate(lines)
        err.print(f"seed {seed}: {len(alerts)} alerts")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_jsonl(lines, out_dir / f"scenario-{seed}.jsonl")
            write_jsonl(alerts, out_dir / f"alerts-{seed}.jsonl")
        # Envelope and case ids restart per seed: prefix them so the seeds score together.
        for line in lines:
            all_lines.append(_prefixed(line, seed))
        for alert in alerts:
            all_alerts.append({**alert, "group": f"{seed}:{alert['group']}",
                               "envelopes": [f"{seed}:{e}" for e in alert["envelopes"]]})
    figures = score(all_lines, all_alerts)
    table = Table(title="Vote-buying detectors on seeded scenarios")
    for column in ("pattern", "cases", "alerted", "recall", "median h to alert",
                   "max h", "detectors that fired"):
        table.add_column(column)
    for name, row in sorted(figures["patterns"].items()):
        table.add_row(name, str(row["cases"]), str(row["alerted"]), f"{row['recall']:.0%}",
                      _hours(row["median_hours_to_alert"]), _hours(row["max_hours_to_alert"]),
                      ", ".join(f"{k} {v}" for k, v in sorted(row["detectors"].items())))
    console.print(table)
    console.print(f"normal envelopes {figures['normal_envelopes']}, false alerts "
                  f"{figures['false_alerts']} ({figures['false_per_10k']:.2f} per 10,000) "
                  f"{json.dumps(figures['false_by_detector'])}; alerts on planted senders' "
                  f"own normal envelopes {figures['alerts_on_buyers_normal_envelopes']}; "
                  f"{time.perf_counter() - started:.0f} s", highlight=False)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _prefixed(line: dict[str, object], seed: int) -> dict[str, object]:
    if line.get("type") == "send":
        return {**line, "envelope": f"{seed}:{line['envelope']}"}
    if line.get("type") == "label":
        refs = line["envelopes"]
        assert isinstance(refs, list)
        return {**line, "envelopes": [f"{seed}:{e}" for e in refs],
                "group": f"{seed}:{line['group']}"}
    return line
