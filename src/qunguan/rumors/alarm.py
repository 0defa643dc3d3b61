"""Alarm-claim friction: a small classifier of unverified alarm-style claims (urgent calls to
forward, abduction and disaster alarms, fake official notices) and the screening detector
that reports its score.

The model is logistic regression over character 1-3-grams of the normalised text, hashed into
a fixed number of buckets, plus a few cue features. It is trained offline by
``scripts/train_alarm.py`` (docs/rumors.md, "Alarm claims") and shipped as numbers only in
``rumors/data/alarm_model.npz``: bucket weights, the cue list, the hashing parameters and the
friction threshold chosen on validation data. Scoring needs numpy and nothing else, so the
gate pays well under its latency budget for it.

The detector only reports a score; the pack's rule (``rules/alarm.toml``) decides, and what it
asks for is a confirm prompt, never a sanction.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from qunguan.kernel.text import normalise
from qunguan.kernel.uow import UnitOfWork
from qunguan.screening import (
    PackResources,
    ScreeningContext,
    Signal,
    Stage,
    detectors,
    register_detector,
)

MODEL_PATH = Path(__file__).parent / "data" / "alarm_model.npz"

# The shape of alarm messages, as cue features beside the n-grams: a call to spread, urgency,
# a search for a missing person, an "official" warning. Matched on the normalised text
# (simplified, lower case), so traditional and full-width spellings count too. The list is
# part of the model (stored in its file); this one is what the training script starts from.
DEFAULT_CUES: tuple[str, ...] = (
    "扩散", "转发", "紧急", "速看", "寻人", "警方提醒", "求转", "互相转告", "告诉家人",
    "千万不要", "马上", "赶紧", "通知", "据说", "刚刚", "注意",
)

# The friction gate: a high score alone is not enough. The model learnt Weibo21, where real
# news is newsroom prose, so ordinary chat ("大家中午吃什么？") scores high too. An alarm worth
# a prompt also has the shape of one: a call to spread it, an urgent notice, or an abduction
# or poisoning scare. Bare 转发 ("请勿转发"), 注意, 寻人 and 失踪 (official missing-person
# notices are the hard negatives) are left out on purpose. No opinion or political term is, or
# may be, on this list (docs/screening.md).
ALARM_CUES: tuple[str, ...] = (
    "扩散", "速转", "求转", "转告", "转给", "转发给", "请转发", "帮忙转发", "看到请转", "告诉家人",
    "紧急通知", "紧急提醒", "紧急求助", "速看", "人贩子", "抢孩子", "抢小孩", "拐卖", "投毒",
)
# Fewer letters, digits and CJK characters than this carry no claim worth a prompt.
MIN_CHARS = 12
_WORD = re.compile(r"[\W_]+")


def alarm_cues(normalised: str) -> list[str]:
    """The alarm cues found in a normalised text (ALARM_CUES order)."""
    return [cue for cue in ALARM_CUES if cue in normalised]


def long_enough(normalised: str) -> bool:
    return len(_WORD.sub("", normalised)) >= MIN_CHARS


# Like rumors.text.prepare: a long text keeps its head and tail, so a 10,000-character post
# costs what a 640-character one does (the claim comes first, the call to forward last).
HEAD_CHARS = 480
TAIL_CHARS = 160
RAW_LIMIT = 4000  # the shape features look at no more of the raw text than this


def _bounded(normalised: str) -> str:
    if len(normalised) > HEAD_CHARS + TAIL_CHARS:
        return normalised[:HEAD_CHARS] + " " + normalised[-TAIL_CHARS:]
    return normalised


def hashed_grams(normalised: str, buckets: int, orders: tuple[int, ...] = (1, 2, 3)
                 ) -> dict[int, float]:
    """Bucket -> weight of the character n-grams of a normalised text: sub-linear counts
    (1 + log tf), L2-normalised so that long and short texts weigh alike. Spaces are kept (they
    separate Latin words); CRC32 is stable across processes, unlike ``hash``."""
    s = _bounded(normalised)
    counts: Counter[int] = Counter()
    for n in orders:
        for i in range(len(s) - n + 1):
            counts[zlib.crc32(s[i:i + n].encode()) % buckets] += 1
    if not counts:
        return {}
    values = {k: 1.0 + math.log(c) for k, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {k: v / norm for k, v in values.items()}


def cue_vector(normalised: str, cues: tuple[str, ...]) -> list[float]:
    return [1.0 if cue in normalised else 0.0 for cue in cues]


_EMOTICON = re.compile(r"\[[^\[\]]{1,6}\]")

# The shape of the raw text, which normalisation folds away: Weibo emoticon codes ([哈哈]),
# links, @mentions, a 【headline】 opening, hashtags, length, question and exclamation marks,
# repost chains. Newsroom posts and personal alarms differ in these more than in words (they
# raised macro-F1 on Weibo21 val from 0.887 to 0.895). The names are stored with the model, so
# a model trained on another list is refused at load time instead of scoring nonsense.
SHAPES: tuple[str, ...] = ("emoticon", "emoticons", "link", "mention", "headline", "hashtag",
                           "log_length", "short", "long", "question", "exclaim", "repost_chain")


def shape_vector(raw: str) -> list[float]:
    emoticons = len(_EMOTICON.findall(raw))
    n = len(raw)
    return [float(emoticons > 0), min(emoticons, 5) / 5, float("http" in raw), float("@" in raw),
            float(raw.lstrip().startswith("【")), float("#" in raw), math.log1p(n) / 8,
            float(n < 50), float(n > 300), float("?" in raw or "？" in raw),
            float("!" in raw or "！" in raw), float("//" in raw)]


@dataclass(frozen=True)
class AlarmModel:
    """Weights of the hashed n-gram buckets, of the cues and of the shape features;
    ``threshold`` is the friction threshold chosen with the model (the default pack's rule uses
    the same number as its ``min_score``)."""

    weights: np.ndarray
    cue_weights: np.ndarray
    shape_weights: np.ndarray
    bias: float
    cues: tuple[str, ...]
    orders: tuple[int, ...]
    threshold: float

    @property
    def buckets(self) -> int:
        return int(self.weights.shape[0])

    def logit(self, normalised: str, raw: str) -> float:
        grams = hashed_grams(normalised, self.buckets, self.orders)
        total = self.bias
        if grams:
            idx = np.fromiter(grams.keys(), dtype=np.int64, count=len(grams))
            val = np.fromiter(grams.values(), dtype=np.float64, count=len(grams))
            total += float(self.weights[idx].astype(np.float64) @ val)
        for cue, w in zip(self.cues, self.cue_weights, strict=True):
            if cue in normalised:
                total += float(w)
        total += float(np.dot(self.shape_weights, shape_vector(raw)))
        return total

    def score_normalised(self, normalised: str, raw: str) -> float:
        """Score in [0, 1] that the text is an alarm claim, from its normalised form (as the
        screening context carries it) and the raw text (for the shape features); 0 for a
        text with nothing left after normalisation."""
        if not normalised.strip():
            return 0.0
        z = self.logit(normalised, raw[:RAW_LIMIT])
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def score(self, text: str) -> float:
        return self.score_normalised(normalise(text), text)

    def save(self, path: Path) -> None:
        # float16 halves the file; scores move by about 1e-3 (the script prints the drift).
        np.savez_compressed(
            path, weights=self.weights.astype(np.float16),
            cue_weights=self.cue_weights.astype(np.float32),
            shape_weights=self.shape_weights.astype(np.float32),
            bias=np.array([self.bias]), cues=np.array(self.cues, dtype=np.str_),
            shapes=np.array(SHAPES, dtype=np.str_), orders=np.array(self.orders, dtype=np.int64),
            threshold=np.array([self.threshold]))

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> AlarmModel:
        with np.load(path, allow_pickle=False) as f:
            shapes = tuple(str(c) for c in f["shapes"])
            if shapes != SHAPES:
                raise ValueError(f"{path}: model trained on shape features {shapes}, this "
                                 f"code computes {SHAPES}; retrain (make train-alarm)")
            return cls(weights=f["weights"].astype(np.float32),
                       cue_weights=f["cue_weights"].astype(np.float64),
                       shape_weights=f["shape_weights"].astype(np.float64),
                       bias=float(f["bias"][0]), cues=tuple(str(c) for c in f["cues"]),
                       orders=tuple(int(n) for n in f["orders"]),
                       threshold=float(f["threshold"][0]))


@cache
def default_model() -> AlarmModel:
    """The shipped model, loaded once per process (on the first message, not at import)."""
    return AlarmModel.load(MODEL_PATH)


def alarm_score(text: str) -> float:
    """The shipped model's score of a raw text."""
    return default_model().score(text)


