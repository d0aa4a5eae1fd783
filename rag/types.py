"""The values that flow between stages: Document -> Chunk -> Hit -> Answer.

All are frozen; a stage that needs a changed value builds a new one with
`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The metadata a report has a field of its own for (`Document`); any other key is kept in `Document.extra`.
METADATA_FIELDS = ("title", "publisher", "author", "date", "country")


@dataclass(frozen=True)
class Document:
    """One source report: its exact text and the parts of it worth indexing.

    `text` is the decoded source, unchanged (for a PDF: the prose its reader rebuilt from the
    page layout, see `rag.ingest.pdf.pdf_prose`); every offset into the document is an offset into it.
    `spans` are the (start, end) regions that carry content; site furniture
    (navigation, "last updated" stamps) lies outside them.
    """

    doc_id: str
    text: str
    spans: tuple[tuple[int, int], ...]
    title: str
    source: str = ""
    publisher: str = ""
    author: str = ""
    date: str = ""
    country: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    sha256: str = ""
    # Where each page begins in `text` (PDF); empty for formats without pages.
    pages: tuple[int, ...] = ()

    def meta(self) -> dict[str, str]:
        """Metadata as a flat mapping, for filters and display."""
        base = {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "publisher": self.publisher,
            "author": self.author,
            "date": self.date,
            "country": self.country,
        }
        base.update(dict(self.extra))
        return base


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; `doc.text[start:end] == text` always holds."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    paragraph: int
    title: str = ""
    # The 1-based page the chunk starts on; 0 when the document has no pages.
    page: int = 0

    @property
    def location(self) -> str:
        """Where the passage lies in its report: 'page 3, paragraph 2', or 'paragraph 7' without pages."""
        if self.page > 0:
            return f"page {self.page}, paragraph {self.paragraph}"
        return f"paragraph {self.paragraph}"


@dataclass(frozen=True)
class Hit:
    """A chunk retrieved for a query, with its fused score and per-method ranks."""

    chunk: Chunk
    score: float
    rank: int
    dense_score: float | None = None
    bm25_score: float | None = None


@dataclass(frozen=True)
class Sources:
    """The first event of a streamed answer: the passages it draws on, before anything is decided."""

    passages: tuple[Hit, ...]


@dataclass(frozen=True)
class Citation:
    """A `[n]` marker resolved to a passage and the exact span supporting the claim."""

    n: int
    chunk: Chunk
    quote: str
    quote_start: int
    quote_end: int
    supported: bool


class AbstainReason(StrEnum):
    """Why an answer abstained."""

    NO_PASSAGE = "no passage matched"
    NOT_MENTIONED = "no passage mentions"  # a number or year the question names
    NO_EVIDENCE = "the model chose no sentence"
    UNLIKELY = "the chosen evidence is unlikely to answer"  # the calibrated abstention model


@dataclass(frozen=True)
class Answer:
    """A grounded answer: text with `[n]` markers, their citations and the passages seen."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    # Why the answer abstained (None when it did not), with its particulars ("2008", "p=0.55"), and
    # the model's raw draft, for diagnosis.
    abstain_reason: AbstainReason | None = None
    abstain_detail: str = ""
    draft: str = ""
    # What the abstention decision read (the model's P(NONE), retrieval scores, the verification result).
    signals: dict[str, float] = field(default_factory=dict)
