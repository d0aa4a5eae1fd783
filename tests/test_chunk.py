from dataclasses import replace
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.ingest.chunk import chunk_document, chunk_id
from rag.ingest.files import content_spans
from rag.ingest.pdf import pdf_prose
from rag.types import Document
from tests.fakes import assert_exact_ordered_chunks, uncovered
from tests.pdfs import REPORT_PAGE_STARTS, REPORT_TEXT


def doc_of(text: str, doc_id: str = "d") -> Document:
    return Document(doc_id=doc_id, text=text, spans=tuple(content_spans(text)), title="T")


def test_offsets_are_exact_on_the_report(report):
    chunks = chunk_document(report, max_chars=600, overlap=1)
    assert len(chunks) > 5
    for c in chunks:
        assert report.text[c.start : c.end] == c.text


def test_chunks_cover_the_report_body_without_gaps(report):
    for size, overlap in [(200, 0), (400, 1), (600, 1), (1000, 2)]:
        chunks = chunk_document(report, max_chars=size, overlap=overlap)
        assert uncovered(report, chunks) == []


def test_furniture_is_not_in_any_chunk(report):
    text = " ".join(c.text for c in chunk_document(report))
    assert "Search Refworld" not in text
    assert "Last Updated" not in text
    assert "Publisher United States Department of State" in text
    assert "North Korea has not ratified the 2000 UN TIP Protocol." in text


def test_no_chunk_exceeds_the_size(report):
    for size in (100, 300, 600):
        assert max(len(c.text) for c in chunk_document(report, max_chars=size, overlap=1)) <= size


def test_overlap_repeats_exactly_the_configured_sentences():
    text = "One one one. Two two two. Three three. Four four four."
    chunks = chunk_document(doc_of(text), max_chars=26, overlap=1)
    assert [c.text for c in chunks] == ["One one one. Two two two.", "Two two two. Three three.", "Four four four."]


def test_overlap_never_yields_a_window_contained_in_the_previous_one(report):
    for size in (150, 300, 600):
        chunks = chunk_document(report, max_chars=size, overlap=2)
        for a, b in pairwise(chunks):
            assert b.end > a.end


def test_no_overlap_means_disjoint_chunks(report):
    chunks = chunk_document(report, max_chars=400, overlap=0)
    for a, b in pairwise(chunks):
        assert a.end <= b.start


def test_chunks_stay_within_paragraphs_and_number_them():
    text = "First para one. First para two.\n\nSecond para.\n\nHeading\n\nThird para after a heading."
    chunks = chunk_document(doc_of(text), max_chars=1000)
    assert [(c.paragraph, c.text) for c in chunks] == [
        (1, "First para one. First para two."),
        (2, "Second para."),
        (3, "Heading\n\nThird para after a heading."),
    ]


def test_ids_are_stable_and_depend_on_place_and_content(report):
    a = chunk_document(report)
    b = chunk_document(report)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    assert chunk_id("d", 0, 5, "Hello") != chunk_id("d", 1, 6, "Hello")
    assert chunk_id("d", 0, 5, "Hello") != chunk_id("e", 0, 5, "Hello")
    moved = replace(report, doc_id="other")
    assert chunk_document(moved)[0].chunk_id != a[0].chunk_id


def test_a_huge_sentence_is_cut_at_whitespace():
    text = " ".join(["word"] * 1000)
    chunks = chunk_document(doc_of(text), max_chars=100, overlap=0)
    assert all(len(c.text) <= 100 for c in chunks)
    assert uncovered(doc_of(text), chunks) == []


words = st.sampled_from(["alpha", "Beta", "P. R. C.", "U.S.", "end.", "Why?", "x" * 150, "\n", "\n\n", "Heading\n\n"])


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=80), st.integers(30, 400), st.integers(0, 3))
def test_invariants_on_generated_text(parts, size, overlap):
    text = " ".join(parts)
    doc = doc_of(text)
    chunks = chunk_document(doc, max_chars=size, overlap=overlap)
    assert_exact_ordered_chunks(doc, chunks, size)
    assert uncovered(doc, chunks) == []


def test_chunks_of_a_paged_document_name_their_page_and_paragraph_on_it():
    doc = replace(doc_of(REPORT_TEXT), pages=REPORT_PAGE_STARTS)
    chunks = chunk_document(doc, max_chars=400, overlap=1)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
    assert uncovered(doc, chunks) == []
    assert [(c.page, c.paragraph, c.text[:30]) for c in chunks] == [
        (1, 1, "North Korea\n\nNorth Korea is a "),
        (1, 2, "Prosecution\n\nThe government ma"),
        (2, 1, "Protection\n\nNorth Korean worke"),  # runs on to page 3, where it is paragraph 1
        (3, 2, "- Workers are sent to logging "),
        (3, 3, "- Workers are sent to textile "),
        (3, 4, "Prevention\n\nThe government did"),
    ]


def test_a_paragraph_carried_over_a_page_break_is_paragraph_1_of_the_next_page():
    text, pages = pdf_prose(["Camps exist.\nWorkers were sent", "abroad in 2007. They return.\nProtection"])
    doc = replace(doc_of(text), pages=pages)
    chunks = chunk_document(doc, max_chars=20, overlap=0)
    assert [(c.page, c.paragraph, c.text) for c in chunks] == [
        (1, 1, "Camps exist."),  # a short line that ends a sentence ends its paragraph
        (1, 2, "Workers were sent"),
        (2, 1, "abroad in 2007."),
        (2, 1, "They return."),
        (2, 2, "Protection"),
    ]


def test_documents_without_pages_number_paragraphs_through_the_document(report):
    chunks = chunk_document(report, max_chars=600, overlap=1)
    assert {c.page for c in chunks} == {0}
    assert [c.paragraph for c in chunks] == sorted(c.paragraph for c in chunks)
    assert chunks[-1].paragraph > 1
