"""Names of the same thing across the indexed reports: each report's subject and the aliases the reports define.

Read from the reports themselves (each report's `country` and definitions such as "The Democratic
People's Republic of Korea (D. P. R. K. or North Korea)", plus the initials of multi-word names),
never from word lists: asked about "nk", "dprk" or "the D.P.R.K.", the answer stage knows which
report is meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rag.language import (
    ACRONYM,
    ALIAS_SEPARATOR,
    COMMON_CAPS,
    DEFINITION,
    LEADING_ARTICLE,
    NAME_LINKS,
    POSSESSIVES,
)
from rag.text import fold_initialisms, names
from rag.types import Document

# Definitions and proper names are read from this many characters of each report: a report defines its
# names early, and the scan stays cheap on a long file. Chosen by hand.
SCAN_CHARS = 200_000
# A form inside a definition's parenthesis longer than this is a phrase, not a name. Chosen by hand.
MAX_ALIAS_CHARS = 40
# A word and a derived one ("china", "chinese") share at least this many first letters. Chosen by hand.
SHARED_STEM = 4
# Names of up to this many words are looked up among the known ones. Chosen by hand.
MAX_NAME_WORDS = 4


def _norm(name: str) -> str:
    """Lower case, initialisms folded, "the" dropped, single spaces.

    >>> _norm("The D. P. R. K.")
    'dprk'
    """
    words = fold_initialisms(name).lower().replace("\u2019", "'").split()
    while words and words[0] == LEADING_ARTICLE:
        words = words[1:]
    return " ".join(words).strip(" ,.;:")


def _initials(name: str) -> str:
    """'democratic people's republic of korea' -> 'dprk'; one-word names have none."""
    words = [w for w in name.split() if w not in NAME_LINKS]
    return "".join(w[0] for w in words) if len(words) > 1 else ""


@dataclass(frozen=True)
class Aliases:
    """Names of the same thing, read from the indexed reports."""

    groups: tuple[frozenset[str], ...]
    subjects: Mapping[str, frozenset[str]]  # doc_id -> the names of that report's subject
    # Words the reports write only capitalised, and capitalised inside sentences: proper names
    # ("Malaysia", "Duma"), so a claim that opens with one names something.
    proper: frozenset[str] = frozenset()

    def group_of(self, entity: str) -> frozenset[str]:
        """All names equal to `entity` (itself, its aliases, names it is a form of: "chinese" ~ "china")."""
        out = {entity}
        for group in self.groups:
            if any(_same_name(entity, g) for g in group):
                out |= group
        return frozenset(out)

    def known(self) -> frozenset[str]:
        """Every name the index has aliases for."""
        return frozenset().union(*self.groups) if self.groups else frozenset()


def _same_name(a: str, b: str) -> bool:
    """One name is a form of the other: equal, or a derived word ("korean", "chinese", "thai").

    >>> _same_name("chinese", "people's republic of china"), _same_name("south korean", "north korea")
    (True, False)
    >>> _same_name("north korean", "north korea"), _same_name("thai", "thailand"), _same_name("iran", "iraq")
    (True, True, False)
    """
    if a == b:
        return True
    aw, bw = a.split(), b.split()
    if len(aw) == 1 and len(bw) > 1:  # a demonym stands for the name's head: "chinese" for "... of china"
        bw = bw[-1:]
    if len(aw) != len(bw) or aw[:-1] != bw[:-1]:
        return False
    x, y = aw[-1], bw[-1]
    common = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
    return common >= SHARED_STEM and common >= min(len(x), len(y)) - 1


