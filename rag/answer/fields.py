"""A question asking for a header field ("tier?", "who published this", "when did it come out") answered
from the header lines of the reports it names, each line quoted and cited as it stands.

The reports a question is about are those whose subject it names (a country, by any of its names in
the index), or, when it names none, every report searched: asked "which tier is honduras on", the
answer is the "HONDURAS (Tier 2 Watch List)" line; asked "which countries are on Tier 3", every
report whose tier line says Tier 3. A question that asks about more than a field ("is the US putting
sanctions on NK because of tier 3") is left to the sentence answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.answer.intent import REPORT_WORDS
from rag.ingest.aliases import Aliases, names_in
from rag.ingest.fields import HeaderLine, normal_tier
from rag.language import ASKING_WORDS_WRITTEN, ASKS_TIER, LABELS
from rag.text import content_words, numbers
from rag.types import Document

# Words that ask for a field, beyond the field's own name, stemmed; they are not what the question is about.
ASKING_WORDS = frozenset(content_words(ASKING_WORDS_WRITTEN))
# A leftover word this short is taken for a clipped word ("dept", "govt"), not for a topic. Chosen by hand.
CLIPPED = 4
# A number of this many digits in a question is a year, matched against the reports' dates.
YEAR_DIGITS = 4
# A question's word and a known word this long match when one starts with the other ("publ", "publish");
# chosen by hand, the length below which a word is too short to stand for a longer one.
PREFIX_MIN = 4


@dataclass(frozen=True)
class FieldAnswer:
    """The header lines that answer a field question, one per report, and the field they answer."""

    field: str
    lines: tuple[HeaderLine, ...]
    names: tuple[str, ...]  # the report each line belongs to, as the answer names it


def answer_fields(
    question: str,
    fields: Sequence[str],
    documents: Sequence[Document],
    header: Mapping[str, Sequence[HeaderLine]],
    aliases: Aliases,
) -> FieldAnswer | None:
    """The header lines answering `question`, which asks for `fields`, among `documents` (those searched)."""
    if not fields or not documents:
        return None
    named = named_reports(question, documents, aliases)
    leftover = _leftover(question, documents, header, aliases)
    if len(leftover) > 1 or any(len(w) > CLIPPED for w in leftover):
        return None  # the question asks about more than a header field
    targets = named or list(documents)
    years = {n for n in numbers(question) if len(n) == YEAR_DIGITS}
    if years:
        targets = [d for d in targets if numbers(d.date) & years]
    for field in fields:
        lines = [(d, _line(header.get(d.doc_id, ()), field)) for d in targets]
        found = [(d, line) for d, line in lines if line is not None]
        if not found:
            continue
        if field == "tier" and len(found) > 1:
            found = _with_tier_asked(question, found) or found
        return FieldAnswer(field, tuple(line for _, line in found), tuple(_name(d) for d, _ in found))
    return None


def asks_only_fields(
    question: str, documents: Sequence[Document], header: Mapping[str, Sequence[HeaderLine]], aliases: Aliases
) -> bool:
    """Every word of the question asks for a field or names a report ("and when?"; not "what does that mean")."""
    return not _leftover(question, documents, header, aliases)


def field_text(answer: FieldAnswer) -> str:
    """The answer's text: each value with the reports that have it and their markers.

    >>> from rag.ingest.fields import Field
    >>> from rag.types import Chunk
    >>> line = HeaderLine(Chunk("c", "d", "t", 0, 1, 1), 0, 1, (Field("tier", "Tier 3", 0, 1),))
    >>> field_text(FieldAnswer("tier", (line, line), ("North Korea", "Burma")))
    'Tier 3: North Korea [1], Burma [2].'
    >>> field_text(FieldAnswer("tier", (line,), ("North Korea",)))
    'North Korea: Tier 3 [1].'
    """
    if len(answer.lines) == 1:
        value = answer.lines[0].value(answer.field)
        subject = answer.names[0] if answer.field == "tier" else LABELS[answer.field]
        return f"{subject}: {value} [1]."
    by_value: dict[str, list[str]] = {}
    for n, (line, name) in enumerate(zip(answer.lines, answer.names), start=1):
        by_value.setdefault(line.value(answer.field), []).append(f"{name} [{n}]")
    label = "" if answer.field == "tier" else f"{LABELS[answer.field]} "
    return " ".join(f"{label}{value}: {', '.join(names)}." for value, names in by_value.items())


def _line(lines: Sequence[HeaderLine], field: str) -> HeaderLine | None:
    return next((line for line in lines if line.value(field)), None)


def _name(doc: Document) -> str:
    return doc.country or doc.title


def named_reports(question: str, documents: Sequence[Document], aliases: Aliases) -> list[Document]:
    """The reports whose subject the question names, by any name the index knows for it."""
    entities = names_in(question, aliases)
    return [
        d for d in documents if any(aliases.group_of(e) & aliases.subjects.get(d.doc_id, frozenset()) for e in entities)
    ]


def _leftover(
    question: str, documents: Sequence[Document], header: Mapping[str, Sequence[HeaderLine]], aliases: Aliases
) -> list[str]:
    """The question's words that neither ask for a field nor name a report, its subject or a header's words."""
    known: set[str] = set(ASKING_WORDS) | set(REPORT_WORDS)
    for d in documents:
        for name in aliases.subjects.get(d.doc_id, frozenset()) | {d.country.lower()}:
            known.update(content_words(name))
        for line in header.get(d.doc_id, ()):
            known.update(content_words(d.text[line.start : line.end]))
    words = [w for w in content_words(question) if not w.isdigit()]
    return [
        w
        for w in words
        if w not in known
        and not any(k.startswith(w) or w.startswith(k) for k in known if len(k) >= PREFIX_MIN and len(w) >= PREFIX_MIN)
    ]


def _with_tier_asked(question: str, found: list[tuple[Document, HeaderLine]]) -> list[tuple[Document, HeaderLine]]:
    """Of several reports, those on the tier the question names ("which countries are on Tier 3")."""
    m = ASKS_TIER.search(question)
    if not m:
        return []
    asked_tier = normal_tier(m.group("level"), bool(m.group("watch")))
    return [(d, line) for d, line in found if line.value("tier") == asked_tier]
