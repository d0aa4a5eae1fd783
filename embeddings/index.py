"""A FAISS inner-product index over unit vectors: exact by default, HNSW when large."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128


class DenseIndex:
    """Nearest neighbours by cosine similarity (inner product of unit vectors)."""

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def build(cls, vectors: np.ndarray, exact_max: int = 200_000) -> DenseIndex:
        """Exact search up to `exact_max` rows; HNSW (approximate, much faster) above."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        index: Any
        if n <= exact_max:
            index = faiss.IndexFlatIP(dim)
            kind = "flat"
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = HNSW_EF_SEARCH
            kind = "hnsw"
        if n:
            index.add(vectors)
        return cls(index, kind)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k best rows for one query vector, best first.

        `allowed` is an optional boolean mask over rows; rows outside it are never returned.
        Fewer than k results come back when fewer rows exist (or are allowed).
        """
        import faiss

        if self.size == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params: Any = None
        if allowed is not None:
            ids = np.flatnonzero(allowed).astype(np.int64)
            if ids.size == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            selector = faiss.IDSelectorBatch(ids)
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)  # type: ignore[attr-defined]
            else:
                params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, rows = self._index.search(q, min(k, self.size), params=params)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep].astype(np.int64)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, mmap: bool = False) -> DenseIndex:
        import faiss

        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        kind = "hnsw" if isinstance(index, faiss.IndexHNSWFlat) else "flat"
        return cls(index, kind)
