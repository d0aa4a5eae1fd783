"""When to say "the report does not answer this": decided from evidence, not from wording alone."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from rag.cite import numbers
from rag.context import content_words
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
    # Single digits are too often words ("2 ppl", "tier 1 or 2?") to stand for a fact asked about.
    return tuple(sorted(n for n in numbers(question) if len(n) > 1 and n not in found))


def refused(draft: str, marker: str) -> bool:
    """The model's own verdict that no source answers."""
    return draft.strip().upper().startswith(marker)


def grounded(citations: Sequence[Citation]) -> bool:
    """At least one sentence of the draft passed the support check."""
    return any(c.supported for c in citations)


_QUANTITY_QUESTION = re.compile(
    r"\bhow (?:many|much)\b|\bpopulation\b"
    r"|\bwhat (?:is|was|are|were) the (?:number|percentage|proportion|share|amount|size)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d|\b(?:unknown|no|none|zero|few|several|half|dozens?|hundreds?|thousands?|millions?|"
    r"tens|majority|little|one|two|three|four|five|six|seven|eight|nine|ten)\b",
    re.IGNORECASE,
)


def lacks_quantity(question: str, answer: str) -> bool:
    """A question for an amount ("how many", "what is the population") answered without one did not get its answer.

    >>> lacks_quantity("How many prison camps are there?", "North Korea operates prison camps [1].")
    True
    >>> lacks_quantity("How many are held?", "An estimated 150,000 to 200,000 persons [1].")
    False
    >>> lacks_quantity("What is the population of North Korea?", "North Korea is a source country [1].")
    True
    """
    return bool(_QUANTITY_QUESTION.search(question)) and not _QUANTITY.search(re.sub(r"\[\d+\]", "", answer))


_YES_NO = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|may|might|must)\b",
    re.IGNORECASE,
)


def yes_no(question: str) -> bool:
    """A question answered by yes or no ("Does…", "Is…"), not by a fact ("What…", "Which…").

    >>> yes_no("Does North Korea prosecute traffickers?"), yes_no("Which countries host workers?")
    (True, False)
    """
    return bool(_YES_NO.match(question))


def restates(question: str, claims: Sequence[str]) -> bool:
    """Every sentence only repeats the question's words, in the question's order: nothing was answered.

    "Which NGOs may operate?" -> "International NGOs may operate." adds no fact, while
    "What ethnicity are the buyers?" -> "The buyers are of Korean ethnicity." pairs words anew.
    Yes/no questions are exempt: "Yes, it did." restates by design.

    >>> restates("Which international NGOs may operate there?", ["International NGOs may operate there."])
    True
    >>> restates("Which NGOs may operate there?", ["NGOs operate under close government scrutiny."])
    False
    >>> restates("What ethnicity are the Korean buyers?", ["The Korean buyers are of Korean ethnicity."])
    False
    """
    if yes_no(question):
        return False
    asked = content_words(question)
    asked_pairs = set(pairwise(asked))
    for claim in claims:
        words = content_words(claim)
        if not set(words) <= set(asked) or not set(pairwise(words)) <= asked_pairs:
            return False
    return True
