"""Citations: parse `[n]` markers, check each sentence against its source, repair or flag.

The checks are lexical and cheap (no second model call): a sentence is supported
by a source sentence when every number in it appears there, every name in it
appears there (or is the document's own subject), and enough of its content
words do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.sentences import sentences
from rag.text import (
    COMMON_CAPS,
    MARKER,
    NEGATION_OR_WITHOUT,
    content_words,
    fold_initialisms,
    names,
    numbers,
    strip_markers,
)

# Share of a sentence's content words that its source must contain.
MIN_OVERLAP = 0.5


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


@dataclass(frozen=True)
class Support:
    supported: bool
    overlap: float
    missing_numbers: tuple[str, ...]
    missing_names: tuple[str, ...]
    negation_mismatch: bool = False


# Words between a negation and what it negates: "not fully comply", "no known laws".
_HEDGES = frozenset(
    "fulli actual yet even alway specif direct current offici realli formal also onli just necessarili "
    "signific wide open public known discern effect".split()
)
_SCOPE = 3  # content words on either side of a negation that fall under it
_CLAUSE = re.compile(r"[,;:()]|\b(?:and|but|while|although|however|whereas)\b", re.IGNORECASE)


def _negation_scopes(text: str) -> tuple[set[str], set[str]]:
    """(predicates, scope): the first real word after each negation, and all words near one.

    >>> [sorted(s) for s in _negation_scopes("Prosecutions were not reported, and no one was tried.")]
    [['report', 'tri'], ['prosecut', 'report', 'tri']]
    """
    predicates: set[str] = set()
    scope: set[str] = set()
    for m in NEGATION_OR_WITHOUT.finditer(text):
        after = content_words(text[m.end() : m.end() + 80])
        # Looking back stops at a clause boundary: "complies, and is not" negates nothing before it.
        before_text = _CLAUSE.split(text[max(0, m.start() - 60) : m.start()])[-1]
        before = content_words(before_text)
        scope.update(after[:_SCOPE], before[-_SCOPE:])
        predicate = next((w for w in after if w not in _HEDGES), None)
        if predicate:
            predicates.add(predicate)
    return predicates, scope


def negation_mismatch(claim: str, source: str) -> bool:
    """True when what one side negates is stated without negation by the other.

    >>> negation_mismatch("There were reported prosecutions.", "There were no reported prosecutions.")
    True
    >>> negation_mismatch("Prosecutions were not reported.", "There were no reported prosecutions.")
    False
    >>> negation_mismatch("It fully complies, and is not making efforts.", "It does not fully comply.")
    True
    """
    claim_words, source_words = set(content_words(claim)), set(content_words(source))
    claim_pred, claim_scope = _negation_scopes(claim)
    source_pred, source_scope = _negation_scopes(source)
    return bool((source_pred & claim_words) - claim_scope) or bool((claim_pred & source_words) - source_scope)


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
