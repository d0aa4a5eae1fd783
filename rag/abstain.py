"""When to say "the report does not answer this": decided from evidence, not from wording alone."""

from __future__ import annotations

from collections.abc import Sequence

from rag.cite import numbers
from rag.types import Citation, Hit


def missing_specifics(question: str, hits: Sequence[Hit]) -> tuple[str, ...]:
    """Numbers and years the question asks about that no retrieved passage mentions.

    A question about "the 2008 report" cannot be answered from passages that
    never say 2008, however similar they are otherwise.

    >>> from rag.types import Chunk
    >>> hit = Hit(Chunk("c", "d", "Tier 3 in the 2007 report.", 0, 26, 1), 1.0, 1)
    >>> missing_specifics("What tier in the 2008 report?", [hit])
    ('2008',)
    """
    found = set().union(*(numbers(h.chunk.text) for h in hits)) if hits else set()
    return tuple(sorted(n for n in numbers(question) if n not in found))


def refused(draft: str, marker: str) -> bool:
    """The model's own verdict that no source answers."""
    return draft.strip().upper().startswith(marker)


def grounded(citations: Sequence[Citation]) -> bool:
    """At least one sentence of the draft passed the support check."""
    return any(c.supported for c in citations)
