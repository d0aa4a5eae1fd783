"""Hits -> the few numbered sentences a prompt needs, each with its exact place in a document."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from embeddings.encoder import Embedder
from rag.sentences import sentences
from rag.text import content_words
from rag.types import Chunk, Document, Hit


@dataclass(frozen=True)
class ContextItem:
    """One numbered source sentence: where it is, which passage it came from, how relevant it is."""

    n: int
    chunk: Chunk
    start: int
    end: int
    text: str
    dense: float
    overlap: float


def select_context(
    question: str,
    hits: Sequence[Hit],
    documents: Mapping[str, Document],
    embedder: Embedder,
    idf: Mapping[str, float],
    max_items: int,
    query: str = "",
) -> tuple[ContextItem, ...]:
    """The `max_items` sentences of the hit passages that best match the question.

    Word overlap is measured against the question itself; the dense match averages
    the question and `query` (the question with its conversation, for follow-ups).
    """
    seen: set[tuple[str, int, int]] = set()
    candidates: list[tuple[Chunk, int, int, str, int]] = []
    for hit in hits:
        doc = documents[hit.chunk.doc_id]
        for s, e in sentences(doc.text, hit.chunk.start, hit.chunk.end):
            key = (doc.doc_id, s, e)
            if key not in seen:
                seen.add(key)
                candidates.append((hit.chunk, s, e, doc.text[s:e], hit.rank))
    if not candidates:
        return ()
    if query and query != question:
        # A follow-up: its own words say what is asked, the conversation what about.
        vectors = embedder.embed([question, query] + [c[3] for c in candidates])
        dense = 0.5 * (vectors[2:] @ vectors[0]) + 0.5 * (vectors[2:] @ vectors[1])
    else:
        vectors = embedder.embed([question] + [c[3] for c in candidates])
        dense = vectors[1:] @ vectors[0]
    q_words = set(content_words(question))
    weights = {w: idf.get(w, max(idf.values(), default=1.0)) for w in q_words}
    total = sum(weights.values()) or 1.0
    overlaps = []
    for _, _, _, text, _ in candidates:
        words = set(content_words(text))
        overlaps.append(sum(weights[w] for w in q_words & words) / total)
    # Relevance: mostly the sentence's own match, a little of its passage's rank.
    scores = [0.6 * float(d) + 0.4 * o + 0.02 / rank for d, o, (*_, rank) in zip(dense, overlaps, candidates)]
    order = np.argsort(-np.asarray(scores), kind="stable")[:max_items]
    items = []
    for n, i in enumerate(order, start=1):
        chunk, s, e, text, _ = candidates[i]
        items.append(ContextItem(n, chunk, s, e, text, float(dense[i]), overlaps[i]))
    return tuple(items)


def idf_table(texts: Sequence[str]) -> dict[str, float]:
    """Inverse document frequency of content words over `texts`: log((N + 1) / (df + 0.5))."""
    df: dict[str, int] = {}
    for text in texts:
        for w in set(content_words(text)):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    return {w: math.log((n + 1) / (c + 0.5)) for w, c in df.items()}
