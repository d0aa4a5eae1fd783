"""When to say "the report does not answer this": decided from evidence, not from wording alone."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.language import ASKS_AMOUNT, ASKS_DATE, STATES_AMOUNT, STATES_DATE
from rag.text import numbers
from rag.types import Hit


def missing_specifics(question: str, hits: Sequence[Hit]) -> tuple[str, ...]:
    """Numbers and years the question asks about that no retrieved passage mentions.

    A question about "the 2008 report" cannot be answered from passages that
    never say 2008, however similar they are otherwise.

    >>> from rag.types import Chunk
    >>> hit = Hit(Chunk("c", "d", "Tier 3 in the 2007 report.", 0, 26, 1), 1.0, 1)
    >>> missing_specifics("What tier in the 2008 report?", [hit])
    ('2008',)
    """
    found = set().union(*(numbers(h.chunk.text) for h in hits)) if hits else set()
    return tuple(sorted(n for n in numbers(question) if len(n) >= SPECIFIC_DIGITS and n not in found))


# Single digits are too often words ("2 ppl", "tier 1 or 2?") to stand for a fact asked about: a number
# the question asks about has at least this many digits.
SPECIFIC_DIGITS = 2
# Digits kept of each signal in the answer's JSON; chosen for reading, not measured.
SIGNAL_DECIMALS = 4
# The logit is clipped to ±LOGIT_LIMIT so that math.exp cannot overflow; past it the probability is 0 or 1
# to within 2e-22.
LOGIT_LIMIT = 50.0
# The model used before one is fitted (no coefficients): p_wrong = 1 / (1 + e^10) ≈ 0.00005 for every answer,
# below both even-odds thresholds, so it never abstains and vouches for every answer.
UNFITTED_INTERCEPT = -10.0
UNFITTED_THRESHOLD = 0.5

FEATURES = (
    "p_answers",
    "p_second",
    "dense",
    "overlap",
    "score",
    "type_match",
    "yes_no",
)


@dataclass(frozen=True)
class Signals:
    """What is known about an answer before it is shown: the inputs of the abstention decision.

    The model's judgements improve the decision: on the dev rows of the six question sets, the area
    under the risk–coverage curve was 0.150 with them and 0.181 without (`python -m bench.choice`).
    Signals that did not lower it in a cross-validated comparison on earlier runs (the share of the
    question's words no report uses, names the question gives that the sentence lacks, the ranking
    margin, the yes/no polarity check, whether a header line is quoted) are left out.
    """

    p_answers: float  # the model's P(yes) that the first quoted sentence answers the question
    p_second: float  # the same for the second-ranked sentence (0 when there is none)
    dense: float  # the first quoted sentence's dense similarity to the question
    overlap: float  # share of the question's distinctive words in it
    score: float  # its relevance score (rag.answer.context)
    type_match: bool  # a "how many" or "when" question's sentence states an amount or a date
    yes_no: bool  # the question asks yes or no

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), SIGNAL_DECIMALS) for name in FEATURES}


def answer_type_matches(question: str, sentence: str) -> bool:
    """A question asking how many or when gets a sentence stating an amount or a date; others always match.

    >>> answer_type_matches("how many camps are there", "Camps hold an estimated 150,000 persons.")
    True
    >>> answer_type_matches("when did the program start", "The program hired workers abroad.")
    False
    """
    if ASKS_AMOUNT.search(question):
        return bool(STATES_AMOUNT.search(sentence))
    if ASKS_DATE.search(question):
        return bool(STATES_DATE.search(sentence))
    return True


@dataclass(frozen=True)
class AbstainModel:
    """Logistic regression over Signals: the probability that showing the answer would be wrong.

    Fitted with cross-validation by `rag eval calibrate` and shipped as JSON: abstain at `threshold`;
    below `support`, the citations say Supported (the model and the checks vouch for the quote).
    """

    coef: tuple[float, ...] = (0.0,) * len(FEATURES)
    intercept: float = UNFITTED_INTERCEPT
    threshold: float = UNFITTED_THRESHOLD
    mean: tuple[float, ...] = (0.0,) * len(FEATURES)
    scale: tuple[float, ...] = (1.0,) * len(FEATURES)
    support: float = UNFITTED_THRESHOLD

    def wrong_probability(self, signals: Signals) -> float:
        values = signals.as_dict()
        z = self.intercept + sum(
            c * (values[name] - m) / s for c, name, m, s in zip(self.coef, FEATURES, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(-LOGIT_LIMIT, min(LOGIT_LIMIT, z))))

    @classmethod
    def load(cls, path: Path) -> AbstainModel:
        """The fitted model from `path`; a file that does not fit the features is refused with its name."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"{path} was fitted on features {data.get('features')}, not {list(FEATURES)}")
        threshold = float(data["threshold"])
        return cls(
            tuple(data["coef"]),
            float(data["intercept"]),
            threshold,
            tuple(data["mean"]),
            tuple(data["scale"]),
            float(data.get("support", threshold)),
        )
