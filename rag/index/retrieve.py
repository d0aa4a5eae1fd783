"""Query -> Hits: BM25 and dense search fused by reciprocal rank fusion."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from embeddings.encoder import Embedder
from rag.index.store import CorpusIndex
from rag.settings import Fusion, RetrievalMode
from rag.types import Hit

# Metadata field -> one value, or several any of which a report may have.
Filters = Mapping[str, str | Sequence[str]]

# Reciprocal rank fusion's constant: the value of the paper that introduced it (Cormack, Clarke and
# Büttcher, 2009) and the default of RAG_RRF_K; not tuned here.
RRF_K = 60
# Linear fusion's dense weight: the default of RAG_DENSE_WEIGHT; chosen by hand.
DENSE_WEIGHT = 0.4
# Each method ranks max(DEPTH x k, MIN_DEPTH) candidates before fusion; chosen by hand.
DEPTH = 4
MIN_DEPTH = 20


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists: sum of 1 / (k + rank), rank from 1.

    Ties keep the order of first appearance.

    >>> rrf([[7, 3], [3, 9]], k=60)
    [(3, 0.03252247488101534), (7, 0.01639344262295082), (9, 0.016129032258064516)]
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def linear_fusion(
    dense: Mapping[int, float], lexical: Mapping[int, float], dense_weight: float
) -> list[tuple[int, float]]:
    """Weighted sum of each method's scores, min-max normalised over its candidates.

    A candidate missing from one method's list gets 0 from it.

    >>> linear_fusion({1: 0.9, 2: 0.5}, {2: 8.0, 3: 4.0}, dense_weight=0.4)
    [(2, 0.6), (1, 0.4), (3, 0.0)]
    """

    def norm(scores: Mapping[int, float]) -> dict[int, float]:
        if not scores:
            return {}
        lo, hi = min(scores.values()), max(scores.values())
        return {i: (s - lo) / (hi - lo) if hi > lo else 1.0 for i, s in scores.items()}

    d, b = norm(dense), norm(lexical)
    fused = {i: dense_weight * d.get(i, 0.0) + (1 - dense_weight) * b.get(i, 0.0) for i in {*d, *b}}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse(rankings: Sequence[Sequence[Hit]], k: int, rrf_k: int = RRF_K) -> list[Hit]:
    """Several ranked hit lists as one, by reciprocal rank fusion over chunk ids; ranks renumbered from 1."""
    by_id: dict[str, Hit] = {}
    ids: dict[str, int] = {}
    lists = []
    for hits in rankings:
        row = []
        for hit in hits:
            key = hit.chunk.chunk_id
            by_id.setdefault(key, hit)
            row.append(ids.setdefault(key, len(ids)))
        lists.append(row)
    names = {v: k for k, v in ids.items()}
    return [
        replace(by_id[names[i]], score=float(score), rank=rank)
        for rank, (i, score) in enumerate(rrf(lists, rrf_k)[:k], start=1)
    ]


@dataclass(frozen=True)
class Retriever:
    """Ranks an index's chunks for a query; the mode picks dense, BM25 or both."""

    index: CorpusIndex
    embedder: Embedder
    mode: RetrievalMode = RetrievalMode.HYBRID
    fusion: Fusion = Fusion.RRF
    rrf_k: int = RRF_K
    dense_weight: float = DENSE_WEIGHT
    # Each method ranks this many times k candidates before fusion.
    depth: int = DEPTH

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        """The k best chunks for `query`, optionally only from documents matching `filters`."""
        query = query.strip()
        if not query or k <= 0:
            return []
        allowed = self.rows_matching(filters) if filters else None
        if allowed is not None and allowed.size == 0:
            return []
        depth = max(k * self.depth, MIN_DEPTH)
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if self.mode in (RetrievalMode.DENSE, RetrievalMode.HYBRID):
            qvec = self.embedder.embed([query])[0]
            scores, rows = self.index.dense.search(qvec, depth, allowed)
            dense = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        if self.mode in (RetrievalMode.BM25, RetrievalMode.HYBRID):
            scores, rows = self.index.lexical.search(query, depth, allowed)
            lexical = {r: s for r, s in zip(rows.tolist(), scores.tolist(), strict=True) if s > 0}
        if self.mode is RetrievalMode.HYBRID and self.fusion is Fusion.LINEAR:
            fused = linear_fusion(dense, lexical, self.dense_weight)
        elif self.mode is RetrievalMode.HYBRID:
            fused = rrf([list(dense), list(lexical)], self.rrf_k)
        else:
            fused = list((dense or lexical).items())
        return [
            Hit(
                chunk=self.index.chunks[row],
                score=float(score),
                rank=rank,
                dense_score=dense.get(row),
                bm25_score=lexical.get(row),
            )
            for rank, (row, score) in enumerate(fused[:k], start=1)
        ]

    def rows_matching(self, filters: Filters) -> np.ndarray:
        """Sorted rows of the chunks whose document metadata matches every filter (case-insensitive).

        A filter is one value or several, any of which matches (`{"doc_id": ["a", "b"]}`: either report).

        Looks documents up by value instead of scanning every chunk, so a filter costs about
        as much as the rows it keeps.
        """
        parts = [self._rows_by_doc[d] for d in self.documents_matching(filters) if d in self._rows_by_doc]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def documents_matching(self, filters: Filters) -> list[str]:
        """Ids of the documents whose metadata matches every filter, in index order."""
        docs: set[str] | None = None
        for key, wanted in filters.items():
            table = self._docs_by_value(key)
            values = (wanted,) if isinstance(wanted, str) else wanted
            found = {doc for value in values for doc in table.get(value.casefold(), ())}
            docs = found if docs is None else docs & found
        return [d for d in self.index.documents if d in (docs or set())]

    def _docs_by_value(self, key: str) -> Mapping[str, list[str]]:
        """Document ids by their casefolded value of one metadata field, built on first use."""
        table = self._meta_tables.get(key)
        if table is None:
            table = defaultdict(list)
            for doc_id, doc in self.index.documents.items():
                table[doc.meta().get(key, "").casefold()].append(doc_id)
            self._meta_tables[key] = table
        return table

    @cached_property
    def _meta_tables(self) -> dict[str, dict[str, list[str]]]:
        return {}

    @cached_property
    def _rows_by_doc(self) -> dict[str, np.ndarray]:
        """Every document's chunk rows, computed once per index."""
        rows: dict[str, list[int]] = defaultdict(list)
        for row, chunk in enumerate(self.index.chunks):
            rows[chunk.doc_id].append(row)
        return {doc_id: np.asarray(r, dtype=np.int64) for doc_id, r in rows.items()}
