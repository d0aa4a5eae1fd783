import pytest

from rag.index.retrieve import Retriever, rrf
from rag.index.store import ChunkingConfig, build_index
from rag.settings import RetrievalMode
from tests.fakes import write


@pytest.fixture
def index(tmp_path, embedder):
    folder = tmp_path / "docs"
    write(folder, "a.txt", "Report A\n\nPrison camps hold political prisoners.\n\nWorkers are sent to Russia.")
    write(folder, "b.txt", "Report B\n\nCountry B has prison camps too.\n\nFishermen work at sea.")
    write(folder, "b.txt.meta.json", '{"country": "Country B"}')
    return build_index(tmp_path / "index", [folder], embedder, ChunkingConfig(200, 0)).index


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], k=1)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 2 + 1 / 3)


@pytest.mark.parametrize("mode", list(RetrievalMode))
def test_each_mode_ranks_the_matching_passage_first(index, embedder, mode):
    hits = Retriever(index, embedder, mode).search("which workers are sent to Russia", k=2)
    assert hits[0].chunk.text.startswith("Workers are sent to Russia")
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


@pytest.mark.parametrize("k", [1, 2, 4, 10])
def test_hybrid_returns_min_of_k_and_n(index, embedder, k):
    hits = Retriever(index, embedder).search("prison camps workers sea report country", k=k)
    assert len(hits) == min(k, len(index.chunks))


def test_hybrid_hits_carry_both_scores(index, embedder):
    hit = Retriever(index, embedder).search("prison camps political prisoners", k=1)[0]
    assert hit.chunk.text == "Report A\n\nPrison camps hold political prisoners."
    assert hit.dense_score is not None and hit.dense_score > 0
    assert hit.bm25_score is not None and hit.bm25_score > 0


def test_metadata_filter_keeps_one_report(index, embedder):
    hits = Retriever(index, embedder).search("prison camps", k=5, filters={"country": "country b"})
    assert hits and {h.chunk.title for h in hits} == {"Report B"}
    assert Retriever(index, embedder).search("prison", k=5, filters={"country": "Nowhere"}) == []


def test_blank_query_returns_nothing(index, embedder):
    assert Retriever(index, embedder).search("   ", k=5) == []


def test_linear_fusion_mixes_normalised_scores(index, embedder):
    from rag.index.retrieve import linear_fusion
    from rag.settings import Fusion

    assert linear_fusion({}, {5: 2.0}, 0.4) == [(5, 0.6)]
    hits = Retriever(index, embedder, fusion=Fusion.LINEAR).search("workers sent to Russia", k=2)
    assert hits[0].chunk.text.startswith("Workers are sent to Russia")
    assert hits[0].score >= hits[1].score


def test_filters_combine_and_match_whole_values(index, embedder):
    retriever = Retriever(index, embedder)
    b_doc = next(d for d in index.documents.values() if d.country == "Country B")
    both = retriever.search("prison camps", k=5, filters={"country": "COUNTRY B", "doc_id": b_doc.doc_id})
    assert both and {h.chunk.doc_id for h in both} == {b_doc.doc_id}
    assert retriever.search("prison camps", k=5, filters={"country": "Country"}) == []
    assert retriever.search("prison camps", k=5, filters={"country": "Country B", "title": "Report A"}) == []


def test_a_filter_with_several_values_keeps_any_of_those_reports(index, embedder):
    retriever = Retriever(index, embedder)
    ids = sorted(index.documents)
    both = retriever.search("prison camps workers", k=len(index.chunks), filters={"doc_id": ids})
    assert {h.chunk.doc_id for h in both} == set(ids)
    one = retriever.search("prison camps workers", k=len(index.chunks), filters={"doc_id": [ids[0], "unknown"]})
    assert one and {h.chunk.doc_id for h in one} == {ids[0]}
    assert retriever.search("prison", k=5, filters={"doc_id": ["unknown"]}) == []


def test_filtered_rows_are_exactly_the_matching_documents_chunks(index, embedder):
    retriever = Retriever(index, embedder)
    for doc_id in index.documents:
        rows = retriever.rows_matching({"doc_id": doc_id}).tolist()
        assert rows == [i for i, c in enumerate(index.chunks) if c.doc_id == doc_id]


@pytest.mark.parametrize("mode", [RetrievalMode.DENSE, RetrievalMode.BM25])
def test_filtered_search_is_the_full_ranking_restricted_to_the_report(index, embedder, mode):
    retriever = Retriever(index, embedder, mode)
    b_doc = next(d for d in index.documents.values() if d.country == "Country B")
    query = "prison camps fishermen at sea"
    everything = retriever.search(query, k=len(index.chunks))
    expected = [h.chunk.chunk_id for h in everything if h.chunk.doc_id == b_doc.doc_id]
    filtered = retriever.search(query, k=len(index.chunks), filters={"doc_id": b_doc.doc_id})
    assert expected and [h.chunk.chunk_id for h in filtered] == expected
