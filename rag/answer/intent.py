"""What kind of answer a question asks for: a fact, yes or no, a list, reasons, an overview, or a header field.

The kind decides how many of the report's sentences an answer quotes and where they come from:
a header field (tier, publisher, author, date, country, title) is answered from the report's own
header line; an overview quotes several sentences that cover the report or the topic asked about;
a list or a "why" may quote more than one sentence; a fact or a yes/no question quotes the one that
answers. Every English word the rules read is listed in this module, in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rag.text import content_words


class Kind(StrEnum):
    FACT = "fact"
    YES_NO = "yes-no"
    LIST = "list"
    WHY = "why"
    OVERVIEW = "overview"
    FIELD = "field"


@dataclass(frozen=True)
class Intent:
    """A question's kind; for FIELD the header fields asked for, for OVERVIEW the topic's words ("" = all)."""

    kind: Kind
    fields: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()


# --- the words the rules read ------------------------------------------------------------------------

_YES_NO = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+|also\s+)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|"
    r"should|may|might|must|r|isnt|arent|doesnt|dont|didnt|wasnt|werent|hasnt|havent)\b",
    re.IGNORECASE,
)
_WHY = re.compile(r"\bwhy\b|\bhow come\b|\bwhat (?:is|are) the reasons?\b|\bfor what reasons?\b", re.IGNORECASE)
_OVERVIEW = re.compile(
    r"\bsumm?ar|\bsum (?:it |this |that )?up\b|\boverview\b|\bgist\b|\btl;?dr\b|\brundown\b|\blowdown\b"
    r"|\b(?:main|key|major) (?:points?|findings?|takeaways?|issues?|themes?|problems?)\b"
    r"|\bwhat(?:'?s| is| does)\b[^?]*\b(?:report|document|narrative|text|it|this)\b[^?]*\babout\b"
    r"|\btell me (?:about|more)\b|\bin (?:a few|two|three|four|five|\d) (?:sentences|lines|words)\b"
    r"|\bbriefly\b|\bin short\b|\bdescribe\b|\bexplain\b[^?]*\b(?:situation|briefly|sentences)\b",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"^\s*(?:list|name|enumerate|give me (?:a|the) list)\b|\b(?:all|each|every) (?:the )?\w+s\b"
    r"|\b(?:which|what) (?:(?:other|kinds? of|types? of|sorts? of) )?"
    r"(?!does\b|is\b|was\b|has\b|this\b|us\b)\w{3,}[^s\W]s\b",
    re.IGNORECASE,
)
# Header fields and the words that ask for each. A question asking when something was published
# asks for the date, not the publisher, so the date is tried first.
_FIELDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(
            r"\bwhen\b[^?]*\b(?:publish|release|issu|come out|came out|written|dated|put out)\w*"
            r"|\b(?:publish|release|issu|wr[io]te|written)\w*\b[^?]*\bwhen\b"
            r"|\b(?:publication|release|issue) date\b|^\W*date\b|\bdated?\b[^?]*\breport\b"
            r"|\bwhat (?:year|date|day)\b[^?]*\b(?:report|publish|releas|this|it)\w*",
            re.IGNORECASE,
        ),
    ),
    ("tier", re.compile(r"\btiers?\b|\branking\b|\branked\b|\bwatch ?-?list\b", re.IGNORECASE)),
    (
        "author",
        re.compile(
            r"\bauthor\w*|\bwho (?:wrote|writes|prepared|compiled)\b|\bwritten by\b|\b(?:which|what) office\b",
            re.IGNORECASE,
        ),
    ),
    (
        "publisher",
        re.compile(r"\bpublish\w*|\bput out\b|\bissued\b|\bwho released\b|\bpublication\b", re.IGNORECASE),
    ),
    (
        "country",
        re.compile(
            r"\b(?:what|which) country\b[^?]*\b(?:about|cover|this|report)\w*|\bis (?:this|it|the report) about\b",
            re.IGNORECASE,
        ),
    ),
    ("title", re.compile(r"\btitle\b|\bwhat is (?:this|the) (?:report|document) called\b", re.IGNORECASE)),
)
# What a header field's value stands for, in the words a report explains it with: asked why a report
# is on its tier, the answer is what it says of the government's compliance with the minimum standards
# (the tiers of the Trafficking in Persons Reports are defined by them).
FIELD_MEANING = {
    "tier": "the government complies with the minimum standards for the elimination of trafficking and "
    "makes significant efforts to meet them",
}


def reasons_query(question: str, intent: Intent) -> str:
    """The question, with what the header field it asks the reasons of stands for.

    >>> reasons_query("why tier 3?", Intent(Kind.WHY, ("tier",))).startswith("why tier 3? the government complies")
    True
    """
    meanings = [FIELD_MEANING[f] for f in intent.fields if f in FIELD_MEANING]
    return " ".join([question, *meanings]) if intent.kind is Kind.WHY and meanings else question


# Words that say "the report" rather than what it is about; left out of an overview's topic.
REPORT_WORDS = frozenset(
    content_words(
        "report document narrative text paper summary summarize summarise overview gist tldr tl dr rundown "
        "lowdown main key major points point findings finding takeaways issues themes problems tell explain "
        "describe brief briefly short sentences sentence lines few two three four five pls please give "
        "quick whole entire deal going sum say says talk talks country countries tip trafficking persons what whats"
    )
)


def asks_yes_no(question: str) -> bool:
    """A question answered by yes or no ("Does…", "Is…", "r they…"), not by a fact ("What…", "Which…").

    >>> asks_yes_no("does north korea prosecute traffickers"), asks_yes_no("Which countries host workers?")
    (True, False)
    >>> asks_yes_no("r nk workers forced to take jobs overseas")
    True
    """
    return bool(_YES_NO.match(question))


def asked_fields(question: str) -> tuple[str, ...]:
    """The header fields a question asks for, by the words it uses.

    >>> asked_fields("when was this published"), asked_fields("Who published this report?")
    (('date',), ('publisher',))
    >>> asked_fields("burma tier?"), asked_fields("which office wrote the afghanistan narrative")
    (('tier',), ('author',))
    """
    found = []
    for name, pattern in _FIELDS:
        if pattern.search(question) and not (name == "publisher" and "date" in found):
            found.append(name)
    return tuple(found)


def read_intent(question: str, subject_words: frozenset[str] = frozenset()) -> Intent:
    """The kind of answer `question` asks for; `subject_words` are the indexed reports' subject names,
    as content words, which do not make an overview's topic.

    >>> read_intent("Why is North Korea placed on Tier 3?").kind
    <Kind.WHY: 'why'>
    >>> read_intent("qatar 2003 tier?")
    Intent(kind=<Kind.FIELD: 'field'>, fields=('tier',), topic=())
    >>> read_intent("summarize the report")
    Intent(kind=<Kind.OVERVIEW: 'overview'>, fields=(), topic=())
    >>> read_intent("tell me about the prison camps").topic
    ('prison', 'camp')
    >>> read_intent("list the countries NK sends workers to").kind, read_intent("is nk a party to it").kind
    (<Kind.LIST: 'list'>, <Kind.YES_NO: 'yes-no'>)
    """
    if _WHY.search(question):
        return Intent(Kind.WHY, asked_fields(question))
    fields = asked_fields(question)
    if fields:
        return Intent(Kind.FIELD, fields)
    if _OVERVIEW.search(question):
        words = [
            w for w in content_words(question) if w not in REPORT_WORDS and w not in subject_words and not w.isdigit()
        ]
        return Intent(Kind.OVERVIEW, topic=tuple(dict.fromkeys(words)))
    if asks_yes_no(question):
        return Intent(Kind.YES_NO)
    if _LIST.search(question):
        return Intent(Kind.LIST)
    return Intent(Kind.FACT)
