"""PDF page text -> prose: wrapped lines joined into paragraphs, page furniture dropped, pages recorded.

pypdf gives each page's text line by line as it was laid out. A report printed to PDF then reads as
hard-wrapped lines with running headers and page numbers; `pdf_prose` rebuilds the paragraphs and
records where each page starts, so citations can give page and paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

_SENTENCE_END = re.compile(r"[.!?:][\"'\u2019\u201d)\]]*$")
_HYPHENATED = re.compile(r"[a-z]-$")
_BULLET = re.compile(
    r"^(?:[\u2022\u2023\u25aa\u25cf\u25e6*\-\u2013\u2014]\s"  # "• item", "- item", "– item"
    r"|\(?(?:\d{1,2}|[a-z]|[ivx]{1,4})\)\s"  # "(a) item", "1) item", "(iv) item"
    r"|\d{1,2}\.\s+[A-Z])"  # "1. Item" (a wrapped "2007. The" has too many digits)
)
# Page furniture (running headers, footers, page numbers) is looked for among this many lines at each page's
# edges, and is a line that repeats there on at least FURNITURE_PAGES pages (and half of them). Chosen by hand.
_EDGE_LINES = 2
FURNITURE_PAGES = 2
# A full line is as long as this share of the document's lines or longer (a percentile); chosen by hand.
FULL_LINE_QUANTILE = 0.8
# A line shorter than this share of a full line can be a heading; one ending a sentence shorter than this
# other share ends its paragraph. Both chosen by hand.
HEADING_SHARE = 0.6
PARAGRAPH_END_SHARE = 0.75


def pdf_prose(pages: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """Pages of extracted PDF text -> (prose, where each page starts in it).

    Running headers, footers and page numbers are dropped; the hard-wrapped lines of a
    paragraph are joined, paragraphs (and pages) are separated by a blank line, and a
    paragraph that runs on over a page break is joined again. An empty page starts where
    the next one does.

    >>> pdf_prose(["Report 2024\\nCamps exist in the north and the gov-\\nernment denies it.\\n1",
    ...            "Report 2024\\nWorkers went\\n2", "Report 2024\\nabroad.\\n3"])
    ('Camps exist in the north and the government denies it.\\n\\nWorkers went abroad.', (0, 56, 69))
    """
    lines = _without_furniture([[" ".join(line.split()) for line in page.splitlines()] for page in pages])
    typical = _typical_length(lines)
    parts: list[str] = []  # the paragraphs so far
    length = 0  # len("\n\n".join(parts))
    starts: list[int] = []
    for page in lines:
        paras = _pdf_paragraphs(page, typical)
        if not paras:
            starts.append(-1)
            continue
        if parts and _runs_on(parts[-1], paras[0]):
            joined, cut = _join_lines(parts[-1], paras[0])
            starts.append(length - len(parts[-1]) + cut)
            length += len(joined) - len(parts[-1])
            parts[-1] = joined
            paras = paras[1:]
        else:
            starts.append(length + (2 if parts else 0))
        for para in paras:
            length += len(para) + (2 if parts else 0)
            parts.append(para)
    nxt = length
    for i in reversed(range(len(starts))):
        starts[i] = nxt = nxt if starts[i] < 0 else starts[i]
    return "\n\n".join(parts), tuple(starts)


def _without_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Pages without the lines at their top or bottom that repeat on at least half of them.

    Digits count as one symbol, so "Page 3 of 9" and a bare "3" repeat as "page # of #" and "#".

    >>> _without_furniture([["TIP Report", "Body one.", "1"], ["TIP Report", "Body two.", "2"]])
    [['Body one.'], ['Body two.']]
    """
    seen: dict[str, int] = {}
    for page in pages:
        body = [line for line in page if line]
        for key in {_furniture_key(line) for line in body[:_EDGE_LINES] + body[-_EDGE_LINES:]}:
            seen[key] = seen.get(key, 0) + 1
    repeated = {key for key, n in seen.items() if n >= FURNITURE_PAGES and 2 * n >= len(pages)}
    result = []
    for page in pages:
        body = list(page)
        while body and (not body[0] or _furniture_key(body[0]) in repeated):
            body.pop(0)
        while body and (not body[-1] or _furniture_key(body[-1]) in repeated):
            body.pop()
        result.append(body)
    return result


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.lower())


