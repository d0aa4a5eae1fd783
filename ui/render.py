"""Passages and citations as HTML; every piece of text is escaped, so it is shown inert."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rag.types import Document, Hit


def header_html(documents: Sequence[Document]) -> str:
    """The loaded reports with their metadata."""
    rows = []
    for d in documents:
        meta = " · ".join(escape(v) for v in (d.publisher, d.date, d.country, dict(d.extra).get("tier", "")) if v)
        rows.append(f'<div class="rr-doc"><strong>{escape(d.title)}</strong><br><span>{meta}</span></div>')
    return '<div class="rr-docs">' + "".join(rows) + "</div>"


def passages_html(hits: Sequence[Hit]) -> str:
    """Ranked passages with title, paragraph and score."""
    if not hits:
        return '<p class="rr-empty">No passage matched.</p>'
    items = []
    for h in hits:
        c = h.chunk
        items.append(
            f'<li class="rr-passage" id="passage-{h.rank}"><div class="rr-meta">[{h.rank}] {escape(c.title)}'
            f" — paragraph {c.paragraph} · score {h.score:.3f}</div>"
            f'<div class="rr-text">{escape(c.text)}</div></li>'
        )
    return '<ol class="rr-passages">' + "".join(items) + "</ol>"
