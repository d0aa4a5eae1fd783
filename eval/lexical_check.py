"""The lexical judge's own check: numbers, names, negation and content-word overlap.

It is the evaluation's cheap judge of whether a cited passage supports a sentence, kept apart from
the answer path's verifier (`rag/verify.py`) so that citation metrics do not grade the system with
its own check. A sentence is supported when every number in it appears in the source, every name
does (or is a known one), no negation flips, and enough of its content words do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import COMMON_CAPS, content_words, fold_initialisms, names, negation_flip, negation_scopes, numbers

# Share of a sentence's content words that its source must contain.
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Support:
    supported: bool
    overlap: float
    missing_numbers: tuple[str, ...]
    missing_names: tuple[str, ...]
    negation_mismatch: bool = False


def negation_mismatch(claim: str, source: str) -> bool:
    """True when what one side negates is stated without negation by the other (tests/test_cite.py)."""
    return negation_flip(claim, source, _near_negations)


def check_support(
    claim: str, source: str, known_names: frozenset[str] = frozenset(), given: frozenset[str] = frozenset()
) -> Support:
    """Whether `source` backs `claim` on numbers, names and content words.

    `known_names` may appear without the source repeating them (the question's own
    names, the document's subject); a name matches a known one it starts with
    ("north korean" for "north korea"). Content words in `given` (the question's)
    restate what was asked, so the overlap is measured on the claim's other words.
    """
    src_numbers = numbers(source)
    src_lower = fold_initialisms(source).lower()
    missing_numbers = tuple(sorted(n for n in numbers(claim) if n not in src_numbers))
    missing_names = tuple(
        sorted(
            n
            for n in names(claim)
            if not _name_found(n, src_lower) and n not in COMMON_CAPS and not any(n.startswith(k) for k in known_names)
        )
    )
    words = set(content_words(claim))
    new_words = words - given
    if new_words:
        words = new_words
    src_words = set(content_words(source))
    overlap = len(words & src_words) / len(words) if words else 0.0
    flipped = negation_mismatch(claim, source)
    ok = not missing_numbers and not missing_names and not flipped and overlap >= MIN_OVERLAP
    return Support(ok, overlap, missing_numbers, missing_names, flipped)


def _name_found(name: str, source_lower: str) -> bool:
    """A name is in the source whole, or (for several words) by its first word and half of the rest.

    >>> _name_found("czech republic", "the czech ministry of interior")
    True
    >>> _name_found("south korea", "north korea")
    False
    """
    if name in source_lower:
        return True
    words = name.split()
    if len(words) < 2 or not re.search(rf"\b{re.escape(words[0])}\b", source_lower):
        return False
    return sum(1 for w in words if re.search(rf"\b{re.escape(w)}\b", source_lower)) * 2 >= len(words)


def _near_negations(text: str) -> tuple[set[str], set[str]]:
    """A negation covers the three words after it, and looks back only within its clause."""
    return negation_scopes(text, after_chars=80, after_words=3, clause_after=False)
