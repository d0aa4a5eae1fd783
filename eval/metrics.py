"""Scores for saved predictions (answer JSON + id) against a question set.

Every metric is defined in the README; the functions here are that definition.
"""

from __future__ import annotations

import re
import statistics
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eval.claims import split_claims
from eval.dataset import EvalItem
from eval.retrieval import KS, holds, score_passages
from eval.selective import aurc
from eval.summary import percentile
from rag.text import squash, strip_markers

# judge(claim, passage) -> True when the passage supports the claim
JudgeFn = Callable[[str, str], bool]


def must_include_score(answer: str, groups: Sequence[Sequence[str]]) -> float:
    """Share of any-of groups with at least one string in the answer (case-insensitive).

    >>> must_include_score("It is Tier 3, says the report.", [["tier 3"], ["2007", "june"]])
    0.5
    """
    if not groups:
        return 1.0
    text = answer.casefold()
    return sum(1 for g in groups if any(s.casefold() in text for s in g)) / len(groups)


def must_not_hits(answer: str, forbidden: Sequence[str]) -> list[str]:
    """The forbidden strings the answer contains (case-insensitive).

    >>> must_not_hits("Yes, it is on Tier 2.", ["yes,", "tier 3"])
    ['yes,']
    """
    text = answer.casefold()
    return [f for f in forbidden if f.casefold() in text]


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, articles or citation markers.

    >>> normalize_answer("The Czech Republic [1].")
    'czech republic'
    """
    text = strip_markers(text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return squash(text)


@dataclass
class QuestionScore:
    """Everything measured for one question; None where a metric does not apply."""

    id: str
    type: str
    answerable: bool
    abstained: bool
    split: str = "dev"
    must_include: float | None = None
    # Answered and wrong (score 0, a must_not hit, or an unanswerable question answered), and
    # every citation says Supported: the failure a reader cannot see.
    wrong: bool | None = None
    confidently_wrong: bool | None = None
    exact_match: bool | None = None
    quote_ranks: tuple[int | None, ...] = ()
    evidence_cited: bool | None = None
    sentences: int = 0
    sentences_supported: int = 0
    citations: int = 0
    citations_supporting: int = 0
    quotes: int = 0
    quotes_valid: int = 0
    # The first visible content: the sources when streamed first, else the first text.
    first_content_s: float | None = None
    total_s: float | None = None
    notes: list[str] = field(default_factory=list)
    # For the risk–coverage curve: how sure the product was (1 - p_wrong; 0 for an abstention by rule),
    # and whether the answer it had, shown, would be wrong (the draft of an abstention is read too).
    confidence: float = 0.0
    wrong_if_shown: bool = True


def score_prediction(
    item: EvalItem, pred: Mapping, doc_texts: Mapping[str, str], judge: JudgeFn | None
) -> QuestionScore:
    """All metrics of one prediction; an unlabelled question is refused, never scored as wrong."""
    if item.answerable is None:
        raise ValueError(f"question {item.id!r} is unlabelled (no answerable); it cannot be scored")
    answer = str(pred.get("answer", ""))
    abstained = bool(pred.get("abstained"))
    s = QuestionScore(item.id, item.type, item.answerable, abstained, item.split)
    timings = pred.get("timings") or {}
    s.first_content_s = timings.get("sources_s", timings.get("first_token_s"))
    s.total_s = timings.get("total_s")
    passages = [p["text"] for p in sorted(pred.get("passages", []), key=lambda p: p["rank"])]
    citations = pred.get("citations", [])
    forbidden = must_not_hits(answer, item.must_not) if not abstained else []
    if forbidden:
        s.notes.append(f"contains {', '.join(repr(f) for f in forbidden)}")
    if item.answerable:
        s.must_include = 0.0 if abstained or forbidden else must_include_score(answer, item.must_include)
        s.exact_match = not abstained and normalize_answer(answer) == normalize_answer(item.answer)
        if item.evidence:
            s.quote_ranks = score_passages(passages, item.evidence).quote_ranks
            if not abstained:
                s.evidence_cited = any(holds(c["text"], q) for c in citations for q in item.evidence)
    s.confidence, s.wrong_if_shown = _selective(item, pred, answer, abstained)
    if not abstained:
        s.wrong = not item.answerable or bool(forbidden) or s.must_include == 0.0
        s.confidently_wrong = s.wrong and all(c.get("supported") for c in citations)
    for c in citations:
        s.quotes += 1
        text = doc_texts.get(c.get("doc_id", ""), "")
        if text[c.get("quote_start", 0) : c.get("quote_end", 0)] == c.get("quote") and c.get("quote"):
            s.quotes_valid += 1
        else:
            s.notes.append(f"citation [{c.get('n')}] quote is not the span at its offsets")
    if not abstained and judge is not None:
        by_n = {c["n"]: c for c in citations}
        for claim in split_claims(answer):
            if not claim.text:
                continue
            s.sentences += 1
            cited = [by_n[n] for n in claim.cited if n in by_n]
            if cited and judge(claim.text, " ".join(c["text"] for c in cited)):
                s.sentences_supported += 1
            for c in cited:
                s.citations += 1
                if judge(claim.text, c["text"]):
                    s.citations_supporting += 1
    return s


def _selective(item: EvalItem, pred: Mapping, answer: str, abstained: bool) -> tuple[float, bool]:
    """(confidence, wrong if shown) of one prediction, for the risk–coverage curve."""
    p_wrong = (pred.get("signals") or {}).get("p_wrong")
    confidence = 1.0 - float(p_wrong) if p_wrong is not None else (0.0 if abstained else 1.0)
    shown = str(pred.get("draft") or "") if abstained else answer
    if not shown:
        return 0.0, True  # nothing to show: an abstention by rule is never an answer
    wrong = not item.answerable or bool(must_not_hits(shown, item.must_not))
    return confidence, wrong or must_include_score(shown, item.must_include) == 0.0


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0-1) by the one percentile definition, None with no values."""
    return percentile(values, q * 100) if values else None


