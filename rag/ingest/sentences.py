"""Paragraph and sentence boundaries as exact (start, end) offsets.

Official reports write country initialisms with spaced periods ("D. P. R. K.",
"P. R. C.") and abbreviations such as "U.S." or "Art."; a period after one of
these ends a sentence only when a word that typically opens a sentence follows.
"""

from __future__ import annotations

import functools
import re

from rag.language import ABBREVIATIONS, OPENERS

Span = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# A candidate end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_CANDIDATE = re.compile(r"[.!?]+[\"'\u2019\u201d)\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")
_NEXT_WORD = re.compile(r"\s+([\"'\u2018\u201c(\[]?)(\S+)")

# A line this short that ends without punctuation is a heading or a header field. Chosen by hand.
_SHORT_LINE = 60
# Documents whose sentence openers are remembered (the same document is split many times); chosen by hand.
_DOCUMENTS_CACHED = 16
# An unambiguous sentence end: a lower-case word, a full stop, the next sentence's first word.
_PLAIN_END = re.compile(r"\b[a-z]{2,}[.!?]\s+[\"'\u2018\u201c(]?([A-Z][a-z]+)")


@functools.lru_cache(maxsize=_DOCUMENTS_CACHED)
def _document_openers(text: str) -> frozenset[str]:
    """Words that open a sentence somewhere in `text` after an unambiguous end (cached per document).

    >>> sorted(_document_openers("Camps exist. Defector reports say so. The U.S. Defector"))
    ['defector', 'the']
    """
    return frozenset(m.group(1).lower() for m in _PLAIN_END.finditer(text))


def paragraphs(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Blank-line separated blocks of `text[start:end]`, trimmed of surrounding whitespace.

    >>> paragraphs("One.\\n\\n Two.\\n")
    [(0, 4), (7, 11)]
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    for m in _BLANK_LINE.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    return [t for t in (_trim(text, s, e) for s, e in spans) if t[0] < t[1]]


def sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of `text[start:end]`, trimmed, in order, never overlapping.

    >>> t = "It is in P. R. C. The D. P. R. K. 's camps exist. U.S. aid ended."
    >>> [t[s:e] for s, e in sentences(t)]
    ['It is in P. R. C.', "The D. P. R. K. 's camps exist.", 'U.S. aid ended.']
    """
    end = len(text) if end is None else end
    cuts: list[int] = []
    for m in _CANDIDATE.finditer(text, start, end):
        if _ends_sentence(text, m.start(), m.end(), end):
            cuts.append(m.end())
    cuts.extend(_line_breaks(text, start, end))
    cuts.extend(m.start() for m in _BLANK_LINE.finditer(text, start, end))
    spans: list[Span] = []
    pos = start
    for cut in sorted(set(cuts)):
        spans.append((pos, cut))
        pos = cut
    spans.append((pos, end))
    return [t for t in (_trim(text, s, e) for s, e in spans) if t[0] < t[1]]


def _ends_sentence(text: str, punct_start: int, punct_end: int, limit: int) -> bool:
    nxt = _NEXT_WORD.match(text, punct_end, limit)
    if nxt is None:
        return False  # the end of the region is a boundary anyway
    opener, word = nxt.group(1), nxt.group(2)
    if not (word[0].isupper() or word[0].isdigit() or opener):
        return False
    if text[punct_start] != ".":
        return True
    token = _token_before(text, punct_start)
    bare = token.lstrip("\"'(\u2018\u201c[").lower()
    is_initial = len(bare) == 1 and bare.isalpha()
    is_dotted = "." in bare  # "u.s", "e.g"
    if is_initial or is_dotted or bare in ABBREVIATIONS:
        if len(word) >= 2 and word[1] == "." and word[0].isalpha():
            return False  # the initialism goes on: "P. R. C."
        opener_word = word.strip("\"'\u2019").lower()
        return opener_word in OPENERS or opener_word in _document_openers(text)
    return True


def _line_breaks(text: str, start: int, end: int) -> list[int]:
    """Ends of short, unpunctuated lines (headings, "Key Value" header fields)."""
    cuts = []
    line_start = start
    for m in re.finditer(r"\n", text[start:end]):
        nl = start + m.start()
        line = text[line_start:nl].strip()
        # Only the first character of the rest matters; slicing the rest would make this quadratic.
        nxt = _NON_SPACE.search(text, nl + 1, end) if line else None
        if nxt and (line[-1] in ".!?:" or len(line) <= _SHORT_LINE) and nxt.group().isupper():
            cuts.append(nl)
        line_start = nl + 1
    return cuts


def _token_before(text: str, pos: int) -> str:
    """The run of non-space characters ending at `pos` (walking back, so the cost is the token's length).

    >>> _token_before("in the U.S. today", 11)
    'U.S.'
    """
    start = pos
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:pos]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
