"""Retrieval latency (dense, BM25, hybrid; unfiltered and filtered) and dense recall at growing sizes.

    python -m bench.retrieval --sizes 1k,10k,100k,1M --out docs/bench/retrieval.json

Chunks are made of the shipped report's sentences (bench/corpus.py). Up to --real-max chunks
are embedded for real; above that, a chunk's vector is the mean of its sentences' real
embeddings plus noise, normalised (embedding a million chunks on 2 cores would take hours).
Queries are the answerable questions of eval/data/dev.jsonl and report_qa.jsonl. Search
latencies are measured with the query vectors computed beforehand (the index's own cost,
which is what grows with the corpus); embedding one query is timed on its own, and hybrid
search is also timed end to end with the real embedder, as `rag search` runs it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from app.indexing import make_embedder
from bench.corpus import COUNTRIES, memory_corpus, report_sentences, synthetic_vectors
from bench.stats import machine, peak_rss_mb, summarize
from eval.dataset import load_dataset
from rag.index.bm25 import LexicalIndex
from rag.index.dense import DenseIndex, top_k
from rag.index.manifest import ChunkingConfig, Manifest
from rag.index.retrieve import Retriever
from rag.index.store import CorpusIndex
from rag.settings import RetrievalMode, Settings
from tests.fakes import PrecomputedEmbedder

DATASETS = (Path("eval/data/dev.jsonl"), Path("eval/data/report_qa.jsonl"))
K = 10  # what the answer pipeline asks for


def parse_size(text: str) -> int:
    """'1k' -> 1000, '1M' -> 1000000, '2500' -> 2500.

    >>> [parse_size(s) for s in ("1k", "10K", "1M", "2500")]
    [1000, 10000, 1000000, 2500]
    """
    text = text.strip()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def questions() -> list[str]:
    return [item.question for path in DATASETS for item in load_dataset(path) if item.answerable]


def timed(fn, queries, repeat: int = 1) -> list[float]:
    """Milliseconds per call of fn(query), each query `repeat` times, after one warm-up call."""
    fn(queries[0])
    out = []
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t) * 1000)
    return out


def run_size(n: int, settings: Settings, embedder, pool, sentence_vectors, queries, real_max: int) -> dict:
    t = time.perf_counter()
    corpus = memory_corpus(n, pool)
    texts = [c.text for c in corpus.chunks]
    if n <= real_max:
        vectors = embedder.embed(texts)
        vector_source = "embedded"
    else:
        vectors = synthetic_vectors(corpus.members, sentence_vectors)
        vector_source = "synthesized"
    prepare_s = time.perf_counter() - t
    t = time.perf_counter()
    dense = DenseIndex.build(vectors, settings.retrieval.exact_search_max_chunks)
    dense_build_s = time.perf_counter() - t
    t = time.perf_counter()
    lexical = LexicalIndex.build(texts)
    bm25_build_s = time.perf_counter() - t
    manifest = Manifest(
        embedder.name, int(vectors.shape[1]), ChunkingConfig(0, 0), dense.kind, n, (), {}, {}
    )  # an index held in memory only: no inputs, no files
    index = CorpusIndex(Path("/in-memory"), manifest, corpus.documents, corpus.chunks, vectors, dense, lexical)
    row: dict = {
        "chunks": n,
        "documents": len(corpus.documents),
        "vectors": vector_source,
        "dense_kind": dense.kind,
        "prepare_s": round(prepare_s, 2),
        "dense_build_s": round(dense_build_s, 2),
        "bm25_build_s": round(bm25_build_s, 2),
        "vector_mb": round(vectors.nbytes / 2**20, 1),
    }
    qvecs = embedder.embed(queries)
    fixed = PrecomputedEmbedder(queries, qvecs, embedder.name, embedder.dim)
    row["embed_query_ms"] = asdict(summarize(timed(lambda q: embedder.embed([q]), queries)))
    for mode in RetrievalMode:
        retriever = Retriever(index, fixed, mode)
        row[f"{mode.value}_ms"] = asdict(summarize(timed(lambda q, r=retriever: r.search(q, K), queries, 3)))
    hybrid = Retriever(index, fixed)
    doc_ids = sorted(corpus.documents)
    picks = {q: doc_ids[i * 7919 % len(doc_ids)] for i, q in enumerate(queries)}
    row["hybrid_filter_report_ms"] = asdict(
        summarize(timed(lambda q: hybrid.search(q, K, {"doc_id": picks[q]}), queries, 3))
    )
    country = COUNTRIES[1]
    row["hybrid_filter_country_ms"] = asdict(
        summarize(timed(lambda q: hybrid.search(q, K, {"country": country}), queries, 3))
    )
    live = Retriever(index, embedder)
    row["hybrid_with_embedding_ms"] = asdict(summarize(timed(lambda q: live.search(q, K), queries)))
    row["filter_country_share"] = round(hybrid.rows_matching({"country": country}).size / n, 3)
    row.update(dense_recall(dense, vectors, qvecs, hybrid.rows_matching({"country": country})))
    row["peak_rss_mb"] = round(peak_rss_mb())
    return row


def dense_recall(dense: DenseIndex, vectors: np.ndarray, qvecs: np.ndarray, rows: np.ndarray) -> dict:
    """Share of the exact top-40 (the hybrid candidate depth for k=10) that the index returns."""
    depth = max(4 * K, 20)
    found = found_filtered = 0
    for q in qvecs:
        exact = set(top_k(vectors @ q, depth)[1].tolist())
        found += len(exact & set(dense.search(q, depth)[1].tolist()))
        exact_f = set(top_k(vectors[rows] @ q, depth, rows)[1].tolist())
        found_filtered += len(exact_f & set(dense.search(q, depth, rows)[1].tolist()))
    total = depth * len(qvecs)
    return {
        "dense_recall_at_40": round(found / total, 4),
        "dense_recall_filtered_at_40": round(found_filtered / total, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M")
    parser.add_argument("--real-max", type=int, default=1000, help="embed for real up to this many chunks")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/retrieval.json"))
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings)
    pool = report_sentences()
    sentence_vectors = embedder.embed(pool)
    queries = questions()
    rows = []
    for size in [parse_size(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"retrieval: {size} chunks ...", flush=True)
        row = run_size(size, settings, embedder, pool, sentence_vectors, queries, args.real_max)
        print(json.dumps(row), flush=True)
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "queries": len(queries), "k": K, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
