"""Answers, sources and passages as HTML or Markdown; every piece of text is escaped, so it is shown inert."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from rag.text import MARKER
from rag.types import Answer, Chunk, Citation, Document, Hit, Sources

# Characters that Markdown would read as formatting or that the chat's HTML pass would read as tags.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")

RELATED_PASSAGES = 3
# The sources panel scrolls, so it takes the keyboard focus to be scrolled without a mouse.
SOURCES_OPEN = '<div class="rr-sources" tabindex="0" role="region" aria-label="Sources">'


def as_sentence(text: str) -> str:
    """A message as a sentence of its own: capital first letter, full stop."""
    return text[:1].upper() + text[1:] + "."


def header_html(documents: Sequence[Document]) -> str:
    """The loaded reports with their metadata."""
    rows = []
    for d in documents:
        meta = " · ".join(escape(v) for v in (d.publisher, d.author, d.date, d.country, _tier(d)) if v)
        title = f"<strong>{escape(d.title)}</strong>"
        rows.append(f'<div class="rr-doc">{title}<span class="rr-doc-meta">{meta}</span></div>')
    return '<div class="rr-docs">' + "".join(rows) + "</div>"


def _tier(d: Document) -> str:
    tier = dict(d.extra).get("tier", "")
    return f"Tier {tier}" if tier and not tier.lower().startswith("tier") else tier


def plain_markdown(text: str) -> str:
    """Text for the chat's Markdown renderer, shown literally: HTML and Markdown syntax escaped.

    >>> plain_markdown("<b>*hi*</b> & [1]")
    '&lt;b&gt;\\\\*hi\\\\*&lt;/b&gt; &amp; \\\\[1\\\\]'
    """
    return _MD_SPECIAL.sub(r"\\\1", escape(text, quote=False))


def answer_markdown(answer: Answer, turn: int) -> str:
    """The answer for the chat: literal text whose `[n]` markers link to source card `rr-src-TURN-n`."""
    known = {c.n for c in answer.citations}
    parts = []
    last = 0
    for m in MARKER.finditer(answer.text):
        numbers = [int(n) for n in m.group(1).split(",")]
        if not all(n in known for n in numbers):
            continue
        space = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
        parts.append(plain_markdown(answer.text[last : m.start()]) + space)
        parts.append(" ".join(f"[\\[{n}\\]](#rr-src-{turn}-{n})" for n in numbers))
        last = m.end()
    parts.append(plain_markdown(answer.text[last:]))
    return "".join(parts)


def location(chunk: Chunk) -> str:
    return chunk.location


def passages_html(hits: Sequence[Hit]) -> str:
    """Ranked passages with title, location and score."""
    if not hits:
        return '<p class="rr-empty">No passage matched.</p>'
    items = []
    for h in hits:
        c = h.chunk
        items.append(
            f'<li class="rr-passage" id="passage-{h.rank}"><div class="rr-meta">[{h.rank}] {escape(c.title)}'
            f" — {location(c)} · score {h.score:.3f}</div>"
            f'<div class="rr-text">{escape(c.text)}</div></li>'
        )
    return '<ol class="rr-passages">' + "".join(items) + "</ol>"


def highlighted_passage(citation: Citation) -> str:
    """The cited passage as HTML with the supporting quote inside <mark>."""
    c = citation.chunk
    lo, hi = citation.quote_start - c.start, citation.quote_end - c.start
    if 0 <= lo < hi <= len(c.text) and c.text[lo:hi] == citation.quote:
        return f"{escape(c.text[:lo])}<mark>{escape(citation.quote)}</mark>{escape(c.text[hi:])}"
    # The quote lies outside this passage: show the quote alone, still highlighted.
    return f"<mark>{escape(citation.quote)}</mark>"


def _citation_card(citation: Citation, turn: int) -> str:
    c = citation.chunk
    label, css = ("Supported", "rr-ok") if citation.supported else ("Not verified", "rr-warn")
    return (
        f'<article class="rr-card" id="rr-src-{turn}-{citation.n}" data-n="{citation.n}">'
        f'<div class="rr-card-head"><span class="rr-num">[{citation.n}]</span>'
        f'<span class="rr-title">{escape(c.title)}</span>'
        f'<span class="rr-para">{location(c)}</span>'
        f'<span class="rr-label {css}">{label}</span></div>'
        f'<p class="rr-passage-text">{highlighted_passage(citation)}</p></article>'
    )


def _related_card(hit: Hit) -> str:
    c = hit.chunk
    return (
        f'<article class="rr-card rr-related"><div class="rr-card-head"><span class="rr-title">{escape(c.title)}</span>'
        f'<span class="rr-para">{location(c)}</span></div>'
        f'<p class="rr-passage-text">{escape(c.text)}</p></article>'
    )


def _turn_sources(answer: Answer, turn: int) -> str:
    if answer.abstained or not answer.citations:
        related = "".join(_related_card(h) for h in answer.hits[:RELATED_PASSAGES])
        return (
            '<p class="rr-abstain">The report does not answer this question.'
            + (" These passages are the closest:" if related else "")
            + "</p>"
            + related
        )
    return "".join(_citation_card(c, turn) for c in answer.citations)


def sources_html(answers: Sequence[Answer]) -> str:
    """The sources of every answer so far, one section per turn; the latest is shown."""
    if not answers:
        return (
            SOURCES_OPEN + '<p class="rr-empty">Sources appear here: each cited passage with its '
            "supporting quote highlighted. Click a [n] in an answer to jump to it.</p></div>"
        )
    sections = []
    last = len(answers) - 1
    for turn, answer in enumerate(answers):
        hidden = "" if turn == last else " hidden"
        sections.append(
            f'<section class="rr-turn" data-turn="{turn}"{hidden}>'
            f'<p class="rr-question">Sources for: <q>{escape(answer.question)}</q></p>'
            f"{_turn_sources(answer, turn)}</section>"
        )
    return SOURCES_OPEN + "".join(sections) + "</div>"


def reading_html(question: str, sources: Sources) -> str:
    """The passages an answer is being drawn from, shown before it is decided."""
    return (
        SOURCES_OPEN + '<section class="rr-turn">'
        f'<p class="rr-question">Reading these passages for: <q>{escape(question)}</q></p>'
        f"{passages_html(list(sources.passages))}</section></div>"
    )


def export_markdown(answer: Answer) -> str:
    """The answer with its citations (or related passages) as a Markdown document."""
    lines = [f"**Question:** {answer.question}", "", f"**Answer:** {answer.text}", ""]
    if answer.citations:
        lines.append("**Sources**")
        lines.append("")
        for c in answer.citations:
            flag = "" if c.supported else " (not verified)"
            lines.append(f"{c.n}. {c.chunk.title}, {location(c.chunk)}{flag}")
            lines.append(f"   > {c.quote}")
    elif answer.hits:
        lines.append("**Related passages**")
        lines.append("")
        for h in answer.hits[:RELATED_PASSAGES]:
            lines.append(f"- {h.chunk.title}, {location(h.chunk)}: {' '.join(h.chunk.text.split())}")
    return "\n".join(lines) + "\n"