def aggregate(scores: Sequence[QuestionScore]) -> dict[str, float | int | None]:
    """The metrics of a whole run (see the README for each definition)."""
    answerable = [s for s in scores if s.answerable]
    unanswerable = [s for s in scores if not s.answerable]
    with_evidence = [s for s in answerable if s.quote_ranks]
    answered_with_evidence = [s for s in with_evidence if s.evidence_cited is not None]
    sentences = sum(s.sentences for s in scores)
    citations = sum(s.citations for s in scores)
    quotes = sum(s.quotes for s in scores)
    first = [s.first_content_s for s in scores if s.first_content_s is not None]
    total = [s.total_s for s in scores if s.total_s is not None]
    out: dict[str, float | int | None] = {
        "questions": len(scores),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }
    for k in KS:
        out[f"recall@{k}"] = _mean(
            [sum(1 for r in s.quote_ranks if r is not None and r <= k) / len(s.quote_ranks) for s in with_evidence]
        )
    out["mrr"] = _mean([1 / min((r for r in s.quote_ranks if r), default=float("inf")) for s in with_evidence])
    out["answer_score"] = _mean([s.must_include or 0.0 for s in answerable])
    out["exact_match"] = _mean([1.0 if s.exact_match else 0.0 for s in answerable])
    out["abstention_accuracy"] = _mean([1.0 if s.abstained else 0.0 for s in unanswerable])
    out["false_abstention"] = _mean([1.0 if s.abstained else 0.0 for s in answerable])
    answered = [s for s in scores if not s.abstained]
    out["answered"] = len(answered)
    out["wrong_answered"] = _mean([1.0 if s.wrong else 0.0 for s in answered])
    out["confidently_wrong"] = _mean([1.0 if s.confidently_wrong else 0.0 for s in answered])
    out["evidence_cited"] = _mean([1.0 if s.evidence_cited else 0.0 for s in answered_with_evidence])
    out["citation_recall"] = sum(s.sentences_supported for s in scores) / sentences if sentences else None
    out["citation_precision"] = sum(s.citations_supporting for s in scores) / citations if citations else None
    out["quote_validity"] = sum(s.quotes_valid for s in scores) / quotes if quotes else None
    labelled = [s for s in scores if s.answerable is not None]
    out["aurc"] = aurc([s.confidence for s in labelled], [s.wrong_if_shown for s in labelled])
    out["first_content_s_median"] = statistics.median(first) if first else None
    out["first_content_s_p95"] = _percentile(first, 0.95)
    out["total_s_median"] = statistics.median(total) if total else None
    out["total_s_p95"] = _percentile(total, 0.95)
    return out


def with_unlabelled(metrics: Mapping[str, Any], unlabelled: Sequence[str]) -> dict[str, Any]:
    """A run's metrics plus the rows left out of them because nobody has labelled them yet (their ids)."""
    overall = {**metrics["overall"], "unlabelled": len(unlabelled)}
    return {**metrics, "overall": overall, "unlabelled": list(unlabelled)}


def by_type(scores: Sequence[QuestionScore]) -> dict[str, dict[str, float | int | None]]:
    """Aggregates per question type."""
    types = sorted({s.type for s in scores})
    return {t: aggregate([s for s in scores if s.type == t]) for t in types}


def by_split(scores: Sequence[QuestionScore]) -> dict[str, dict[str, float | int | None]]:
    """Aggregates for the tuning split and the held-back split."""
    return {t: aggregate([s for s in scores if s.split == t]) for t in sorted({s.split for s in scores})}


def as_rows(scores: Sequence[QuestionScore]) -> list[dict]:
    return [asdict(s) for s in scores]
