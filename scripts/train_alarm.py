"""Rebuild the alarm-claim model (src/qunguan/rumors/data/alarm_model.npz) from the research
data beside the checkout (../shared/data/rumors, never copied into the repository).

    .venv/bin/python scripts/train_alarm.py [--data ../shared/data] [--lam L | --cv K]

Training rows: Weibo21 train, CED source posts and Ma et al. 2016 source posts, deduplicated
across sources on the compact normalised text (CED and Ma2016 share about 1,660 posts; texts
whose copies disagree on the label are dropped), and with every text that also appears in
Weibo21 val or test removed. The L2 strength is 0.003 (or chosen by K-fold cross-validation on
those rows with ``--cv K``: out-of-fold macro-F1 on the Weibo21 train rows); a model trained on
them scores Weibo21 val, which it never saw, to choose the friction threshold; the shipped
model is then trained the same way on train + val (test copies still removed) and keeps that
threshold. Weibo21 test is
never looked at here (``qunguan eval alarm`` reports on it). The file keeps numbers only:
bucket weights, cue weights, the cue list, the n-gram orders and the threshold.

Logistic regression with L2, fitted by L-BFGS (scipy, already installed with datasketch) on a
sparse matrix of the features ``qunguan.rumors.alarm`` computes at run time, so training and
serving cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize, sparse

from qunguan.kernel.text import normalise
from qunguan.rumors.alarm import (
    DEFAULT_CUES,
    MODEL_PATH,
    RAW_LIMIT,
    SHAPES,
    AlarmModel,
    alarm_cues,
    cue_vector,
    hashed_grams,
    long_enough,
    shape_vector,
)
from qunguan.rumors.text import compact

BUCKETS = 1 << 18
ORDERS = (1, 2, 3)
TRAIN_FILES = ("weibo21_train", "ced_sources", "ma2016_sources")
# The shipped model also learns from Weibo21 val, once val has chosen the friction threshold.
SHIPPED_FILES = ("weibo21_train", "weibo21_val", "ced_sources", "ma2016_sources")
# L2 strength: 0.003 was the best of 0.001-0.03 on Weibo21 val, for the model trained without
# it. ``--cv K`` chooses among LAMS by K-fold cross-validation on train instead.
LAM = 0.003
LAMS = (0.001, 0.003, 0.01)
# CED and Ma2016 are older (2010-2015) and labelled "rumour" by a different process; at full
# weight they lowered macro-F1 on Weibo21 val (0.890 -> 0.887), so they count for less.
EXTRA_WEIGHT = 0.3
# The friction threshold is the lowest score whose precision on Weibo21 val reaches this
# (false prompts annoy; a missed alarm still meets the debunk matcher and reports).
TARGET_PRECISION = 0.95
# Chat is not Weibo news: the model over-scores short conversational text, so the threshold
# never goes below this even where Weibo21 val would allow it (it allowed 0.65).
THRESHOLD_FLOOR = 0.80


Row = tuple[str, str, int]  # normalised text, raw text, label


def read(data: Path, name: str) -> list[Row]:
    with (data / "rumors" / f"{name}.jsonl").open(encoding="utf-8") as f:
        return [(normalise(r["text"]), r["text"][:RAW_LIMIT], int(r["label"]))
                for r in map(json.loads, f)]


def key(normalised: str) -> str:
    return compact(normalised)


def training_rows(data: Path, files: tuple[str, ...] = TRAIN_FILES,
                  held_out_files: tuple[str, ...] = ("weibo21_val", "weibo21_test")
                  ) -> tuple[list[tuple[Row, float]], dict[str, int]]:
    """(row, sample weight) pairs; the first source wins a duplicate, so Weibo21 train keeps
    its copy at full weight. No text of ``held_out_files`` is kept."""
    held_out = {key(t) for split in held_out_files for t, _, _ in read(data, split)}
    labels: dict[str, set[int]] = {}
    texts: dict[str, tuple[str, str, float]] = {}
    stats = {"read": 0, "held_out_copies": 0, "duplicates": 0, "conflicting": 0, "empty": 0}
    for name in files:
        weight = 1.0 if name.startswith("weibo21") else EXTRA_WEIGHT
        for text, raw, label in read(data, name):
            stats["read"] += 1
            k = key(text)
            if not k:
                stats["empty"] += 1
            elif k in held_out:
                stats["held_out_copies"] += 1
            elif k in texts:
                stats["duplicates"] += 1
                labels[k].add(label)
            else:
                texts[k] = (text, raw, weight)
                labels[k] = {label}
    rows = []
    for k, (text, raw, weight) in texts.items():
        if len(labels[k]) > 1:
            stats["conflicting"] += 1
        else:
            rows.append(((text, raw, next(iter(labels[k]))), weight))
    stats["kept"] = len(rows)
    return rows, stats


def matrix(rows: list[Row], cues: tuple[str, ...]) -> sparse.csr_matrix:
    """Columns: the hashed n-gram buckets, then the cues, then the shape features."""
    indptr, indices, values = [0], [], []
    for t, raw, _ in rows:
        g = hashed_grams(t, BUCKETS, ORDERS)
        for j, v in enumerate(cue_vector(t, cues) + shape_vector(raw)):
            if v:
                g[BUCKETS + j] = v
        indices.extend(g.keys())
        values.extend(g.values())
        indptr.append(len(indices))
    return sparse.csr_matrix((np.array(values), np.array(indices), np.array(indptr)),
                             shape=(len(rows), BUCKETS + len(cues) + len(SHAPES)))


def fit(x: sparse.csr_matrix, y: np.ndarray, lam: float, weight: np.ndarray
        ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression with sample weights (the bias is not penalised)."""
    d = x.shape[1]
    ys = 2.0 * y - 1.0

    def loss(wb: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = wb[:d], wb[d]
        z = ys * (x @ w + b)
        value = float(weight @ np.logaddexp(0, -z)) + 0.5 * lam * float(w @ w)
        g = -weight * ys * 0.5 * (1.0 - np.tanh(z / 2.0))  # -ys * sigmoid(-z), no overflow
        return value, np.concatenate([x.T @ g + lam * w, [g.sum()]])

    res = optimize.minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000})
    return res.x[:d], float(res.x[d])


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    out = []
    for c in (0, 1):
        tp = float(((pred == c) & (y == c)).sum())
        fp = float(((pred == c) & (y != c)).sum())
        fn = float(((pred != c) & (y == c)).sum())
        out.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(out) / 2


