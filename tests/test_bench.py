"""The benchmarks' non-timing logic: percentiles, synthetic corpora, sizes and tables."""

import json

import numpy as np
import pytest

from bench.corpus import COUNTRIES, memory_corpus, report_sentences, synthetic_report, synthetic_vectors, write_reports
from bench.report import size_label, table
from bench.retrieval import parse_size
from bench.stats import percentile, summarize
from rag.index.retrieve import Retriever
from rag.index.store import ChunkingConfig, build_index, load_index


@pytest.mark.parametrize("q", [0, 10, 50, 90, 95, 100])
def test_percentile_matches_numpy(q):
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_refuses_nothing_and_out_of_range():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    assert summarize([4.0]).p95 == 4.0


def test_sizes_round_trip():
    for text in ("1k", "10k", "100k", "1M", "2500"):
        assert size_label(parse_size(text)) == text
    assert table(["x"], [[None]]).splitlines()[-1] == "| – |"


def test_report_sentences_are_body_sentences_of_the_shipped_report(report):
    pool = report_sentences()
    assert len(pool) > 20
    assert all(s in report.text and s.endswith(".") for s in pool)
    assert not any(s.startswith(("Publisher", "Author", "Publication Date")) for s in pool)


def test_synthetic_reports_are_deterministic_and_use_only_report_sentences():
    pool = report_sentences()
    one = synthetic_report(7, pool)
    assert one == synthetic_report(7, pool)
    assert one != synthetic_report(8, pool)
    assert one != synthetic_report(7, pool, seed=1)
    body = one.split(f"(Tier {1 + 7 % 3})\n\n", 1)[1]
    assert all(body.count(s) == 1 for s in pool)
    rest = body
    for s in sorted(pool, key=len, reverse=True):
        rest = rest.replace(s, "")
    assert rest.strip() == ""


def test_memory_corpus_offsets_are_exact_and_deterministic():
    pool = report_sentences()
    corpus = memory_corpus(105, pool, seed=3, per_doc=20)
    assert len(corpus.chunks) == 105 and len(corpus.documents) == 6
    assert memory_corpus(105, pool, seed=3, per_doc=20) == corpus
    for chunk, members in zip(corpus.chunks, corpus.members, strict=True):
        doc = corpus.documents[chunk.doc_id]
        assert doc.text[chunk.start : chunk.end] == chunk.text == " ".join(pool[i] for i in members)
        assert chunk.title == doc.title and doc.country in COUNTRIES


def test_synthetic_vectors_are_unit_deterministic_and_near_their_sentences():
    rng = np.random.default_rng(0)
    sentence_vectors = rng.normal(size=(10, 32)).astype(np.float32)
    sentence_vectors /= np.linalg.norm(sentence_vectors, axis=1, keepdims=True)
    members = [(0, 1), (2, 3, 4), (5,)]
    vectors = synthetic_vectors(members, sentence_vectors, noise=0.1)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, synthetic_vectors(members, sentence_vectors, noise=0.1))
    assert int(np.argmax(sentence_vectors @ vectors[2])) == 5


def test_many_reports_filter_by_country_and_reuse_vectors_when_one_changes(tmp_path, embedder):
    folder = tmp_path / "reports"
    paths = write_reports(folder, 12, report_sentences())
    first = build_index(tmp_path / "index", [folder], embedder, ChunkingConfig(600, 1)).index
    assert len(first.documents) == 12
    hits = Retriever(first, embedder).search("forced labor camps", k=5, filters={"country": COUNTRIES[3]})
    titles = {h.chunk.title for h in hits}
    assert titles == {f"Synthetic Report 00003 - {COUNTRIES[3]}"}
    paths[0].write_text(paths[0].read_text(encoding="utf-8") + "\nA sentence added later.\n", encoding="utf-8")
    again = build_index(
        tmp_path / "index", [folder], embedder, ChunkingConfig(600, 1), previous=load_index(tmp_path / "index")
    )
    changed = [c for c in again.index.chunks if c.doc_id not in first.documents]
    assert changed and again.embedded == len(changed)
    assert again.reused == len(again.index.chunks) - len(changed)


