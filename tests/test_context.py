from rag.answer.context import Vocabulary, idf_table, select_context, word_overlap
from rag.index.retrieve import Retriever
from rag.index.store import ChunkingConfig, build_index
from rag.ingest.fields import header_lines
from rag.text import content_words
from tests.fakes import REPORT_PATH, HashEmbedder


def test_content_words_fold_stem_and_drop_stopwords():
    assert content_words("The D. P. R. K. convicted traffickers") == ["dprk", "convict", "traffick"]


def test_idf_is_higher_for_rarer_words():
    idf = idf_table(["camps labor", "camps brides", "camps protocol"])
    assert idf["protocol"] > idf["camp"]


def index_of(tmp_path):
    embedder = HashEmbedder()
    index = build_index(tmp_path, [REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    vocabulary = Vocabulary(idf_table([c.text for c in index.chunks]))
    return index, embedder, vocabulary


def test_selects_the_matching_sentences_with_exact_offsets(tmp_path):
    index, embedder, vocabulary = index_of(tmp_path)
    question = "Which European country ended its program for North Korean workers?"
    hits = Retriever(index, embedder).search(question, 5)
    ctx = select_context(question, hits, index.documents, embedder, vocabulary, max_items=3)
    assert [it.n for it in ctx] == [1, 2, 3]
    assert "Czech Ministry of Interior" in ctx[0].text
    assert ctx[0].score >= ctx[1].score >= ctx[2].score
    text = REPORT_PATH.read_text()
    for it in ctx:
        assert text[it.start : it.end] == it.text
        assert it.chunk.start <= it.start < it.end <= it.chunk.end
    assert len({(it.start, it.end) for it in ctx}) == 3  # overlapping chunks give no duplicates


def test_misspelt_words_count_as_found(tmp_path):
    _, _, vocabulary = index_of(tmp_path)
    sentence = "Fair and transparent trials do not occur in the D. P. R. K."
    typed = vocabulary.known(content_words("are triels fair and transparant"))
    assert word_overlap(typed, sentence, vocabulary) == 1.0
    assert word_overlap(content_words("are triels fair and transparant"), sentence, vocabulary) < 1.0


def test_header_lines_are_candidates_matched_by_what_they_are(tmp_path):
    index, embedder, vocabulary = index_of(tmp_path)
    doc = next(iter(index.documents.values()))
    header = {doc.doc_id: header_lines(doc, index.chunks)}
    question = "who is the publisher"
    hits = Retriever(index, embedder).search(question, 5)
    ctx = select_context(question, hits, index.documents, embedder, vocabulary, 3, header=header)
    assert ctx[0].field == "publisher" and ctx[0].text == "Publisher United States Department of State"
    without = select_context(
        question, hits, index.documents, embedder, vocabulary, 20, header=header, header_lines=False
    )
    assert not any(it.field for it in without)
    assert not any("Publisher" in it.text for it in without)  # nor quoted as a plain sentence