def read_aliases(documents: Iterable[Document]) -> Aliases:
    """Alias groups from each report's subject and the "Long Name (SHORT or Other)" definitions in its text."""
    groups: list[set[str]] = []
    subjects: dict[str, frozenset[str]] = {}
    for doc in documents:
        for m in DEFINITION.finditer(doc.text[:SCAN_CHARS]):
            long_name = _norm(m.group(1))
            inner = [_norm(p) for p in ALIAS_SEPARATOR.split(m.group(2))]
            inner = [p for p in inner if p and len(p) <= MAX_ALIAS_CHARS and not any(ch.isdigit() for ch in p)]
            # Only real definitions: the parenthesis holds initials of the name, or a proper name.
            if long_name and inner and any(_is_alias(long_name, p, m.group(2)) for p in inner):
                group = {long_name, *inner}
                group |= {i for i in map(_initials, list(group)) if len(i) > 1}
                groups.append(group)
        subject = _norm(doc.country) if doc.country else ""
        if subject:
            mine = {subject} | ({_initials(subject)} - {""})
            for g in groups:
                if any(_same_name(subject, n) for n in g):
                    mine |= g
            groups.append(mine)
            subjects[doc.doc_id] = frozenset(mine)
    merged = _merge(groups)
    out_subjects = {d: frozenset().union(*(g for g in merged if s & g)) for d, s in subjects.items()}
    return Aliases(tuple(frozenset(g) for g in merged), out_subjects, proper_words(documents))


_MID_CAPITAL = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]{2,})\b")


def proper_words(documents: Iterable[Document]) -> frozenset[str]:
    """Words written capitalised inside sentences and never in lower case, across the reports.

    >>> from rag.types import Document
    >>> t = "Women go to Taiwan, Malaysia, and Japan. Malaysia acts. Inmates log, and inmates mine."
    >>> sorted(proper_words([Document("d", t, ((0, len(t)),), "t")]))
    ['japan', 'malaysia', 'taiwan']
    """
    capital: set[str] = set()
    lower: set[str] = set()
    for doc in documents:
        text = doc.text[:SCAN_CHARS]
        capital.update(m.group(1).lower() for m in _MID_CAPITAL.finditer(text))
        lower.update(re.findall(r"\b[a-z]{3,}\b", text))
    return frozenset(capital - lower)


def _is_alias(long_name: str, short: str, raw: str) -> bool:
    letters = _initials(long_name)
    if short == letters or (len(short) > 1 and short.isalpha() and letters.startswith(short)):
        return True
    # "North Korea" inside "(D. P. R. K. or North Korea)": a capitalised name shares a word with the long one.
    return bool(re.search(r"[A-Z]", raw)) and bool(set(short.split()) & set(long_name.split()) - NAME_LINKS)


def _merge(groups: list[set[str]]) -> list[set[str]]:
    out: list[set[str]] = []
    for g in groups:
        g = set(g)
        keep = []
        for h in out:
            if g & h:
                g |= h
            else:
                keep.append(h)
        out = [*keep, g]
    return out


def names_in(text: str, aliases: Aliases) -> set[str]:
    """Names in a text: capitalised runs, acronyms, and any name the index knows (or a form of it) in any case.

    >>> a = Aliases((frozenset({"north korea", "nk", "dprk"}), frozenset({"mongolia"})), {})
    >>> sorted(names_in("nk sends workers to the Czech Republic.", a))
    ['czech republic', 'nk']
    >>> sorted(names_in("Mongolian women and UN reports.", a))
    ['mongolian', 'un']
    """
    found = {n for n in names(text) if n not in COMMON_CAPS}
    found |= {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", text) if w.lower() in aliases.proper}
    found |= {
        m.group(0).lower().rstrip("s") if m.group(0).endswith("s") else m.group(0).lower()
        for m in ACRONYM.finditer(text)
    }
    normal = _norm(text)
    for ending in POSSESSIVES:
        normal = normal.replace(ending, " ")
    words = re.findall(r"[\w']+", normal)
    known = aliases.known()
    for k in range(1, MAX_NAME_WORDS + 1):
        for i in range(len(words) - k + 1):
            gram = " ".join(words[i : i + k])
            if gram in known or any(_same_name(gram, a) for a in known if len(a.split()) == k or k == 1):
                found.add(gram)
    # A name inside a longer one found is not a second entity ("korea" in "north korea").
    return {n for n in found if not any(n != m and f" {n} " in f" {m} " for m in found)}
