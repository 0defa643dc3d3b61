"""Measurements behind docs/evaluation.md: claim matching, false labels, near-copy recall and
copy-and-paraphrase clustering. The functions take plain rows, so a test runs them on the
project's own invented fixtures; ``load_*`` read the research data in ``shared/data`` (never
copied into the repository)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qunguan.rumors.breaker import BreakerRule, first_arrivals, trips_at
from qunguan.rumors.cascades import Message, cluster_messages
from qunguan.rumors.matcher import Bank, BankEntry
from qunguan.rumors.text import claim_key

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Post:
    """A message whose correct debunk (or cluster) is known."""

    id: str
    text: str
    gold: str
    at: str = ""  # when it was posted (sortable text), where the data says


# --- loading the research data --------------------------------------------------------------

_QUOTED_CLAIM = re.compile(r"称[“\"](.+?)[”\"]\s*(?:等?内容)?(?:不实|系谣言|为谣言|是谣言)")
_DETAILS = re.compile(r"详情[:：]")


def claim_of_ruling(ruling: str) -> str:
    """The claim a Weibo ruling quotes (「经查，此微博称“…”不实」), or the ruling up to its
    link when it quotes none. A fact-checker's bank holds the claim in this form."""
    found = _QUOTED_CLAIM.search(ruling)
    return found.group(1).strip() if found else _DETAILS.split(ruling)[0].strip()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_checked(data: Path) -> tuple[list[BankEntry], list[Post]]:
    """CHECKED dev: the bank holds one refutation per cluster (that of the item whose id names
    the cluster, else the smallest id), the posts are every rumour post with its cluster."""
    rows = sorted(read_jsonl(data / "rumors" / "checked_pairs_dev.jsonl"), key=lambda r: r["id"])
    chosen: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["cluster"] == f"ckc-{r['id']}" or r["cluster"] not in chosen:
            chosen[r["cluster"]] = r
    bank = [BankEntry(id=c, claim=claim_of_ruling(r["debunk_text"]), debunk_text=r["debunk_text"])
            for c, r in sorted(chosen.items())]
    posts = [Post(r["id"], r["rumor_text"], r["cluster"], r.get("date") or "") for r in rows]
    return bank, posts


