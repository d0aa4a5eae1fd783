"""Citations: parse `[n]` markers, check each sentence against its source, repair or flag.

The checks are lexical and cheap (no second model call): a sentence is supported
by a source sentence when every number in it appears there, every name in it
appears there (or is the document's own subject), and enough of its content
words do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.context import ContextItem, content_words
from rag.lexical import fold_initialisms
from rag.sentences import sentences
from rag.types import Citation, Document

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*")
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
        text = re.sub(r"\s+([.!?,;:])", r"\1", MARKER.sub("", part)).strip()
        if text or cited:
            out.append(ClaimSentence(text, tuple(dict.fromkeys(cited))))
    return out


def numbers(text: str) -> set[str]:
    """Numbers written in `text`, without thousands separators: '150,000 in 2007.' -> {'150000', '2007'}."""
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words or runs of them, except at the start of a sentence."""
    folded = fold_initialisms(text)
    return {m.group(0).lower() for m in _NAME.finditer(folded)}


@dataclass(frozen=True)
class Support:
    supported: bool
    overlap: float
    missing_numbers: tuple[str, ...]
    missing_names: tuple[str, ...]
    negation_mismatch: bool = False


_NEGATION = re.compile(r"\b(?:no|not|never|none|nor|neither|without|cannot|n't)\b|n't\b", re.IGNORECASE)


def negated_words(text: str) -> set[str]:
    """Content words that a negation governs: the first two content words after each cue.

    >>> sorted(negated_words("There is no evidence of force, and it has not ratified it."))
    ['evidence', 'force', 'ratified']
    """
    out: set[str] = set()
    for m in _NEGATION.finditer(text):
        out.update(content_words(text[m.end() : m.end() + 60])[:2])
    return out


def negation_mismatch(claim: str, source: str) -> bool:
    """True when one side negates a word that the other side states without negation.

    >>> negation_mismatch("There were reported prosecutions.", "There were no reported prosecutions.")
    True
    >>> negation_mismatch("No prosecutions were reported.", "There were no reported prosecutions.")
    False
    """
    claim_words, source_words = set(content_words(claim)), set(content_words(source))
    claim_neg, source_neg = negated_words(claim), negated_words(source)
    flipped_in_claim = {w for w in source_neg if w in claim_words} - claim_neg
    flipped_in_source = {w for w in claim_neg if w in source_words} - source_neg
    has_cue = bool(_NEGATION.search(claim)), bool(_NEGATION.search(source))
    return bool(flipped_in_claim and not has_cue[0]) or bool(flipped_in_source and not has_cue[1])


def check_support(claim: str, source: str, known_names: frozenset[str] = frozenset()) -> Support:
    """Whether `source` backs `claim` on numbers, names and content words."""
    src_numbers = numbers(source)
    src_lower = fold_initialisms(source).lower()
    missing_numbers = tuple(sorted(n for n in numbers(claim) if n not in src_numbers))
    missing_names = tuple(
        sorted(n for n in names(claim) if n not in src_lower and n not in known_names and n not in _COMMON_CAPS)
    )
    words = set(content_words(claim))
    src_words = set(content_words(source))
    overlap = len(words & src_words) / len(words) if words else 0.0
    flipped = negation_mismatch(claim, source)
    ok = not missing_numbers and not missing_names and not flipped and overlap >= MIN_OVERLAP
    return Support(ok, overlap, missing_numbers, missing_names, flipped)


# Capitalised words that are not names of anything a source must mention.
_COMMON_CAPS = frozenset({"yes", "no", "the", "according", "however", "i"})


def resolve(
    claims: Sequence[ClaimSentence],
    items: Sequence[ContextItem],
    documents: Mapping[str, Document],
) -> tuple[list[tuple[ClaimSentence, list[Citation]]], list[Citation]]:
    """Check every claim against the sources it cites; repoint or flag citations that fail.

    Returns each claim with its final citations, and the distinct citations in
    order of first use; a citation keeps its source's number, so the markers the
    model streamed stay valid unless a citation had to be repointed.
    """
    by_n = {it.n: it for it in items}
    numbered: dict[tuple[str, int, int], Citation] = {}
    result = []
    for claim in claims:
        known = _known_names(documents, items)
        chosen = _choose_sources(claim, by_n, items, known)
        cites = []
        for item, ok in chosen:
            key = (item.chunk.doc_id, item.start, item.end)
            if key not in numbered:
                numbered[key] = Citation(
                    n=item.n,
                    chunk=item.chunk,
                    quote=item.text,
                    quote_start=item.start,
                    quote_end=item.end,
                    supported=ok,
                )
            cites.append(numbered[key])
        result.append((claim, cites))
    return result, list(numbered.values())


def _choose_sources(
    claim: ClaimSentence, by_n: Mapping[int, ContextItem], items: Sequence[ContextItem], known: frozenset[str]
) -> list[tuple[ContextItem, bool]]:
    """The cited sources that support the claim; else the best supporting one; else the cited ones, flagged."""
    cited = [by_n[n] for n in claim.cited if n in by_n]
    checks = {it.n: check_support(claim.text, it.text, known) for it in items}
    good = [it for it in cited if checks[it.n].supported]
    if good:
        return [(it, True) for it in good]
    if len(cited) > 1:
        joined = " ".join(it.text for it in cited)
        if check_support(claim.text, joined, known).supported:
            return [(it, True) for it in cited]
    best = max(items, key=lambda it: checks[it.n].overlap, default=None)
    if best is not None and checks[best.n].supported:
        return [(best, True)]
    if cited:
        return [(it, False) for it in cited]
    if best is not None and checks[best.n].overlap > 0:
        return [(best, False)]
    return []


def _known_names(documents: Mapping[str, Document], items: Sequence[ContextItem]) -> frozenset[str]:
    """Names a claim may use without its source repeating them: each cited document's subject."""
    out = set()
    for it in items:
        doc = documents.get(it.chunk.doc_id)
        if doc is not None and doc.country:
            out.add(doc.country.lower())
    return frozenset(out)
