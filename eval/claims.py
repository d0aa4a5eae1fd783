"""Citations in answer text: the sentences of an answer and the `[n]` markers each carries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.ingest.sentences import sentences
from rag.text import (
    MARKER,
    strip_markers,
)


@dataclass(frozen=True)
class ClaimSentence:
    """One sentence of an answer with the source numbers it cites."""

    text: str  # without markers
    cited: tuple[int, ...]


def split_claims(answer: str) -> list[ClaimSentence]:
    """Answer text -> sentences with their cited numbers.

    >>> split_claims("Camps exist [1]. They log and mine [1, 2].")
    [ClaimSentence(text='Camps exist.', cited=(1,)), ClaimSentence(text='They log and mine.', cited=(1, 2))]
    """
    out = []
    for s, e in sentences(answer):
        part = answer[s:e]
        cited = tuple(int(n) for m in MARKER.finditer(part) for n in m.group(1).split(","))
        text = re.sub(r"\s+([.!?,;:])", r"\1", strip_markers(part)).strip()
        if text or cited:
            out.append(ClaimSentence(text, tuple(dict.fromkeys(cited))))
    return out
