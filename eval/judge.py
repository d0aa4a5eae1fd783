"""Entailment judges for citation metrics, and their measurement on a labelled set.

No packaged NLI model exists here, so a judge is built from what there is:
lexical checks (numbers, names, negation, content-word overlap) and the
generator itself answering "Yes"/"No" with its next-token probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from eval.lexical_check import check_support
from eval.summary import markdown_table
from rag.generate.protocol import Message
from rag.jsonl import read_jsonl


class Judge(Protocol):
    """Whether a passage supports a claim."""

    def supports(self, claim: str, passage: str) -> bool: ...


@runtime_checkable
class YesNoModel(Protocol):
    """A language model's probability that the answer to a chat is "Yes"."""

    def p_yes(self, messages: Sequence[Message]) -> float: ...


class LexicalJudge:
    """The evaluation's cheap check (eval/lexical_check.py), distinct from anything on the answer path."""

    name = "lexical"

    def supports(self, claim: str, passage: str) -> bool:
        return check_support(claim, passage).supported


JUDGE_SYSTEM = (
    "You check facts. Given a passage and a claim, answer Yes if the passage states or directly implies "
    "everything in the claim, and No otherwise (a different number, a flipped negation, or a detail the "
    "passage does not give means No). Answer with one word: Yes or No."
)


class ModelJudge:
    """The generator as a yes/no judge: supported when P(Yes) reaches the threshold."""

    name = "model"

    def __init__(self, model: YesNoModel, threshold: float = 0.3) -> None:
        self.model = model
        self.threshold = threshold

    def probability(self, claim: str, passage: str) -> float:
        messages: list[Message] = [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Passage: {' '.join(passage.split())}\n\nClaim: {claim}"},
        ]
        return self.model.p_yes(messages)

    def supports(self, claim: str, passage: str) -> bool:
        return self.probability(claim, passage) >= self.threshold


class CombinedJudge:
    """Model judge, vetoed by the lexical number, name and negation checks."""

    name = "combined"

    def __init__(self, model_judge: ModelJudge) -> None:
        self.model_judge = model_judge

    def supports(self, claim: str, passage: str) -> bool:
        lexical = check_support(claim, passage)
        if lexical.missing_numbers or lexical.missing_names or lexical.negation_mismatch:
            return False
        return self.model_judge.supports(claim, passage)


@dataclass(frozen=True)
class JudgePair:
    id: str
    claim: str
    passage: str
    label: bool
    kind: str


def load_pairs(path: Path) -> list[JudgePair]:
    """The labelled claim/passage pairs of a JSONL file."""
    return [JudgePair(**row) for row in read_jsonl(path)]


@dataclass(frozen=True)
class JudgeQuality:
    name: str
    n: int
    accuracy: float
    precision: float
    recall: float
    by_kind: dict[str, float]  # accuracy per kind


def measure(judge: Judge, pairs: Sequence[JudgePair], name: str) -> JudgeQuality:
    """Accuracy, precision and recall (positive = supported) of a judge on labelled pairs."""
    tp = fp = fn = tn = 0
    per_kind: dict[str, list[bool]] = {}
    for p in pairs:
        said = judge.supports(p.claim, p.passage)
        tp += said and p.label
        fp += said and not p.label
        fn += (not said) and p.label
        tn += (not said) and not p.label
        per_kind.setdefault(p.kind, []).append(said == p.label)
    n = max(1, len(pairs))
    return JudgeQuality(
        name=name,
        n=len(pairs),
        accuracy=(tp + tn) / n,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        by_kind={k: sum(v) / len(v) for k, v in sorted(per_kind.items())},
    )


def quality_table(results: Sequence[JudgeQuality]) -> str:
    kinds = sorted({k for r in results for k in r.by_kind})
    rows = [
        [r.name, r.n, f"{r.accuracy:.3f}", f"{r.precision:.3f}", f"{r.recall:.3f}"]
        + [f"{r.by_kind.get(k, 0):.2f}" for k in kinds]
        for r in results
    ]
    return markdown_table(["judge", "pairs", "accuracy", "precision", "recall", *kinds], rows)
