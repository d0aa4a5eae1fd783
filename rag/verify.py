"""Verification: does a cited sentence state a claim? The verdict behind every "Supported" label.

A claim is supported by a source sentence only when all of these hold:
- every entity the claim names (a capitalised name, or any name the index knows, in any case) is
  in the sentence, by itself or by an alias, or is the subject of the sentence's report;
- every number and every quantifier ("more than half", "tens of thousands", "most") agrees;
- nothing one side negates is stated plainly by the other, and a yes/no lead agrees with the
  sentence's polarity;
- the claim says something beyond the question it answers (an echo is no claim), and most of its
  own words are in the sentence.
A verified claim is shown as the answer only when its sentences are about the question
(`answers_question`): every report subject the question names is theirs or named in them, and
most of the question's words (typos allowed) are in them. A true sentence on a neighbouring topic
is shown as a quote, not as a verified answer.
Aliases are read from the indexed reports themselves (metadata and definitions such as
"The Democratic People's Republic of Korea (D. P. R. K. or North Korea)"), never from word lists.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rag.cite import split_claims
from rag.context import ContextItem
from rag.prompt import Reply
from rag.text import (
    COMMON_CAPS,
    HEDGES,
    content_words,
    fold_initialisms,
    names,
    negated,
    negation_flip,
    negation_scopes,
    numbers,
)
from rag.types import Document

# Share of a claim's own content words (beyond the question's) that its source must contain.
MIN_OVERLAP = 0.75


class Fault(StrEnum):
    """Why a claim is not supported by its source."""

    EMPTY = "empty"  # no words: a bare marker or punctuation
    ECHO = "echo"  # only restates the question
    ENTITY = "entity"  # names something the source does not
    NUMBER = "number"  # a number the source does not state
    QUANTIFIER = "quantifier"  # "about half" where the source says "more than half"
    POLARITY = "polarity"  # negation or yes/no disagrees
    OVERLAP = "overlap"  # too few of its words are in the source
    OFF_QUESTION = "off_question"  # true, but the sentence is not about what was asked


@dataclass(frozen=True)
class Verdict:
    """The result of checking one claim against one source sentence."""

    supported: bool
    faults: tuple[Fault, ...] = ()
    overlap: float = 0.0


# --- entities -------------------------------------------------------------------------------------

_DEFINITION = re.compile(r"((?:[A-Z][\w'\u2019]*|of|the)(?:\s+(?:[A-Z][\w'\u2019]*|of|the))*)\s*\(([^()\n]{1,80})\)")
_SMALL = frozenset({"of", "the", "and"})


def _norm(name: str) -> str:
    """Lower case, initialisms folded, "the" dropped, single spaces.

    >>> _norm("The D. P. R. K.")
    'dprk'
    """
    words = fold_initialisms(name).lower().replace("\u2019", "'").split()
    while words and words[0] == "the":
        words = words[1:]
    return " ".join(words).strip(" ,.;:")


def _initials(name: str) -> str:
    """'democratic people's republic of korea' -> 'dprk'; one-word names have none."""
    words = [w for w in name.split() if w not in _SMALL]
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
    return common >= 4 and common >= min(len(x), len(y)) - 1


def read_aliases(documents: Iterable[Document]) -> Aliases:
    """Alias groups from each report's subject and the "Long Name (SHORT or Other)" definitions in its text."""
    groups: list[set[str]] = []
    subjects: dict[str, frozenset[str]] = {}
    for doc in documents:
        for m in _DEFINITION.finditer(doc.text[:200_000]):
            long_name = _norm(m.group(1))
            inner = [_norm(p) for p in re.split(r"\s+or\s+|,|;", m.group(2))]
            inner = [p for p in inner if p and len(p) <= 40 and not any(ch.isdigit() for ch in p)]
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
        text = doc.text[:200_000]
        capital.update(m.group(1).lower() for m in _MID_CAPITAL.finditer(text))
        lower.update(re.findall(r"\b[a-z]{3,}\b", text))
    return frozenset(capital - lower)


def _is_alias(long_name: str, short: str, raw: str) -> bool:
    letters = _initials(long_name)
    if short == letters or (len(short) > 1 and short.isalpha() and letters.startswith(short)):
        return True
    # "North Korea" inside "(D. P. R. K. or North Korea)": a capitalised name shares a word with the long one.
    return bool(re.search(r"[A-Z]", raw)) and bool(set(short.split()) & set(long_name.split()) - _SMALL)


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


