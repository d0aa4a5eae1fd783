"""The lexical judge's own words and text helpers: stopwords, negations, content words, numbers, names.

They read text as the answer path's helpers (rag.text) read it today, but are kept here, apart: the
instrument must not move when what it measures changes. A change to the answer path's word lists or
helpers leaves the evaluation's check as it was, so the citation metrics stay comparable across runs.
"""

from __future__ import annotations

import functools
import re

# "D. P. R. K." and "U.S." are single terms: folded to "dprk" and "us".
_INITIALISM = re.compile(r"\b(?:[A-Za-z]\.\s?){2,}")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")

# Words that carry no content of their own.
STOPWORDS = frozenset(
    """
    a an the and or but if of in on at to for from by with about as into over under than then there
    is are was were be been being do does did done has have had having it its this that these those
    what which who whom whose when where why how whether any some all each many much more most such
    not no nor only own same so too very can could should would may might must will shall
    i me my we our you your he him his she her they them their one ones also report according
    out up off down yes
    """.split()
)
# Capitalised words that are not names of anything a source must mention.
COMMON_CAPS = frozenset({"yes", "no", "the", "according", "however", "i"})
# Words that deny what follows.
NEGATORS = ("no", "not", "never", "none", "nor", "neither", "cannot")


def negation_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `words`, or a contracted "not" ("isn't"), as a whole word, in any case."""
    return re.compile(r"\b(?:" + "|".join(words) + r")\b|n't\b", re.IGNORECASE)


def fold_initialisms(text: str) -> str:
    """Spaced or dotted initialisms written as one word.

    >>> fold_initialisms("the D. P. R. K. and P. R. C. , the U.S. too")
    'the DPRK and PRC , the US too'
    """
    return _INITIALISM.sub(lambda m: re.sub(r"[.\s]", "", m.group(0)) + " ", text).replace("  ", " ")


@functools.cache
def _stemmer():
    """One English Snowball stemmer, built on first use."""
    import Stemmer

    return Stemmer.Stemmer("english")


def content_words(text: str) -> list[str]:
    """Stemmed lower-case words minus stopwords, with initialisms folded.

    >>> content_words("Were the D. P. R. K. camps used to convict anyone?")
    ['dprk', 'camp', 'use', 'convict', 'anyon']
    """
    words = [w for w in _WORD.findall(fold_initialisms(text).lower()) if w not in STOPWORDS]
    return _stemmer().stemWords(words)


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
