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

from rag.context import STOPWORDS, ContextItem, content_words
from rag.lexical import fold_initialisms
from rag.sentences import sentences
from rag.types import Citation, Document

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")
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
    """Runs of capitalised words; a single capitalised word opening a sentence is not a name.

    >>> sorted(names("The Czech Ministry acted. North Korea agreed. Officials met in January."))
    ['czech ministry', 'january', 'north korea']
    """
    folded = fold_initialisms(text)
    out = set()
    for m in _NAME.finditer(folded):
        words = m.group(0).split()
        at_start = bool(_SENTENCE_START.search(folded[: m.start()]))
        while words and words[0].lower() in STOPWORDS:
            words, at_start = words[1:], False
        if words and not (at_start and len(words) == 1):
            out.add(" ".join(words).lower())
    return out


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
    ['evid', 'forc', 'ratifi']
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
    known = _known_names(documents, items)
    numbered: dict[tuple[int, bool], Citation] = {}
    # A source cited for a claim it does not support gets a number of its own,
    # so that its marker can never borrow the standing of a valid citation.
    spare = max((it.n for it in items), default=0)
    result = []
    for claim in claims:
        chosen = _choose_sources(claim, by_n, items, known)
        cites = []
        for item, ok in chosen:
            key = (item.n, ok)
            if key not in numbered:
                if not ok:
                    spare += 1
                numbered[key] = Citation(
                    n=item.n if ok else spare,
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