@dataclass
class AlarmDetector:
    """Two signals on a message with at least ``MIN_CHARS`` letters: ``alarm``, the shipped
    model's score (``score``), and ``alarm_cue`` when the text carries alarm cues (``count``:
    distinct cues; evidence: the cue words). The default pack's rule wants both; the
    threshold is the rule's ``min_score``. Evidence never holds the message text."""

    name: str = "alarm"
    stage: Stage = "pre"
    uses_database: bool = False
    labels: frozenset[str] = frozenset({"alarm", "alarm_cue"})

    def screen(self, uow: UnitOfWork, context: ScreeningContext,
               resources: PackResources) -> list[Signal]:
        normalised = context.normalised
        if not long_enough(normalised):
            return []
        model = default_model()
        score = round(model.score_normalised(normalised, context.text), 4)
        out = [Signal(self.name, "alarm", score, 1,
                      {"score": score, "model_threshold": model.threshold})]
        cues = alarm_cues(normalised)
        if cues:
            out.append(Signal(self.name, "alarm_cue", 1.0, len(cues), {"cues": cues}))
        return out


def friction(text: str, threshold: float | None = None) -> bool:
    """Would the default rule prompt on ``text``? (score at or above the threshold, an alarm
    cue, long enough): what ``qunguan eval alarm`` and the training script measure."""
    model = default_model()
    normalised = normalise(text)
    return (long_enough(normalised) and bool(alarm_cues(normalised))
            and model.score_normalised(normalised, text)
            >= (model.threshold if threshold is None else threshold))


def register() -> None:
    """Idempotent, like the screening built-ins: a reimport registers nothing twice."""
    if not any(d.name == "alarm" for d in detectors()):
        register_detector(AlarmDetector())


register()