def test_answer_summary_medians_and_ratios():
    from bench.answer import summary

    rows = [
        {"sources_s": 0.1, "total_s": 2.0, "model_s": 1.5, "model_calls": 4, "abstained": False},
        {"sources_s": 0.3, "total_s": 1.0, "model_s": 0.5, "model_calls": 2, "abstained": True},
        {"sources_s": None, "total_s": 0.2, "model_s": 0.0, "model_calls": 0, "abstained": True},
    ]
    s = summary(rows)
    assert s["answers"] == 3 and s["abstained"] == 2
    assert s["sources_s"]["p50"] == pytest.approx(0.2) and s["total_s"]["p50"] == pytest.approx(1.0)
    assert s["model_share_median"] == pytest.approx(0.5)  # 0.75, 0.5, 0.0
    assert s["sources_share_median"] == pytest.approx((0.05 + 0.3) / 2)
    assert s["model_calls"]["mean"] == pytest.approx(2.0)


@pytest.mark.postgres
@pytest.mark.parametrize("exact_max", [1000, 100])
def test_store_search_runs_the_same_queries_on_both_stores(pg_url, exact_max, tmp_path):
    from bench.report import write
    from bench.store_search import run_size

    row = run_size(300, pg_url, exact_max, n_queries=25)
    kind = "flat" if exact_max >= 300 else "hnsw"
    assert row["faiss_kind"] == row["pg_kind"] == kind and row["queries"] == 25
    for key in ("dense", "hybrid", "hybrid_country"):
        assert row[f"{key}_faiss_ms"]["n"] == row[f"{key}_pg_ms"]["n"] == 25
    if kind == "flat":
        # Both exact on vectors without ties: the same rows in the same order.
        assert row["faiss_recall_at_10"] == row["pg_recall_at_10"] == row["pg_faiss_overlap_at_10"] == 1.0
        assert row["hybrid_same_order"] == row["hybrid_country_same_order"] == 1.0
    else:
        assert row["pg_recall_at_10"] >= 0.9 and row["pg_faiss_overlap_at_10"] >= 0.9
    data = {"machine": {"load_avg": "0.5"}, "postgres": {}, "exact_max": exact_max, "k": 10, "depth": 40}
    (tmp_path / "store_search.json").write_text(json.dumps(data | {"rows": [row]}), encoding="utf-8")
    write(tmp_path, tmp_path / "bench.md", tmp_path / "bench.png")
    text = (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert "## Search: embedded store (FAISS) and shared store" in text
    assert f"| 300 | {kind} / {kind} | hybrid, filter: country |" in text


@pytest.mark.postgres
def test_full_text_search_ranks_the_store_chunks_that_share_the_question_words(pg_url, corpus, tmp_path):
    from bench.store_lexical import FullTextSearch, add_text_index
    from rag.index.postgres import current_build_id, write_build
    from rag.pg import Pool
    from tests.fakes import HashEmbedder

    index = build_index(tmp_path / "index", [corpus], HashEmbedder(), ChunkingConfig(max_chars=200, overlap=0)).index
    write_build(pg_url, index.manifest, list(index.documents.values()), list(index.chunks), index.vectors)
    pool = Pool(pg_url)
    build = current_build_id(pool)
    assert build is not None
    add_text_index(pool, build)
    search = FullTextSearch(pool, build, "ts_rank")
    texts = [c.text for c in index.chunks]
    camps = next(i for i, t in enumerate(texts) if "Prison camps" in t)
    work = next(i for i, t in enumerate(texts) if "Russia" in t)
    # Stemmed and OR-ed: "workers" and "wage" find the overseas-work chunk, "camp" the camps one.
    scores, rows = search.search("Which camp? Are the workers paid a wage?", 5)
    assert set(rows.tolist()) >= {camps, work} and rows[0] == work and scores[0] >= scores[-1] > 0
    assert search.search("Which camp?", 5, allowed=np.array([work]))[1].size == 0
    assert search.search("zebra", 5)[1].size == 0
    with pytest.raises(ValueError, match="unknown ranker"):
        FullTextSearch(pool, build, "bm42")
    pool.close()
