"""An overview ("summarize the report", "tell me about the prison camps") as a few of the report's own sentences.

A whole report is summed up by its tier line and the sentence that opens each of its paragraphs,
in the report's order: official reports state each section's point first. A topic is covered by the
sentences that match it best, each adding something the others do not say, in the report's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rag.answer.context import MIN_WORDS, ContextItem, Vocabulary, word_overlap
from rag.ingest.fields import HeaderLine
from rag.ingest.sentences import paragraphs, sentences
from rag.text import content_words
from rag.types import Chunk, Document

# At most this many sentences; an overview of fewer than MIN_SENTENCES is no overview. Chosen by hand.
MAX_SENTENCES = 5
MIN_SENTENCES = 2
# A sentence sharing this much of its wording with one already chosen adds nothing new. Chosen by hand; not tuned.
REDUNDANT_OVERLAP = 0.6
# A topic sentence must match the question at least this well (relevance score, see rag.answer.context).
# Chosen by hand; not tuned.
TOPIC_FLOOR = 0.35
# A report summed up in fewer sentences than this also gets its paragraphs' second sentences. Chosen by hand.
MIN_FULL = 4


def report_overview(
    doc: Document, chunks: Sequence[Chunk], header: Sequence[HeaderLine], limit: int = MAX_SENTENCES
) -> list[ContextItem]:
    """The report's tier line, then the first sentence of each paragraph after its header, in order; a
    report of few paragraphs adds their second sentences, so that it says as much as a longer one."""
    own = [c for c in chunks if c.doc_id == doc.doc_id]
    picked: list[ContextItem] = []
    tier = next((line for line in header if line.value("tier")), None)
    if tier is not None:
        picked.append(_item(doc, tier.chunk, tier.start, tier.end))
    header_end = max((line.end for line in header), default=0)
    statements = [
        [(s, e) for s, e in sentences(doc.text, ps, pe) if len(doc.text[s:e].split()) >= MIN_WORDS]
        for start, end in doc.spans
        for ps, pe in paragraphs(doc.text, start, end)
        if pe > header_end
    ]
    for depth in (0, 1):
        for paragraph in statements:
            if len(picked) >= limit or len(paragraph) <= depth:
                continue
            s, e = paragraph[depth]
            chunk = next((c for c in own if c.start <= s and e <= c.end), None)
            if chunk is not None:
                picked.append(_item(doc, chunk, s, e))
        if len(picked) >= MIN_FULL:
            break
    return sorted(picked, key=lambda it: it.start)


def topic_overview(
    items: Sequence[ContextItem], vocabulary: Vocabulary, limit: int = MAX_SENTENCES - 1
) -> list[ContextItem]:
    """The best-matching candidates, each saying something the ones before it do not, in the report's order."""
    picked: list[ContextItem] = []
    for it in sorted(items, key=lambda it: -it.score):
        if it.score < TOPIC_FLOOR or len(picked) >= limit:
            break
        words = content_words(it.text)
        if any(word_overlap(words, p.text, vocabulary) >= REDUNDANT_OVERLAP for p in picked):
            continue
        picked.append(it)
    return sorted(picked, key=lambda it: (it.chunk.doc_id, it.start))


def overview_document(
    named: Sequence[Document], items: Sequence[ContextItem], documents: Mapping[str, Document]
) -> Document | None:
    """The report a whole-report overview is about: the one named, else the one the best candidate is from."""
    if named:
        return named[0]
    return documents.get(items[0].chunk.doc_id) if items else None


def _item(doc: Document, chunk: Chunk, start: int, end: int) -> ContextItem:
    return ContextItem(0, chunk, start, end, doc.text[start:end], 0.0, 0.0)