def load_weibo21(data: Path, splits: Iterable[str], label: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for split in splits:
        out += [r for r in read_jsonl(data / "rumors" / f"weibo21_{split}.jsonl")
                if r["label"] == label]
    return out


# --- metrics --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ranking:
    n: int
    recall_at_1: float
    mrr: float
    labelled: float  # share whose top match reaches the auto-label threshold
    labelled_wrong: float  # share auto-labelled with another cluster's debunk
    suggested: float  # share whose gold match reaches at least "suggest"


def claim_matching(bank: Bank, posts: Sequence[Post], top: int = 10,
                   progress: Progress | None = None) -> Ranking:
    hits = 0
    rr = 0.0
    labelled = wrong = suggested = 0
    for p in posts:
        matches = bank.match(p.text, top)
        ids = [m.debunk_id for m in matches]
        if ids and ids[0] == p.gold:
            hits += 1
        if p.gold in ids:
            rank = ids.index(p.gold)
            rr += 1 / (rank + 1)
            suggested += matches[rank].score >= bank.thresholds.suggest
        label = bank.label(matches)
        labelled += label is not None
        wrong += label is not None and label != p.gold
        if progress:
            progress(1)
    n = max(len(posts), 1)
    return Ranking(len(posts), hits / n, rr / n, labelled / n, wrong / n, suggested / n)


@dataclass(frozen=True, slots=True)
class ReviewLoop:
    """Posts matched in the order they were posted while reviewers confirm suggestions and the
    bank learns each confirmed post as a phrasing (the server's decision ``label``)."""

    ranking: Ranking  # every post as it arrived, against the bank of that moment
    reviewed: int  # posts that reached a reviewer (a suggestion, no auto-label)
    confirmed: int  # of those, the reviewer found the right debunk among the suggestions
    learned: int  # phrasings the bank learned
    not_learned: int  # confirmed but the text could not be learned (too long, personal data)
    final: list[BankEntry]  # the bank at the end, with what it learned


def claim_matching_with_review(entries: Sequence[BankEntry], posts: Sequence[Post],
                               learnable: Callable[[str], bool], *, suggestions: int = 3,
                               top: int = 10, limit: int | None = None,
                               progress: Progress | None = None) -> ReviewLoop:
    """The feedback loop of the review queue, simulated: posts arrive in time order; a post
    the bank auto-labels needs nobody; one with suggestions (at or above "suggest", at most
    ``suggestions`` of them, as the case page lists them) reaches a reviewer, who confirms the
    right debunk when it is among them (the gold answer stands in for the reviewer's
    judgement) and dismisses the item otherwise; a post with no suggestion is seen by no one.
    A confirmed post's text becomes a phrasing of its entry when ``learnable`` accepts it and
    the server would: the entry holds fewer than ``limit`` phrasings, and no entry says the
    text already (one text stands for one entry). Nothing is tuned here: the thresholds are
    the matcher's own."""
    bank = Bank(entries)
    phrasings: dict[str, tuple[str, ...]] = {e.id: e.phrasings for e in entries}
    said = {claim_key(t): e.id for e in entries for t in (e.claim, *e.phrasings)}
    by_id = {e.id: e for e in entries}
    hits = labelled = wrong = suggested = reviewed = confirmed = learned = unlearned = 0
    rr = 0.0
    th = bank.thresholds
    for p in sorted(posts, key=lambda x: (x.at, x.id)):
        matches = bank.match(p.text, top)
        ids = [m.debunk_id for m in matches]
        hits += bool(ids) and ids[0] == p.gold
        if p.gold in ids:
            rank = ids.index(p.gold)
            rr += 1 / (rank + 1)
            suggested += matches[rank].score >= th.suggest
        label = bank.label(matches)
        labelled += label is not None
        wrong += label is not None and label != p.gold
        if progress:
            progress(1)
        if label is not None:
            continue
        shown = [m.debunk_id for m in matches if m.score >= th.suggest][:suggestions]
        if not shown:
            continue
        reviewed += 1
        if p.gold not in shown:
            continue
        confirmed += 1
        key = claim_key(p.text)
        if key in said:  # known already (nothing new), or another entry's (refused)
            unlearned += said[key] != p.gold
            continue
        if not learnable(p.text) or (limit is not None and len(phrasings[p.gold]) >= limit):
            unlearned += 1
            continue
        learned += 1
        said[key] = p.gold
        phrasings[p.gold] = (*phrasings[p.gold], p.text)
        e = by_id[p.gold]
        bank.add(BankEntry(e.id, e.claim, e.debunk_text, e.verdict, e.source_url, e.language,
                           phrasings[p.gold]))
    n = max(len(posts), 1)
    final = [BankEntry(e.id, e.claim, e.debunk_text, e.verdict, e.source_url, e.language,
                       phrasings[e.id]) for e in entries]
    return ReviewLoop(Ranking(len(posts), hits / n, rr / n, labelled / n, wrong / n,
                              suggested / n), reviewed, confirmed, learned, unlearned, final)


@dataclass(frozen=True, slots=True)
class LabelRate:
    n: int
    labelled: float
    suggested: float  # share whose best score reaches "suggest" (labelled included)


def label_rate(bank: Bank, texts: Sequence[str], progress: Progress | None = None) -> LabelRate:
    labelled = suggested = 0
    for t in texts:
        matches = bank.match(t, 1)
        labelled += bank.label(matches) is not None
        suggested += bool(matches) and matches[0].score >= bank.thresholds.suggest
        if progress:
            progress(1)
    n = max(len(texts), 1)
    return LabelRate(len(texts), labelled / n, suggested / n)


_TRAD = str.maketrans("这说个们来时会对发后过还没国为门开关车东让见话实",
                      "這說個們來時會對發後過還沒國為門開關車東讓見話實")


def edited_copy(text: str, rng: random.Random) -> str:
    """A copy as people re-post it: forwarding boilerplate, some characters re-typed in
    traditional or full-width form or spaced out, a few dropped, a call to share added."""
    chars = list(text.translate(_TRAD) if rng.random() < 0.5 else text)
    for _ in range(max(1, len(chars) // 30)):  # drop about 3% of the characters
        if len(chars) > 8:
            del chars[rng.randrange(len(chars))]
    if rng.random() < 0.5 and len(chars) > 10:
        i = rng.randrange(len(chars) - 4)
        chars[i:i + 4] = list(" ".join(chars[i:i + 4]))
    body = "".join(chars).replace("1", "１").replace("A", "Ａ")
    prefix = rng.choice(["", "【转】", "转发：", "//@某某: "])
    suffix = rng.choice(["", "！！转发扩散", " 大家注意了", "[蜡烛][蜡烛]"])
    return prefix + body + suffix


def long_post(filler: Sequence[str], rng: random.Random, claim: str = "") -> str:
    """A long post made of real-news texts (``filler``) with ``claim`` quoted in passing in its
    middle: 500 to 1,500 characters of news before it, at least 400 after, so the claim lies
    beyond the head and the tail the length rule keeps. With no claim: a long post that
    repeats no claim (for false labels)."""
    def stretch(least: int) -> list[str]:
        out: list[str] = []
        while sum(len(t) for t in out) < least:
            out.append(rng.choice(filler))
        return out
    parts = [*stretch(rng.randrange(500, 1500)), claim, *stretch(400)]
    return "\n".join(p for p in parts if p)


def bcubed(predicted: dict[str, str], gold: dict[str, str]) -> tuple[float, float]:
    """B-cubed precision and recall of a clustering (item -> cluster) against the gold one."""
    pred_members: dict[str, set[str]] = {}
    gold_members: dict[str, set[str]] = {}
    for item, c in predicted.items():
        pred_members.setdefault(c, set()).add(item)
    for item, c in gold.items():
        gold_members.setdefault(c, set()).add(item)
    p = r = 0.0
    for item in gold:
        mine = pred_members[predicted[item]]
        truth = gold_members[gold[item]]
        both = len(mine & truth)
        p += both / len(mine)
        r += both / len(truth)
    return p / len(gold), r / len(gold)


def interleave(rumours: Sequence[Post], others: Sequence[Post], *, groups: int = 40,
               seed: int = 20261124) -> list[Message]:
    """Messages for the clustering test: every text posted once into a random group at a random
    minute over 30 days, with no forward provenance (people re-post rather than forward)."""
    rng = random.Random(seed)
    start = datetime(2020, 1, 1)
    out = []
    for p in [*rumours, *others]:
        out.append(Message(id=p.id, text=p.text, group=f"g{rng.randrange(groups)}",
                           sender=f"u{rng.randrange(10 * groups)}",
                           ts=start + timedelta(minutes=rng.randrange(30 * 24 * 60))))
    return out


def clustering(rumours: Sequence[Post], others: Sequence[Post],
               copy_score: float | None = None) -> tuple[float, float, int]:
    """B-cubed precision and recall of ``cluster_messages`` on rumour posts (gold: their
    ``gold`` cluster) mixed with other posts (gold: one cluster per distinct text)."""
    msgs = interleave(rumours, others)
    predicted = (cluster_messages(msgs) if copy_score is None
                 else cluster_messages(msgs, copy_score=copy_score))
    gold = {p.id: p.gold for p in rumours}
    gold.update({p.id: "text:" + p.text for p in others})
    precision, recall = bcubed(predicted, gold)
    return precision, recall, len(msgs)


# --- forwarding limits replayed on real propagation (CED repost trees) ----------------------

CED_TIME = "%Y-%m-%d %H:%M:%S"
CASCADE_GROUPS = 200  # groups of the imagined institution the reposts land in
CASCADE_SEED = 20261125


def stream_jsonl(path: Path, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """One object a line, read as it goes (the cascade file is 24 MB); ``progress`` gets the
    bytes of each line."""
    with path.open("rb") as f:
        for raw in f:
            if progress:
                progress(len(raw))
            if raw.strip():
                yield json.loads(raw)


def _ced_time(value: object) -> datetime | None:
    """A full CED date, or None for the year-less ``MM月DD日 HH:MM`` records (their year is
    unknown, so their place in the cascade is too)."""
    try:
        return datetime.strptime(str(value), CED_TIME)
    except ValueError:
        return None


def repost_group(event_id: str, mid: str, groups: int = CASCADE_GROUPS,
                 seed: int = CASCADE_SEED) -> int:
    """The group a repost lands in: CED dropped the reposter's user id, so each repost is a
    forward by its reposter into one group drawn by a generator seeded with the event and the
    repost's mid (stable across runs and machines). The source post is group 0's."""
    return random.Random(f"{seed}:{event_id}:{mid}").randrange(groups)


@dataclass
class CascadeOutcome:
    """What one breaker rule did to the cascades of one label."""

    events: int = 0
    tripped: int = 0
    minutes_to_trip: list[float] = field(default_factory=list)
    forwards: int = 0  # reposts with a usable date
    forwards_after: int = 0  # of them, made once the breaker had tripped (one group at a time)
    forwards_in_tripped: int = 0  # reposts of the events whose breaker tripped


def replay_cascades(events: Iterable[dict[str, Any]], rules: Sequence[BreakerRule], *,
                    groups: int = CASCADE_GROUPS, seed: int = CASCADE_SEED
                    ) -> tuple[dict[tuple[int, str], CascadeOutcome], int]:
    """Replay each event's reposts as forwards across ``groups`` groups and run the server's
    breaker rule (``breaker.trips_at`` over the groups' first arrivals) for every rule. Keys
    are (rule index, "rumour" | "non-rumour"); also returns how many reposts were skipped for
    a year-less date."""
    out: dict[tuple[int, str], CascadeOutcome] = {}
    skipped = 0
    for event in events:
        label = "rumour" if int(event["label"]) == 1 else "non-rumour"
        start = _ced_time(event["source_post"]["date"])
        if start is None:
            skipped += 1 + len(event["reposts"])
            continue
        arrivals: list[tuple[object, datetime]] = [(0, start)]
        for repost in event["reposts"]:
            at = _ced_time(repost["date"])
            if at is None:
                skipped += 1
                continue
            arrivals.append((repost_group(event["event_id"], repost["mid"], groups, seed), at))
        firsts = first_arrivals(arrivals)
        forward_times = [at for _, at in arrivals[1:]]
        for i, rule in enumerate(rules):
            o = out.setdefault((i, label), CascadeOutcome())
            o.events += 1
            o.forwards += len(forward_times)
            at = trips_at(firsts, rule)
            if at is None:
                continue
            o.tripped += 1
            o.minutes_to_trip.append((at - start).total_seconds() / 60)
            o.forwards_in_tripped += len(forward_times)
            o.forwards_after += sum(1 for t in forward_times if t > at)
    return out, skipped
