"""When to say "the report does not answer this": decided from evidence, not from wording alone."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    # Single digits are too often words ("2 ppl", "tier 1 or 2?") to stand for a fact asked about.
    return tuple(sorted(n for n in numbers(question) if len(n) > 1 and n not in found))


FEATURES = (
    "p_none",
    "p_top",
    "agree",
    "top_dense",
    "chosen_dense",
    "chosen_overlap",
    "chosen_rank",
    "lead_verified",
    "lead_none",
    "yes_no",
    "on_question",
)


@dataclass(frozen=True)
class Signals:
    """What is known about an answer before it is shown: the inputs of the abstention decision."""

    p_none: float  # the model's probability of replying NONE rather than a sentence number
    p_top: float  # its probability of the most likely sentence number
    agree: bool  # the verified lead is stated by a sentence the model chose by number
    top_dense: float  # the best candidate sentence's similarity to the question
    chosen_dense: float  # the first chosen sentence's similarity to the question
    chosen_overlap: float  # share of the question's distinctive words in the first chosen sentence
    chosen_rank: int  # where the first chosen sentence stood among the candidates
    lead_verified: bool  # the direct answer passed verification
    lead_none: bool  # the model wrote NONE where its answer should be
    yes_no: bool  # the question asks yes or no
    on_question: bool  # the evidence names the question's report subjects and holds most of its words

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in FEATURES}


@dataclass(frozen=True)
class AbstainModel:
    """Logistic regression over Signals: the probability that showing the answer would be wrong.

    Fitted with cross-validation by `rag eval calibrate` and shipped as JSON; abstain at `threshold`.
    """

    coef: tuple[float, ...] = (0.0,) * len(FEATURES)
    intercept: float = -10.0
    threshold: float = 0.5
    mean: tuple[float, ...] = (0.0,) * len(FEATURES)
    scale: tuple[float, ...] = (1.0,) * len(FEATURES)

    def wrong_probability(self, signals: Signals) -> float:
        values = signals.as_dict()
        z = self.intercept + sum(
            c * (values[name] - m) / s for c, name, m, s in zip(self.coef, FEATURES, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, path: Path) -> AbstainModel:
        """The fitted model from `path`; a file that does not fit the features is refused with its name."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"{path} was fitted on features {data.get('features')}, not {list(FEATURES)}")
        return cls(
            tuple(data["coef"]),
            float(data["intercept"]),
            float(data["threshold"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
        )
