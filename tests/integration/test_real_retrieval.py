"""The real packaged MiniLM on the real report: the right passage ranks first."""

from pathlib import Path

import pytest

from embeddings.encoder import load_embedder
from embeddings.errors import ModelLoadError
from eval.dataset import load_dataset
from eval.retrieval import items_with_evidence, score_passages
from rag.answer.conversation import retrieval_query
from rag.index.retrieve import Retriever
from rag.index.store import ChunkingConfig, build_index
from rag.settings import Fusion, RetrievalMode, Settings
from tests.fakes import REPORT_PATH

DEV_SET = Path(__file__).parents[2] / "eval" / "data" / "dev.jsonl"


@pytest.fixture(scope="module")
def minilm(real_embedder):
    return real_embedder


@pytest.fixture(scope="module")
def index(minilm, tmp_path_factory):
    defaults = Settings()
    chunking = ChunkingConfig(defaults.chunk_chars, defaults.chunk_overlap)
    return build_index(tmp_path_factory.mktemp("idx"), [REPORT_PATH], minilm, chunking).index


def test_packaged_embedder_gives_unit_vectors(minilm):
    vectors = minilm.embed(["forced labor in prison camps", "brides sold in China"])
    assert vectors.shape == (2, 384)
    assert abs(float((vectors**2).sum(axis=1)[0]) - 1.0) < 1e-4
    assert float(vectors[0] @ vectors[1]) < 0.9


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What work are prison camp inmates forced to do?", "logging, mining, and tending crops"),
        ("Which European country ended its program for North Korean workers?", "Czech Ministry of Interior"),
        ("What does Article 50 of the Penal Code criminalize?", "Article 50 of the Penal Code"),
        ("Has North Korea ratified the UN TIP Protocol?", "has not ratified the 2000 UN TIP Protocol"),
        ("Who published the report?", "Publisher United States Department of State"),
        ("in which countries do north korean laborers work abroad", "Russia, the Czech Republic, Poland"),
    ],
)
@pytest.mark.parametrize("mode", [RetrievalMode.HYBRID, RetrievalMode.DENSE])
def test_right_passage_ranks_first(index, minilm, question, expected, mode):
    hits = Retriever(index, minilm, mode).search(question, k=5)
    assert expected in hits[0].chunk.text, [h.chunk.text[:80] for h in hits]


@pytest.mark.parametrize("fusion", list(Fusion))
def test_paraphrased_question_finds_its_passage_near_the_top(index, minilm, fusion):
    hits = Retriever(index, minilm, RetrievalMode.HYBRID, fusion=fusion).search(
        "How many people are held in the prison camps?", k=3
    )
    assert any("150,000 to 200,000" in h.chunk.text for h in hits)


def test_every_dev_evidence_quote_is_in_the_hybrid_top_5(index, minilm):
    retriever = Retriever(index, minilm, RetrievalMode.HYBRID)
    for item in items_with_evidence(load_dataset(DEV_SET)):
        hits = retriever.search(retrieval_query(item.question, item.history), k=5)
        assert score_passages([h.chunk.text for h in hits], item.evidence).recall_at(5) == 1.0, item.id


def test_unknown_embedder_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="RAG_EMBEDDER_MODEL"):
        load_embedder(str(tmp_path / "no-such-model"))