_ACRONYM = re.compile(r"\b[A-Z]{2,}s?\b")


def claim_entities(claim: str, aliases: Aliases) -> set[str]:
    """Names in a claim: capitalised runs, acronyms, and any name the index knows (or a form of it) in any case.

    >>> a = Aliases((frozenset({"north korea", "nk", "dprk"}), frozenset({"mongolia"})), {})
    >>> sorted(claim_entities("nk sends workers to the Czech Republic.", a))
    ['czech republic', 'nk']
    >>> sorted(claim_entities("Mongolian women and UN reports.", a))
    ['mongolian', 'un']
    """
    found = {n for n in names(claim) if n not in COMMON_CAPS}
    found |= {w.lower() for w in re.findall(r"\b[A-Z][a-z]{2,}\b", claim) if w.lower() in aliases.proper}
    found |= {
        m.group(0).lower().rstrip("s") if m.group(0).endswith("s") else m.group(0).lower()
        for m in _ACRONYM.finditer(claim)
    }
    words = re.findall(r"[\w']+", _norm(claim).replace("'s ", " ").replace("\u2019s ", " "))
    known = aliases.known()
    for k in range(1, 5):
        for i in range(len(words) - k + 1):
            gram = " ".join(words[i : i + k])
            if gram in known or any(_same_name(gram, a) for a in known if len(a.split()) == k or k == 1):
                found.add(gram)
    # A name inside a longer one found is not a second entity ("korea" in "north korea").
    return {n for n in found if not any(n != m and f" {n} " in f" {m} " for m in found)}


def entity_in(entity: str, source: str, subject: frozenset[str], aliases: Aliases) -> bool:
    """The entity, an alias or a derived form of it is in the source, or it is the source report's subject.

    >>> a = Aliases((frozenset({"people's republic of china", "prc"}),), {})
    >>> entity_in("chinese", "North Koreans in the P. R. C. are vulnerable.", frozenset(), a)
    True
    >>> entity_in("mongolia", "North Koreans in the P. R. C. are vulnerable.", frozenset(), a)
    False
    """
    forms = aliases.group_of(entity)
    if any(_same_name(f, s) or _same_name(s, f) for f in forms for s in subject):
        return True
    words = re.findall(r"[\w']+", _norm(source).replace("'s ", " ").replace("\u2019s ", " "))
    initials = {_initials(_norm(n)) for n in names(source)}
    if entity.isalpha() and len(entity) <= 5 and entity in initials:  # "US" for "United States"
        return True
    for form in forms:
        k = len(form.split())
        if any(_same_name(form, " ".join(words[i : i + k])) for i in range(len(words) - k + 1)):
            return True
    return False


# --- quantifiers ------------------------------------------------------------------------------------

_MODIFIERS = {
    "more than": "above",
    "over": "above",
    "at least": "above",
    "upwards of": "above",
    "less than": "below",
    "fewer than": "below",
    "under": "below",
    "at most": "below",
    "up to": "below",
    "nearly": "near",
    "almost": "near",
    "about": "approx",
    "around": "approx",
    "approximately": "approx",
    "roughly": "approx",
    "an estimated": "approx",
    "estimated": "approx",
}
_HEADS = {
    "half": "half",
    "a third": "third",
    "one third": "third",
    "a quarter": "quarter",
    "majority": "most",
    "most": "most",
    "all": "all",
    "every": "all",
    "many": "many",
    "numerous": "many",
    "some": "some",
    "few": "few",
    "a few": "few",
    "several": "several",
    "dozens": "dozens",
    "hundreds of thousands": "1e5s",
    "tens of thousands": "1e4s",
    "thousands": "1e3s",
    "hundreds": "1e2s",
    "millions": "1e6s",
}
_VAGUE = frozenset({"some", "many", "several", "few"})
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_QUANTIFIER = re.compile(
    r"\b(?:(" + "|".join(sorted(map(re.escape, _MODIFIERS), key=len, reverse=True)) + r")\s+)?"
    r"(" + "|".join(sorted(map(re.escape, _HEADS), key=len, reverse=True)) + r"|\d[\d,.]*)\b",
    re.IGNORECASE,
)


