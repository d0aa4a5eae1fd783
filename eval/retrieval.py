"""Retrieval metrics: does a passage hold the gold evidence, recall@k, MRR."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from eval.dataset import EvalItem, load_dataset
from eval.summary import markdown_table
from rag.answer.conversation import retrieval_query
from rag.text import squash

# Where a chunk boundary cuts a quote, the passage still holds it if it
# contains at least this share of the quote's characters contiguously.
PARTIAL_SHARE = 0.6
KS = (1, 3, 5, 10)


def normalize(text: str) -> str:
    """Case and whitespace folded: ' A\\n  b ' -> 'a b'."""
    return squash(text).casefold()


def holds(passage: str, quote: str) -> bool:
    """True if `passage` contains `quote`, or a contiguous run of most of it.

    >>> holds("It is in P. R. C.", "in p. r.  c.")
    True
    >>> holds("alpha beta gamma", "gamma delta epsilon zeta")
    False
    """
    p, q = normalize(passage), normalize(quote)
    if not q:
        return False
    if q in p:
        return True
    match = SequenceMatcher(None, p, q, autojunk=False).find_longest_match(0, len(p), 0, len(q))
    return match.size >= PARTIAL_SHARE * len(q)


@dataclass(frozen=True)
class RetrievalScores:
    """Per-question retrieval outcome: the rank of the first passage holding each quote."""

    quote_ranks: tuple[int | None, ...]

    def recall_at(self, k: int) -> float:
        if not self.quote_ranks:
            return 0.0
        return sum(1 for r in self.quote_ranks if r is not None and r <= k) / len(self.quote_ranks)

    @property
    def reciprocal_rank(self) -> float:
        found = [r for r in self.quote_ranks if r is not None]
        return 1.0 / min(found) if found else 0.0


def score_passages(passages: Sequence[str], evidence: Sequence[str]) -> RetrievalScores:
    """Rank (from 1) of the first passage holding each evidence quote, None if none does."""
    ranks = []
    for quote in evidence:
        rank = next((i for i, text in enumerate(passages, start=1) if holds(text, quote)), None)
        ranks.append(rank)
    return RetrievalScores(tuple(ranks))


def summarize(scores: Sequence[RetrievalScores]) -> dict[str, float]:
    """Mean recall@k over questions (each the share of its quotes found in the top k) and MRR."""
    n = max(1, len(scores))
    out = {f"recall@{k}": sum(s.recall_at(k) for s in scores) / n for k in KS}
    out["mrr"] = sum(s.reciprocal_rank for s in scores) / n
    out["all_evidence@5"] = sum(1 for s in scores if s.recall_at(5) == 1.0) / n
    return out


def run_retrieval_eval(
    settings, datasets: Sequence[Path], modes: Sequence[str], say: Callable[[str], None] = print
) -> str:
    """A Markdown table of retrieval metrics for each dataset and retrieval mode."""
    from dataclasses import replace as dc_replace

    from app import indexing
    from rag.settings import RetrievalMode

    base = indexing.make_retriever(settings, say=say)
    header = ["dataset", "mode", "questions", "recall@1", "recall@3", "recall@5", "recall@10", "MRR"]
    rows: list[list[object]] = []
    misses: list[str] = []
    for path in datasets:
        items = items_with_evidence(load_dataset(path))
        for mode in modes:
            retriever = dc_replace(base, mode=RetrievalMode(mode))
            scores = []
            for item in items:
                hits = retriever.search(retrieval_query(item.question, item.history), k=max(KS))
                s = score_passages([h.chunk.text for h in hits], item.evidence)
                scores.append(s)
                if s.recall_at(5) < 1.0:
                    misses.append(f"{path.name} {mode} {item.id}: {item.question}")
            m = summarize(scores)
            keys = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr", "all_evidence@5")
            rows.append([path.name, mode, len(items)] + [f"{m[k]:.3f}" for k in keys])
    lines = [markdown_table([*header, "all evidence in top 5"], rows)]
    if misses:
        lines += ["", "Evidence missing from the top 5:"] + [f"- {m}" for m in misses]
    return "\n".join(lines)


def items_with_evidence(items: Sequence[EvalItem]) -> list[EvalItem]:
    """The answerable questions that carry evidence quotes."""
    return [i for i in items if i.answerable and i.evidence]


def followup_table(settings, datasets: Sequence[Path], say: Callable[[str], None] = print) -> str:
    """Retrieval for follow-ups: the question alone, with the previous user turn prepended, both fused."""
    from app import indexing
    from rag.index.retrieve import fuse

    retriever = indexing.make_retriever(settings, say=say)
    ways: dict[str, Callable[[EvalItem], list]] = {
        "question alone": lambda i: retriever.search(i.question, max(KS)),
        "previous turn + question (default)": lambda i: retriever.search(
            retrieval_query(i.question, i.history), max(KS)
        ),
        "both, fused": lambda i: fuse(
            [retriever.search(i.question, max(KS)), retriever.search(retrieval_query(i.question, i.history), max(KS))],
            max(KS),
        ),
    }
    rows: list[list[object]] = []
    for path in datasets:
        items = [i for i in items_with_evidence(load_dataset(path)) if i.history]
        for name, search in ways.items():
            m = summarize([score_passages([h.chunk.text for h in search(i)], i.evidence) for i in items])
            keys = ("recall@1", "recall@3", "recall@5", "mrr")
            rows.append([path.name, len(items), name] + [f"{m[k]:.3f}" for k in keys])
    return markdown_table(["dataset", "follow-ups", "way", "recall@1", "recall@3", "recall@5", "MRR"], rows)
