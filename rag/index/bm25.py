"""BM25 over chunk texts (the bm25s library), with stemming and initialism folding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.index.dense import allowed_rows, top_k
from rag.language import BM25_STOPWORDS
from rag.text import fold_initialisms, stemmer


class LexicalIndex:
    """Okapi BM25 scores for a fixed list of texts."""

    def __init__(self, model: object) -> None:
        self._model = model

    @staticmethod
    def _tokenize(texts: Sequence[str]) -> list[list[str]]:
        import bm25s

        folded = [fold_initialisms(t) for t in texts]
        return bm25s.tokenize(
            folded, stopwords=BM25_STOPWORDS, stemmer=stemmer(), return_ids=False, show_progress=False
        )

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        if texts:
            model.index(cls._tokenize(texts), show_progress=False)
        return cls(model)

    @property
    def size(self) -> int:
        scores = getattr(self._model, "scores", None)
        return int(scores["num_docs"]) if scores else 0

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k best-scoring texts, best first; rows scoring 0 are left out.

        `allowed` optionally restricts the rows: a boolean mask over rows or an array of row ids.
        """
        empty = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if self.size == 0 or k <= 0:
            return empty
        tokens = self._tokenize([query])[0]
        ids = self._model.get_tokens_ids(tokens)  # type: ignore[attr-defined]
        if not ids:
            return empty
        scores = self._model.get_scores_from_ids(ids)  # type: ignore[attr-defined]
        rows = None
        if allowed is not None:
            rows = allowed_rows(allowed)
            scores = scores[rows]
        best, top = top_k(scores, k, rows)
        keep = best > 0
        return best[keep], top[keep]

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), show_progress=False)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False))