def _typical_length(pages: list[list[str]]) -> int:
    """The length of a full line: the 80th percentile of the document's line lengths (few lines are longer)."""
    lengths = sorted(len(line) for page in pages for line in page if line)
    return lengths[int(FULL_LINE_QUANTILE * (len(lengths) - 1))] if lengths else 0


def _pdf_paragraphs(lines: list[str], typical: int) -> list[str]:
    """One page's lines joined into paragraphs.

    A paragraph ends at an empty line, after a line that ends a sentence and falls clearly short
    of a full line (under 75% of `typical`), and before a bullet or numbered item. A heading (a
    line under 60% of `typical`, without final punctuation, opening upper-case or with a digit,
    after a sentence's end or another heading) is a paragraph of its own.

    >>> _pdf_paragraphs(["Findings", "Camps exist in the north of the", "country.", "- Workers"], 30)
    ['Findings', 'Camps exist in the north of the country.', '- Workers']
    """
    paras: list[str] = []
    prev = ""  # the previous line; "" at the top of the page and after an empty line
    prev_heading = False
    for line in lines:
        if not line:
            prev, prev_heading = "", False
            continue
        after_end = not prev or prev_heading or bool(_SENTENCE_END.search(prev))
        short = len(line) < HEADING_SHARE * typical
        heading = after_end and short and line[-1] not in ".,;:!?-" and (line[0].isupper() or line[0].isdigit())
        ends = bool(_SENTENCE_END.search(prev)) and len(prev) < PARAGRAPH_END_SHARE * typical
        if not prev or heading or prev_heading or ends or _BULLET.match(line):
            paras.append(line)
        else:
            paras[-1] = _join_lines(paras[-1], line)[0]
        prev, prev_heading = line, heading
    return paras


def _runs_on(before: str, after: str) -> bool:
    """Whether a page's first paragraph continues the previous page's last one: mid-sentence, lower-case."""
    return not _SENTENCE_END.search(before) and after[:1].islower()


def _join_lines(first: str, second: str) -> tuple[str, int]:
    """Two lines as one, and where `second` starts in it; a word hyphenated at the break is rejoined.

    >>> _join_lines("against traf-", "ficking.")
    ('against trafficking.', 12)
    >>> _join_lines("Forced", "labor.")
    ('Forced labor.', 7)
    """
    if _HYPHENATED.search(first) and second[:1].islower():
        return first[:-1] + second, len(first) - 1
    return f"{first} {second}", len(first) + 1


# A gap between two lines this many times the page's usual line spacing is a paragraph break. Chosen by hand.
PARAGRAPH_GAP = 1.5
# Text pieces whose baselines differ by at most this (PDF points) are on one line. Chosen by hand.
SAME_LINE_POINTS = 0.5
# Fewer text lines than this give no usual spacing to compare gaps with.
MIN_GAP_LINES = 3


def page_text(page: Any) -> str:
    """A pypdf page's text with a blank line where the layout leaves a paragraph gap.

    pypdf's text has one line per printed line but drops the blank space between paragraphs.
    The line positions are read as the text is extracted; where there is one position per
    text line (so they can be matched up), a gap clearly wider than the usual spacing becomes
    a blank line. Otherwise the text is returned as pypdf gives it.
    """
    heights: list[float] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], _font: Any, _size: Any) -> None:
        if text.strip():
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            if not heights or abs(heights[-1] - y) > SAME_LINE_POINTS:
                heights.append(y)

    text = page.extract_text(visitor_text=visit) or ""
    lines = text.split("\n")
    if len(heights) < MIN_GAP_LINES or len(heights) != sum(1 for line in lines if line.strip()):
        return text
    gaps = [a - b for a, b in pairwise(heights)]
    downward = sorted(g for g in gaps if g > 0)
    if not downward:
        return text
    usual = downward[len(downward) // 2]
    out: list[str] = []
    row = 0
    for line in lines:
        if line.strip():
            if row > 0 and gaps[row - 1] > PARAGRAPH_GAP * usual:
                out.append("")
            row += 1
        out.append(line)
    return "\n".join(out)
