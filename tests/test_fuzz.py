"""Property-based tests: the chunker and the citation resolver on arbitrary text.

Invariants: offsets are exact (`doc.text[start:end] == text`), chunks cover the indexed
text in order, every quote is `doc.text[quote_start:quote_end]`, and nothing raises.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.ingest.chunk import chunk_document
from rag.ingest.files import content_spans
from rag.ingest.sentences import paragraphs, sentences
from rag.schema import QuestionError, check_question
from rag.text import MARKER
from rag.types import Document
from tests.fakes import assert_exact_ordered_chunks, uncovered

# Pieces that exercise the rules: initialisms, abbreviations, furniture lines, headings,
# markers, quotes, odd whitespace and non-ASCII letters.
PIECES = [
    "The",
    "camps",
    "North Korea",
    "D. P. R. K.",
    "P. R. C.",
    "U.S.",
    "Art.",
    "Mr.",
    "e.g.",
    "2007",
    "150,000",
    ".",
    "?",
    "!",
    "...",
    ",",
    '"',
    "\u201c",
    "\u201d",
    "(",
    ")",
    "[1]",
    "[2, 3]",
    "[",
    "]",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    " ",
    "\u00a0",
    "\u2028",
    "\x0b",
    "\x0c",
    "Last Updated: 2007\n",
    "Search Refworld\n",
    "Cite as x\n",
    "# Heading\n\n",
    "Overseas work\n\n",
    "Publisher Some Ministry\n",
    "not",
    "no",
    "é",
    "İ",
    "ß",
    "\U0001f600",
]
report_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=120).map(" ".join)
any_text = st.text(max_size=400) | report_text
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def doc_of(text: str) -> Document:
    return Document(doc_id="d", text=text, spans=tuple(content_spans(text)), title="T", country="North Korea")


def assert_ordered_trimmed_spans(text: str, spans: list[tuple[int, int]], start: int, end: int) -> None:
    for s, e in spans:
        assert start <= s < e <= end
        assert not text[s].isspace() and not text[e - 1].isspace()
    for (_, e1), (s2, _) in pairwise(spans):
        assert e1 <= s2
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(covered.split()) == "".join(text[start:end].split())


@FUZZ
@given(any_text)
@example("Heading\nLast Updated: x\nBody text.")
@example("a.\u2028B")
def test_sentences_and_paragraphs_partition_any_text(text):
    assert_ordered_trimmed_spans(text, paragraphs(text), 0, len(text))
    for p_start, p_end in paragraphs(text):
        assert_ordered_trimmed_spans(text, sentences(text, p_start, p_end), p_start, p_end)
    assert_ordered_trimmed_spans(text, sentences(text), 0, len(text))


@FUZZ
@given(any_text, st.integers(20, 700), st.integers(0, 3))
@example("Heading\nLast Updated: x\nBody text.", 600, 1)
@example("Overseas work\n\nSearch Refworld\nWorkers go abroad.", 600, 1)
def test_chunks_are_exact_ordered_and_cover_the_indexed_text(text, max_chars, overlap):
    doc = doc_of(text)
    chunks = chunk_document(doc, max_chars=max_chars, overlap=overlap)
    assert_exact_ordered_chunks(doc, chunks, max_chars)
    for c in chunks:
        # Furniture between spans is never indexed: a chunk lies inside one span.
        assert any(s <= c.start and c.end <= e for s, e in doc.spans), (c.start, c.end, doc.spans)
    assert [c.end for c in chunks] == sorted(c.end for c in chunks)
    assert [c.paragraph for c in chunks] == sorted(c.paragraph for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert uncovered(doc, chunks) == []


def drafts(source_text: str):
    """Answer drafts: arbitrary text, or sentences taken from the source, with markers of any number."""
    marker = st.integers(0, 12).map(lambda n: f" [{n}]")
    copied = st.sampled_from([source_text[s:e] for s, e in sentences(source_text)] or ["Nothing."])
    piece = st.tuples(copied | any_text, st.lists(marker, max_size=2).map("".join), st.sampled_from(["", ".", " "]))
    return st.lists(piece, max_size=4).map(lambda parts: " ".join(a + m + p for a, m, p in parts))


@FUZZ
@given(st.text(max_size=300), st.integers(10, 200))
def test_check_question_cleans_or_refuses(question, limit):
    try:
        cleaned = check_question(question, limit)
    except QuestionError as err:
        assert "empty" in str(err) or f"the limit is {limit}" in str(err)
        return
    assert cleaned and cleaned == cleaned.strip() and len(cleaned) <= limit
    assert all(ch.isprintable() or ch in "\n\t" for ch in cleaned)


@pytest.fixture(scope="module")
def report_pipeline(tmp_path_factory):
    from rag.index.store import ChunkingConfig, build_index
    from tests.fakes import REPORT_PATH, HashEmbedder, fake_pipeline_over

    index = build_index(tmp_path_factory.mktemp("idx"), [REPORT_PATH], HashEmbedder(), ChunkingConfig(600, 1)).index
    return fake_pipeline_over(index, "x")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=any_text,
    chosen=st.sampled_from(["", "0", "1", "2, 3", "9", "NONE"]),
    draft=report_text,
    history=st.lists(st.text(max_size=50), max_size=3),
)
@example(question="\x00\x01\x02", chosen="", draft="", history=[])
@example(question="x" * 100_000, chosen="1", draft="", history=[])
@example(
    question="What work? \udcff", chosen="1", draft="Inmates do logging, mining, and tending crops.", history=["\udcff"]
)
def test_the_pipeline_answers_or_refuses_any_question(report_pipeline, question, chosen, draft, history):
    from dataclasses import replace

    from tests.fakes import ScriptedGenerator

    pipeline = replace(report_pipeline, generator=ScriptedGenerator(f"{chosen}\n{draft}"))
    turns = [{"role": "user", "content": h} for h in history]
    try:
        answer = pipeline.answer(question, turns)
    except QuestionError as err:
        assert "empty" in str(err) or "the limit is 2000" in str(err)
        return
    documents = pipeline.retriever.index.documents
    for c in answer.citations:
        assert documents[c.chunk.doc_id].text[c.quote_start : c.quote_end] == c.quote
        assert f"[{c.n}]" in answer.text
    if answer.abstained:
        assert answer.citations == ()
    for m in MARKER.finditer(answer.text):
        for n in m.group(1).split(","):
            assert int(n) in {c.n for c in answer.citations}
