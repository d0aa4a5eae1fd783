"""What kind of answer a question asks for: a fact, yes or no, a list, reasons, an overview, or a header field.

The kind decides how many of the report's sentences an answer quotes and where they come from:
a header field (tier, publisher, author, date, country, title) is answered from the report's own
header line; an overview quotes several sentences that cover the report or the topic asked about;
a list or a "why" may quote more than one sentence; a fact or a yes/no question quotes the one that
answers. The English words the rules read are in rag.language, with every other list the rules read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rag.language import (
    ASKS_FIELD,
    ASKS_LIST,
    ASKS_OVERVIEW,
    ASKS_WHY,
    ASKS_YES_NO,
    FIELD_MEANING,
    REPORT_WORDS_WRITTEN,
)
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


# Words that say "the report" rather than what it is about, stemmed: left out of an overview's topic.
REPORT_WORDS = frozenset(content_words(REPORT_WORDS_WRITTEN))


def reasons_query(question: str, intent: Intent) -> str:
    """The question, with what the header field it asks the reasons of stands for.

    >>> reasons_query("why tier 3?", Intent(Kind.WHY, ("tier",))).startswith("why tier 3? the government complies")
    True
    """
    meanings = [FIELD_MEANING[f] for f in intent.fields if f in FIELD_MEANING]
    return " ".join([question, *meanings]) if intent.kind is Kind.WHY and meanings else question


def asks_yes_no(question: str) -> bool:
    """A question answered by yes or no ("Does…", "Is…", "r they…"), not by a fact ("What…", "Which…").

    >>> asks_yes_no("does north korea prosecute traffickers"), asks_yes_no("Which countries host workers?")
    (True, False)
    >>> asks_yes_no("r nk workers forced to take jobs overseas")
    True
    """
    return bool(ASKS_YES_NO.match(question))


def asked_fields(question: str) -> tuple[str, ...]:
    """The header fields a question asks for, by the words it uses.

    >>> asked_fields("when was this published"), asked_fields("Who published this report?")
    (('date',), ('publisher',))
    >>> asked_fields("burma tier?"), asked_fields("which office wrote the afghanistan narrative")
    (('tier',), ('author',))
    """
    found = []
    for name, pattern in ASKS_FIELD:
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
    if ASKS_WHY.search(question):
        return Intent(Kind.WHY, asked_fields(question))
    fields = asked_fields(question)
    if fields:
        return Intent(Kind.FIELD, fields)
    if ASKS_OVERVIEW.search(question):
        words = [
            w for w in content_words(question) if w not in REPORT_WORDS and w not in subject_words and not w.isdigit()
        ]
        return Intent(Kind.OVERVIEW, topic=tuple(dict.fromkeys(words)))
    if asks_yes_no(question):
        return Intent(Kind.YES_NO)
    if ASKS_LIST.search(question):
        return Intent(Kind.LIST)
    return Intent(Kind.FACT)