def quantifiers(text: str) -> set[tuple[str, str]]:
    """(bound, amount) pairs: how much a text says, with "about"/"more than" kept as a bound.

    >>> sorted(quantifiers("more than half of whom are women; tens of thousands reside"))
    [('', '1e4s'), ('above', 'half')]
    >>> sorted(quantifiers("About half are women."))
    [('approx', 'half')]
    """
    out = set()
    for m in _QUANTIFIER.finditer(text):
        mod, head = (m.group(1) or "").lower(), m.group(2).lower()
        amount = _HEADS.get(head) or head.replace(",", "").rstrip(".")
        if amount.startswith("0") and amount != "0":
            amount = amount.lstrip("0")
        out.add((_MODIFIERS.get(mod, ""), amount))
    return out


def quantifier_mismatch(claim: str, source: str) -> bool:
    """A quantity in the claim that the source does not state with the same bound.

    Leaving out an estimate's hedge is allowed ("150,000" for "an estimated 150,000"); leaving out
    or changing a bound is not ("half" or "about half" for "more than half").

    >>> quantifier_mismatch("About half are women.", "more than half of whom are women")
    True
    >>> quantifier_mismatch("More than half are women.", "more than half of whom are women")
    False
    >>> quantifier_mismatch("Thousands live there.", "tens of thousands of North Koreans may reside")
    True
    >>> quantifier_mismatch("150,000 persons are held.", "an estimated 150,000 persons are held")
    False
    """
    src = quantifiers(source)
    for bound, amount in quantifiers(claim):
        if (bound, amount) in src or (bound == "" and ("approx", amount) in src):
            continue
        # A vague word ("some", "many") added where the source states no amount changes nothing it says.
        if bound == "" and amount in _VAGUE and not src:
            continue
        return True
    return False


def spelled_numbers(text: str) -> str:
    """Small numbers written as words, as digits: 'Twelve cases' -> '12 cases'.

    >>> spelled_numbers("Twelve cases involving five victims")
    '12 cases involving 5 victims'
    """
    return re.sub(
        r"\b(" + "|".join(_NUMBER_WORDS) + r")\b",
        lambda m: _NUMBER_WORDS[m.group(1).lower()],
        text,
        flags=re.IGNORECASE,
    )


# --- yes/no -------------------------------------------------------------------------------------------

_LEAD = re.compile(r"^\s*(yes|no)\s*(?:[,.;:!-]\s*|$)", re.IGNORECASE)


def yes_no_lead(claim: str) -> tuple[str, str]:
    """('yes'|'no'|'', the rest of the claim).

    >>> yes_no_lead("No, it did not.")
    ('no', 'it did not.')
    """
    m = _LEAD.match(claim)
    return (m.group(1).lower(), claim[m.end() :]) if m else ("", claim)


_YES_NO_QUESTION = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|may|might|must)\b",
    re.IGNORECASE,
)


def asks_yes_no(question: str) -> bool:
    """A question answered by yes or no ("Does…", "Is…"), not by a fact ("What…", "Which…").

    >>> asks_yes_no("does north korea prosecute traffickers"), asks_yes_no("Which countries host workers?")
    (True, False)
    """
    return bool(_YES_NO_QUESTION.match(question))


# --- the verdict --------------------------------------------------------------------------------------


def polarity_mismatch(claim: str, source: str) -> bool:
    """What one side negates, the other states plainly.

    >>> polarity_mismatch("Yes, the government operated awareness campaigns.",
    ...     "There was no information indicating that the government operated any campaigns.")
    True
    >>> polarity_mismatch("The DPRK made no discernible law enforcement efforts.",
    ...     "The D. P. R. K. made no discernable efforts to combat trafficking through law enforcement efforts.")
    False
    >>> polarity_mismatch("A few international NGOs may operate.",
    ...     "A few international NGOs may operate, but there are no known indigenous NGOs.")
    False
    """
    if negation_flip(claim, source):
        return True
    claim_words = set(content_words(claim))
    _, claim_scope = negation_scopes(claim)
    source_pred, source_scope = negation_scopes(source)
    # A plain claim made of what the source denies: two or more of its words under one negation.
    return not claim_scope and len((source_scope - HEDGES) & claim_words) >= 2 and bool(source_pred)


