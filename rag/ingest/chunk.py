"""Documents -> Chunks: sentence-aware passages with exact character offsets."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence

from rag.ingest.sentences import Span, paragraphs, sentences
from rag.types import Chunk, Document

# A one-line paragraph this short, without final punctuation, is a heading:
# it is kept with the paragraph that follows it rather than chunked alone. Chosen by hand.
_HEADING_MAX = 120
# Chunk size and overlap (sentences) when a caller gives none; indexes are built with the settings'
# RAG_CHUNK_CHARS and RAG_CHUNK_OVERLAP (rag/settings.py) instead.
MAX_CHARS = 400
OVERLAP = 1


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """A stable id from a chunk's source, place and content.

    >>> chunk_id("doc", 0, 5, "Hello")
    'doc:0-5:a162eb7c'
    """
    digest = hashlib.sha256(f"{doc_id}\x00{start}\x00{end}\x00{text}".encode()).hexdigest()
    return f"{doc_id}:{start}-{end}:{digest[:8]}"


def chunk_document(doc: Document, max_chars: int = MAX_CHARS, overlap: int = OVERLAP) -> list[Chunk]:
    """Cut a document's indexed spans into chunks of whole sentences.

    Chunks never cross a paragraph; each holds as many sentences as fit in
    `max_chars` (at least one), and the next chunk of the same paragraph starts
    `overlap` sentences before the previous one ended. A sentence longer than
    `max_chars` is cut at whitespace so that no chunk grows without bound.
    Paragraphs are numbered through the document, or within each page for a
    document with pages.
    """
    chunks: list[Chunk] = []
    paragraphs = _paragraph_units(doc, max_chars)
    ends = [units[-1][1] for units in paragraphs]
    for number, units in enumerate(paragraphs, start=1):
        for start, end in _pack(units, max_chars, overlap):
            text = doc.text[start:end]
            page, paragraph = _place(doc.pages, ends, number - 1, start)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, start, end, text),
                    doc_id=doc.doc_id,
                    text=text,
                    start=start,
                    end=end,
                    paragraph=paragraph or number,
                    title=doc.title,
                    page=page,
                )
            )
    return chunks


def chunk_documents(docs: Iterable[Document], max_chars: int = MAX_CHARS, overlap: int = OVERLAP) -> list[Chunk]:
    """All chunks of several documents, in document order."""
    return [c for d in docs for c in chunk_document(d, max_chars, overlap)]


def _paragraph_units(doc: Document, max_chars: int) -> list[list[Span]]:
    """Each paragraph's sentences (headings joined to the next paragraph)."""
    result: list[list[Span]] = []
    pending: list[Span] = []
    for span_start, span_end in doc.spans:
        for p_start, p_end in paragraphs(doc.text, span_start, span_end):
            units = [u for s, e in sentences(doc.text, p_start, p_end) for u in _split_long(doc.text, s, e, max_chars)]
            if _is_heading(doc.text[p_start:p_end]):
                pending.extend(units)
                continue
            result.append(pending + units)
            pending = []
        # A heading never joins a paragraph of the next span: the chunk would take in the furniture between.
        if pending:
            result.append(pending)
            pending = []
    return result


def _place(pages: Sequence[int], ends: Sequence[int], index: int, start: int) -> tuple[int, int]:
    """(page, paragraph on that page) of a chunk starting at `start` in paragraph `index`; (0, 0) without pages.

    A paragraph counts on every page it has text on, so one carried over from the previous
    page is paragraph 1 of the next. `ends` are the paragraphs' end offsets, in order.

    >>> _place([0, 100], [40, 120, 160], 2, 130)  # the second paragraph runs on to page 2
    (2, 2)
    """
    if not pages:
        return 0, 0
    page = max(1, bisect.bisect_right(pages, start))
    on_earlier_pages = bisect.bisect_right(ends, pages[page - 1], 0, index)
    return page, index - on_earlier_pages + 1


def _is_heading(paragraph: str) -> bool:
    return "\n" not in paragraph and len(paragraph) <= _HEADING_MAX and paragraph[-1] not in ".!?:;,"


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    """Cut an over-long sentence at whitespace into pieces of at most `max_chars`.

    >>> _split_long("aaa bbb ccc", 0, 11, 7)
    [(0, 7), (8, 11)]
    """
    pieces: list[Span] = []
    pos = start
    while end - pos > max_chars:
        limit = pos + max_chars
        cut = next((i for i in range(limit, pos, -1) if text[i].isspace()), limit)
        piece_end = cut
        while piece_end > pos and text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append((pos, piece_end))
        pos = cut
        while pos < end and text[pos].isspace():
            pos += 1
    if pos < end:
        pieces.append((pos, end))
    return [(s, e) for s, e in pieces if s < e]


def _pack(units: list[Span], max_chars: int, overlap: int) -> list[Span]:
    """Greedy packing of consecutive units into windows of at most `max_chars`.

    >>> _pack([(0, 10), (11, 20), (21, 30)], max_chars=20, overlap=1)
    [(0, 20), (11, 30)]
    >>> _pack([(0, 10), (11, 20), (21, 40)], max_chars=20, overlap=1)
    [(0, 20), (21, 40)]
    """
    windows: list[Span] = []
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= max_chars:
            j += 1
        windows.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Step back `overlap` units, but never so far that unit j no longer fits:
        # a window that adds nothing new would only repeat its predecessor.
        i = max(i + 1, j - overlap)
        while i < j and units[j][1] - units[i][0] > max_chars:
            i += 1
    return windows
