"""A FAISS inner-product index over unit vectors: exact by default, HNSW when large."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# Exact search up to this many rows when a caller gives none (the default of RAG_EXACT_SEARCH_MAX_CHUNKS):
# one exact query took ~0.9 ms at 10k, ~5 ms at 50k and ~46 ms at 100k vectors (docs/scaling.md).
EXACT_MAX = 50_000
# HNSW's links per node, its build-time and search-time breadth: chosen by hand; docs/scaling.md measures the
# recall they give (0.96 of the exact top 40 at 100k chunks, 0.84 at 1M).
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# A filter that leaves at most this many rows is answered by scoring exactly those rows:
# cheaper than a FAISS pass over every row with a selector, and exact even on HNSW. Chosen by hand.
SUBSET_SCAN_MAX = 20_000


class DenseSearch(Protocol):
    """What retrieval asks of a dense index: FAISS in process (DenseIndex) or pgvector (PgDenseIndex)."""

    kind: str

    @property
    def size(self) -> int: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


class DenseIndex:
    """Nearest neighbours by cosine similarity (inner product of unit vectors)."""

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def build(cls, vectors: np.ndarray, exact_max: int = EXACT_MAX) -> DenseIndex:
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
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
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

        `allowed` optionally restricts the rows: a boolean mask over rows or an array of row ids.
        Fewer than k results come back when fewer rows exist (or are allowed).
        """
        empty = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if self.size == 0 or k <= 0:
            return empty
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params: Any = None
        if allowed is not None:
            ids = allowed_rows(allowed)
            if ids.size == 0:
                return empty
            if ids.size <= SUBSET_SCAN_MAX:
                # einsum runs in this thread: BLAS's thread pool only waits on a busy machine.
                return top_k(np.einsum("ij,j->i", self.vectors()[ids], q[0]), k, ids)
            params = self._selector_params(ids)
        with one_thread():
            scores, rows = self._index.search(q, min(k, self.size), params=params)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep].astype(np.int64)

    def _selector_params(self, ids: np.ndarray) -> Any:
        import faiss

        selector = faiss.IDSelectorBatch(ids)
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)  # type: ignore[attr-defined]
        return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]

    def vectors(self) -> np.ndarray:
        """The stored vectors as an (n, dim) array viewing FAISS's own memory (no copy)."""
        import faiss

        flat: Any = faiss.downcast_index(self._index.storage) if self.kind == "hnsw" else self._index
        return faiss.rev_swig_ptr(flat.get_xb(), self.size * flat.d).reshape(self.size, flat.d)

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


@contextmanager
def one_thread() -> Iterator[None]:
    """Run FAISS with one OpenMP thread in the calling thread, then restore the setting.

    One query gains nothing from splitting, and on a busy machine OpenMP threads wait on each
    other: an exact search over 10,000 vectors took 21 ms with 2 threads and 0.7 ms with one.
    OpenMP keeps the setting per thread, so concurrent searches do not disturb each other.
    """
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def allowed_rows(allowed: np.ndarray) -> np.ndarray:
    """Row ids from a boolean mask or an array of row ids.

    >>> allowed_rows(np.array([True, False, True])).tolist(), allowed_rows(np.array([4, 1])).tolist()
    ([0, 2], [4, 1])
    """
    if allowed.dtype == bool:
        return np.flatnonzero(allowed).astype(np.int64)
    return np.asarray(allowed, dtype=np.int64)


def top_k(scores: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the k highest scores, best first; ties keep the lower position first.

    `ids` names each score's row (default: its position).

    >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3)
    (array([0.9, 0.9, 0.5], dtype=float32), array([1, 3, 2]))
    """
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    rows = top if ids is None else ids[top]
    return scores[top].astype(np.float32), rows.astype(np.int64)
