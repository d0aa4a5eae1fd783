from rag.context import idf_table, select_context
from rag.retrieve import Retriever
from rag.store import ChunkingConfig, build_index
from rag.text import content_words
from tests.fakes import REPORT_PATH, HashEmbedder


def test_content_words_fold_stem_and_drop_stopwords():
    assert content_words("The D. P. R. K. convicted traffickers") == ["dprk", "convict", "traffick"]


def test_idf_is_higher_for_rarer_words():
    idf = idf_table(["camps labor", "camps brides", "camps protocol"])
    assert idf["protocol"] > idf["camp"]


def test_selects_the_matching_sentences_with_exact_offsets(tmp_path):
    embedder = HashEmbedder()
    index = build_index(tmp_path, [REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    question = "Which European country ended its program for North Korean workers?"
    hits = Retriever(index, embedder).search(question, 5)
    idf = idf_table([c.text for c in index.chunks])
    ctx = select_context(question, hits, index.documents, embedder, idf, max_items=3)
    assert [it.n for it in ctx] == [1, 2, 3]
    assert "Czech Ministry of Interior" in ctx[0].text
    text = REPORT_PATH.read_text()
    for it in ctx:
        assert text[it.start : it.end] == it.text
        assert it.chunk.start <= it.start < it.end <= it.chunk.end
    assert len({(it.start, it.end) for it in ctx}) == 3  # overlapping chunks give no duplicates