def verify(
    claim: str,
    source: str,
    question: str = "",
    subject: frozenset[str] = frozenset(),
    aliases: Aliases | None = None,
) -> Verdict:
    """Whether `source` states `claim` (see the module docstring for what each check means).

    >>> src = "Many North Koreans cross into China, where more than half of whom are women."
    >>> verify("More than half of the North Koreans in China are women.", src).supported
    True
    >>> verify("About half of the North Koreans in China are women.", src).faults
    (<Fault.QUANTIFIER: 'quantifier'>,)
    >>> Fault.ENTITY in verify("Many Mongolians cross into China.", src).faults
    True
    """
    aliases = aliases or Aliases((), {})
    if claim.rstrip().endswith(":"):
        return Verdict(False, (Fault.ECHO,))  # an announcement of an answer, not one
    lead, rest = yes_no_lead(claim)
    if lead and question and not asks_yes_no(question):
        return Verdict(False, (Fault.POLARITY,))  # "Yes, ..." to "which office ..." answers nothing
    words = set(content_words(rest))
    if not words:
        return Verdict(False, (Fault.EMPTY,))
    faults: list[Fault] = []
    asked = set(content_words(question))
    new = words - asked
    if not new and not lead:
        faults.append(Fault.ECHO)
    if any(not entity_in(e, source, subject, aliases) for e in claim_entities(rest, aliases)):
        faults.append(Fault.ENTITY)
    src_numbers = numbers(spelled_numbers(source))
    if any(n not in src_numbers for n in numbers(spelled_numbers(rest))):
        faults.append(Fault.NUMBER)
    if quantifier_mismatch(spelled_numbers(rest), spelled_numbers(source)):
        faults.append(Fault.QUANTIFIER)
    if polarity_mismatch(rest, source) or _lead_contradicts(lead, rest, source):
        faults.append(Fault.POLARITY)
    elif lead == "yes" and _unconfirmed(question, source, subject):
        faults.append(Fault.POLARITY)  # "yes" asserts all that was asked; the source must state all of it
    # A yes/no answer restates the question, so all its words count; otherwise only what it adds.
    measured = words if lead or not new else new
    src_words = set(content_words(source))
    overlap = len(measured & src_words) / len(measured)
    if overlap < MIN_OVERLAP:
        faults.append(Fault.OVERLAP)
    return Verdict(not faults, tuple(faults), overlap)


def _unconfirmed(question: str, source: str, subject: frozenset[str]) -> bool:
    """A word of the question (its subject's names aside) that the source does not state.

    >>> _unconfirmed("is nk a destination country", "North Korea is a source country.", frozenset({"nk"}))
    True
    """
    named = {w for name in subject for w in content_words(name)}
    return bool(set(content_words(question)) - named - set(content_words(source)))


def _lead_contradicts(lead: str, rest: str, source: str) -> bool:
    """A "Yes" over a negated clause, a "No" over a plain one, or a "No" with a source that negates nothing."""
    if not lead:
        return False
    if lead == "yes":
        return negated(rest)
    return not negated(rest) and not negated(source) if rest.strip() else not negated(source)


def verify_bare(answer: str, question: str, source: str) -> bool:
    """A bare "Yes." or "No." to a yes/no question: the source must negate what was asked for "No".

    >>> q = "Does the government prosecute traffickers?"
    >>> verify_bare("No", q, "There were no known prosecutions of traffickers.")
    True
    >>> verify_bare("Yes", q, "There were no known prosecutions of traffickers.")
    False
    """
    lead, _ = yes_no_lead(answer)
    asked = set(content_words(question))
    if not asked & set(content_words(source)):
        return False
    return negated(source) == (lead == "no")


# --- relevance: is the verified sentence about the question? --------------------------------------

# Two stems this similar are the same word typed twice ("prision" for "prison", "traffik" for "traffick").
TYPO_RATIO = 0.85


def _typed_as(word: str, words: set[str]) -> bool:
    """`word` is in `words`, or a word of four letters or more differs from one of them by a typo."""
    if word in words:
        return True
    if len(word) < 4:
        return False
    return any(len(w) >= 4 and difflib.SequenceMatcher(None, word, w).ratio() >= TYPO_RATIO for w in words)


def about_question(question: str, sentence: str, subject: frozenset[str] = frozenset()) -> bool:
    """More than half of the question's content words (its subject's names aside) are in the sentence.

    >>> about_question("do N. Korean workers overseas get to keep their pay",
    ...     "All North Koreans will have left the Czech Republic by the end of 2007.")
    False
    >>> about_question("Has North Korea ratified the protocol?", "North Korea has not ratified the 2000 protocol.")
    True
    >>> about_question("who gets sent to prision camps", "Critics are sent to prison camps.")
    True
    """
    named = {w for name in subject for w in content_words(name)}
    asked = set(content_words(question)) - named
    have = set(content_words(sentence))
    return not asked or sum(_typed_as(w, have) for w in asked) * 2 > len(asked)