def friction_threshold(scores: np.ndarray, gated: np.ndarray, y: np.ndarray,
                       precision: float) -> float:
    """The lowest threshold (on a 0.01 grid from ``THRESHOLD_FLOOR``) at which the friction
    (score at or above it and the cue gate passed) reaches ``precision``."""
    for t in np.arange(THRESHOLD_FLOOR, 1.0, 0.01):
        flagged = (scores >= t) & gated
        if flagged.sum() and (y[flagged].mean() >= precision):
            return round(float(t), 2)
    return 0.99


def cross_validated_lam(x: sparse.csr_matrix, y: np.ndarray, sw: np.ndarray,
                        weibo21: np.ndarray, folds: int) -> float:
    """The L2 strength with the best out-of-fold macro-F1 on the Weibo21 train rows (the
    other sources are older and labelled by another process: they train, they do not judge).
    Folds are drawn with a fixed seed, so a rebuild chooses the same."""
    fold = np.random.default_rng(20261125).permutation(len(y)) % folds
    best = (-1.0, LAMS[0])
    for lam in LAMS:
        predicted = np.zeros(len(y), dtype=bool)
        for k in range(folds):
            w, b = fit(x[fold != k], y[fold != k], lam, sw[fold != k])
            predicted[fold == k] = (x[fold == k] @ w + b) > 0
        f1 = macro_f1(y[weibo21], predicted[weibo21])
        print(f"  lam={lam:<5} {folds}-fold out-of-fold macro-F1 (Weibo21 train) {f1:.4f}",
              flush=True)
        best = max(best, (f1, lam))
    return best[1]


def weighted_matrix(weighted: list[tuple[Row, float]], cues: tuple[str, ...]
                    ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    rows = [r for r, _ in weighted]
    return (matrix(rows, cues), np.array([label for _, _, label in rows], dtype=np.float64),
            np.array([w for _, w in weighted]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--lam", type=float, default=LAM, help="L2 strength")
    parser.add_argument("--cv", type=int, default=0, metavar="K",
                        help="choose the L2 strength among LAMS by K-fold cross-validation on "
                             "train instead (slow: 3 fits per strength)")
    args = parser.parse_args()
    if not (args.data / "rumors" / "weibo21_train.jsonl").exists():
        print(f"no research data at {args.data.resolve()}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    cues = DEFAULT_CUES
    # 1. Train (Weibo21 train, CED, Ma2016; nothing of val or test): the L2 strength by
    #    cross-validation on it, then a model whose scores on Weibo21 val, which it never saw,
    #    choose the friction threshold.
    weighted, stats = training_rows(args.data)
    print("training rows:", json.dumps(stats), flush=True)
    x, y, sw = weighted_matrix(weighted, cues)
    lam = cross_validated_lam(x, y, sw, sw == 1.0, args.cv) if args.cv > 1 else args.lam
    w, b = fit(x, y, lam, sw)
    val = [r for r in read(args.data, "weibo21_val") if r[0].strip()]
    xv = matrix(val, cues)
    yv = np.array([label for _, _, label in val])
    scores = 1 / (1 + np.exp(-(xv @ w + b)))
    gated = np.array([long_enough(t) and bool(alarm_cues(t)) for t, _, _ in val])
    threshold = friction_threshold(scores, gated, yv, TARGET_PRECISION)
    flagged = (scores >= threshold) & gated
    print(f"lam={lam}; trained without val: val macro-F1 at 0.5 "
          f"{macro_f1(yv, scores >= 0.5):.4f}; friction threshold {threshold} (val precision "
          f"{yv[flagged].mean():.3f}, recall {flagged[yv == 1].mean():.3f})", flush=True)
    # 2. The shipped model: the same recipe on train + val (val at full weight, test still
    #    excluded), with that threshold. Its own val figures are in-sample, so none is chosen
    #    on them.
    weighted, stats = training_rows(args.data, SHIPPED_FILES, ("weibo21_test",))
    print("shipped model's rows:", json.dumps(stats), flush=True)
    x, y, sw = weighted_matrix(weighted, cues)
    w, b = fit(x, y, lam, sw)
    n_cues = len(cues)
    model = AlarmModel(weights=w[:BUCKETS].astype(np.float32),
                       cue_weights=w[BUCKETS:BUCKETS + n_cues],
                       shape_weights=w[BUCKETS + n_cues:], bias=b, cues=cues, orders=ORDERS,
                       threshold=threshold)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    shipped = AlarmModel.load(args.out)
    drift = np.abs(np.array([shipped.score_normalised(t, raw) for t, raw, _ in val])
                   - 1 / (1 + np.exp(-(xv @ w + b)))).max()
    print(f"shipped: threshold {threshold}; float16 drift {drift:.1e}; {args.out} "
          f"{args.out.stat().st_size} bytes; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
