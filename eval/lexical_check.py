"""The lexical judge's own check: numbers, names, negation and content-word overlap.

It is the evaluation's cheap judge of whether a cited passage supports a sentence, kept apart from
the answer path, so that citation metrics do not grade the system with its own check. A sentence is
supported when every number in it appears in the source, every name does (or is a known one), no
negation flips, and enough of its content words do. Its negation words and the way it finds a
denial are its own: the answer path reads yes or no with rag.text's, and an instrument that shared
them would make the same mistakes as what it measures. Only the plain tokenizers (words, stems,
numbers, names) are shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.text import content_words, fold_initialisms, names, numbers

# Capitalised words that are not names of anything a source must mention.
COMMON_CAPS = frozenset({"yes", "no", "the", "according", "however", "i"})
# Words that deny what follows.
NEGATORS = ("no", "not", "never", "none", "nor", "neither", "cannot")


def negation_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `words`, or a contracted "not" ("isn't"), as a whole word, in any case.

    >>> bool(negation_pattern(("never",)).search("They NEVER did")), bool(negation_pattern(()).search("isn't"))
    (True, True)
    """
    alternatives = [rf"\b{re.escape(w)}\b" for w in words] + [r"n't\b"]
    return re.compile("|".join(alternatives), re.IGNORECASE)


# A word that denies what follows, or "without" for a denial inside a clause.
NEGATION_OR_WITHOUT = negation_pattern((*NEGATORS, "without"))
_CLAUSE = re.compile(r"[,;:()]|\b(?:and|but|while|although|however|whereas)\b", re.IGNORECASE)
# Words between a negation and what it negates ("not fully comply", "no known laws").
HEDGES = frozenset(
    "fulli actual yet even alway specif direct current offici realli formal also onli just necessarili "
    "signific wide open public known discern effect".split()
)


def negation_scopes(
    text: str, after_chars: int = 160, after_words: int = 8, clause_after: bool = True
) -> tuple[set[str], set[str]]:
    """(predicates, scope): the first real word after each negation, and the words near it.

    A negation reaches `after_words` words forward (within its clause when `clause_after`) and three
    back, never across a clause boundary: "complies, and is not" negates nothing before it.

    >>> [sorted(s) for s in negation_scopes("There were no reported prosecutions, and trials occur.")]
    [['report'], ['prosecut', 'report']]
    >>> [sorted(s) for s in negation_scopes("Prosecutions were not reported, and no one was tried.", 80, 3, False)]
    [['report', 'tri'], ['prosecut', 'report', 'tri']]
    """
    predicates: set[str] = set()
    scope: set[str] = set()
    for m in NEGATION_OR_WITHOUT.finditer(text):
        ahead = text[m.end() : m.end() + after_chars]
        after = content_words(_CLAUSE.split(ahead)[0] if clause_after else ahead)[:after_words]
        before = content_words(_CLAUSE.split(text[max(0, m.start() - 60) : m.start()])[-1])[-3:]
        scope.update(after, before)
        predicate = next((w for w in after if w not in HEDGES), None)
        if predicate:
            predicates.add(predicate)
    return predicates, scope


Scopes = Callable[[str], tuple[set[str], set[str]]]


def negation_flip(claim: str, source: str, scopes: Scopes = negation_scopes) -> bool:
    """What one side negates (the first real word after a negation), the other states outside any negation.

    >>> negation_flip("North Korea has ratified the protocol.", "North Korea has not ratified the protocol.")
    True
    >>> negation_flip("It was not ratified.", "North Korea has not ratified the protocol.")
    False
    """
    claim_words, source_words = set(content_words(claim)), set(content_words(source))
    claim_pred, claim_scope = scopes(claim)
    source_pred, source_scope = scopes(source)
    return bool((source_pred & claim_words) - claim_scope) or bool((claim_pred & source_words) - source_scope)


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
    word_share = len(words & src_words) / len(words) if words else 0.0
    flipped = negation_mismatch(claim, source)
    ok = not missing_numbers and not missing_names and not flipped and word_share >= MIN_OVERLAP
    return Support(ok, word_share, missing_numbers, missing_names, flipped)


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