def answers_question(question: str, sources: str, subject: frozenset[str], aliases: Aliases) -> Verdict:
    """Whether verified `sources` (the cited sentences, joined) are about what `question` asks.

    A question naming a report's subject ("Mongolia") is not answered by another report's sentence
    that never names it, and a sentence sharing few of the question's words answers another question.

    >>> a = Aliases((frozenset({"mongolia"}), frozenset({"russia"})), {"m": frozenset({"mongolia"}),
    ...     "r": frozenset({"russia"})})
    >>> answers_question("Which tier was Mongolia placed on?", "Russia is placed on Tier 2 Watch List.",
    ...     frozenset({"russia"}), a).faults
    (<Fault.ENTITY: 'entity'>,)
    >>> answers_question("which tier is russia on", "Russia is placed on Tier 2 Watch List.",
    ...     frozenset({"russia"}), a).supported
    True
    """
    subjects = frozenset().union(*aliases.subjects.values()) if aliases.subjects else frozenset()
    faults: list[Fault] = []
    for entity in claim_entities(question, aliases):
        if aliases.group_of(entity) & subjects and not entity_in(entity, sources, subject, aliases):
            faults.append(Fault.ENTITY)
            break
    if not about_question(question, sources, subject):
        faults.append(Fault.OFF_QUESTION)
    return Verdict(not faults, tuple(faults))


# --- the stage: a model reply -> the lead that may be shown, and the evidence it rests on -----------


@dataclass(frozen=True)
class Checked:
    """What verification found in one reply: the lead it may show, the sentences it rests on, and why."""

    lead: str  # the lead, when every claim of it is stated by a candidate ("" otherwise)
    shown: str  # the lead shown as the answer: verified and about the question ("" shows the quotes alone)
    evidence: tuple[ContextItem, ...]  # the sentences cited: those stating the lead, or the one it was written from
    on_question: Verdict  # whether the evidence is about what was asked

    @property
    def supported(self) -> bool:
        """The citations may say Supported: their sentences state the answer shown, and it answers."""
        return bool(self.shown)


def check_reply(question: str, asked: str, reply: Reply, items: Sequence[ContextItem], aliases: Aliases) -> Checked:
    """Verify a reply's lead against the candidates and whether its evidence is about `asked`.

    `asked` is the question in its conversation (a follow-up that points back, with the previous
    question before it). The lead is checked against every candidate, the chosen ones first: a small
    model often writes the right sentence while naming the wrong number.
    """
    chosen = [items[n - 1] for n in reply.chosen]
    ordered = chosen + [it for it in items if it not in chosen]
    lead, supporting = checked_lead(question, reply.lead, ordered, aliases)
    evidence = supporting or [closest(reply.lead, ordered) or chosen[0]]
    subject = frozenset().union(*(aliases.subjects.get(it.chunk.doc_id, frozenset()) for it in evidence))
    relevant = answers_question(asked, " ".join(it.text for it in evidence), subject, aliases)
    return Checked(lead, lead if relevant.supported else "", tuple(evidence), relevant)


def checked_lead(
    question: str, lead: str, candidates: Sequence[ContextItem], aliases: Aliases
) -> tuple[str, list[ContextItem]]:
    """The lead and the candidates that state it (at most two), or ("", []) when any claim of it is not stated."""
    claims = [c.text for c in split_claims(lead) if c.text]
    if not claims:
        return "", []
    subjects = [aliases.subjects.get(it.chunk.doc_id, frozenset()) for it in candidates]
    supporting: list[ContextItem] = []
    for claim in claims:
        word, rest = yes_no_lead(claim)
        if word and not rest.strip(" .!"):
            ok = [it for it in candidates if asks_yes_no(question) and verify_bare(word, question, it.text)]
        else:
            ok = [
                it
                for it, subject in zip(candidates, subjects)
                if verify(claim, it.text, question, subject, aliases).supported
            ]
        if word:  # a yes or no is about the question's own proposition: its sentence must be too
            ok = [it for it in ok if about_question(question, it.text, subjects[candidates.index(it)])]
        if not ok:
            return "", []
        supporting += [it for it in ok[:1] if it not in supporting]
    return " ".join(claims), supporting[:2]


def closest(text: str, candidates: Sequence[ContextItem]) -> ContextItem | None:
    """The candidate sharing most content words with `text` (the sentence a lead was written from), if any."""
    words = set(content_words(text))
    best = max(candidates, key=lambda it: len(words & set(content_words(it.text))), default=None)
    return best if best is not None and words & set(content_words(best.text)) else None
