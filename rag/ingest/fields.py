"""A report's header fields (title, publisher, author, date, country, tier), each with its line's exact place.

Reports open with a few header lines: "Publisher United States Department of State" and
"Publication Date 12 June 2007" in one shape, a bare "June 11, 2003" and "Office to Monitor and
Combat Trafficking in Persons" in another, and a "North Korea (Tier 3)" or "HAITI (TIER 2 - WATCH
LIST)" heading in both. Ingest reads the metadata from them; the answer stage quotes the line itself
when a question asks for a field, so the answer cites the exact span of the header it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.language import DATE_LINE, KEY_FIELDS, KEY_VALUE_LINE, LOWER_IN_NAMES, OFFICE_LINE, REPORT_WORD, TIER_LINE
from rag.types import METADATA_FIELDS, Chunk, Document

# Only the opening of a text can be its header. Chosen by hand; the header lines of the shipped reports
# all end by character 715.
HEADER_CHARS = 3000
# A header line longer than this is prose, not a title. Chosen by hand.
MAX_TITLE_CHARS = 150
FIELD_NAMES = (*METADATA_FIELDS, "tier")


@dataclass(frozen=True)
class Field:
    """One header field: its value, and the line of the document that states it (start, end)."""

    name: str
    value: str
    start: int
    end: int


def header_fields(text: str, spans: Sequence[tuple[int, int]] | None = None) -> tuple[Field, ...]:
    """The header fields of a report, first occurrence of each, with their lines' offsets.

    Only lines inside `spans` (the document's content, web-archive furniture left out) count.

    >>> t = "Trafficking in Persons Report\\nOffice to Monitor and Combat Trafficking in Persons\\n"
    >>> t += "June 11, 2003\\n\\nQATAR (Tier 2)\\n\\nQatar is a destination country."
    >>> [(f.name, f.value) for f in header_fields(t)]
    [('country', 'Qatar'), ('tier', 'Tier 2'), ('date', 'June 11, 2003'), \
('author', 'Office to Monitor and Combat Trafficking in Persons'), ('title', 'Trafficking in Persons Report')]
    >>> f = header_fields("Title line\\n\\nPublisher Some Ministry\\nAuthor Some Office\\n\\nText.")[0]
    >>> (f.name, f.value, "Title line\\n\\nPublisher Some Ministry"[f.start:f.end])
    ('publisher', 'Some Ministry', 'Publisher Some Ministry')
    """
    head = _within(text[:HEADER_CHARS], spans)
    found: dict[str, Field] = {}

    def add(name: str, value: str, start: int, end: int) -> None:
        if value and name not in found:
            found[name] = Field(name, value, start, end)

    pairs = list(KEY_VALUE_LINE.finditer(head))
    for m in pairs:
        # A "Key Value" line is a header field only beside another one: a lone "Country Narratives --
        # Countries H through P" is a heading, not a country.
        if any(o is not m and _adjacent(head, m, o) for o in pairs):
            add(KEY_FIELDS.get(m.group(1), m.group(1).lower()), m.group(2), m.start(), m.end())
    tier = TIER_LINE.search(head)
    if tier:
        line = (tier.start(), tier.end())
        add("country", _name_case(tier.group("country").strip()), *line)
        add("tier", normal_tier(tier.group("level"), bool(tier.group("watch"))), *line)
    limit = tier.start() if tier else len(head)
    date = DATE_LINE.search(head, 0, limit)
    if date:
        add("date", date.group("date"), date.start("date"), date.end("date"))
    office = OFFICE_LINE.search(head, 0, limit)
    if office:
        add("author", office.group("office"), office.start("office"), office.end("office"))
    title = _title_line(head, limit, [f for f in found.values()])
    if title:
        add("title", *title)
    return tuple(found.values())


def _within(head: str, spans: Sequence[tuple[int, int]] | None) -> str:
    """`head` with everything outside `spans` blanked (line breaks kept), so offsets stay those of the text.

    >>> _within("Updated: now|Title", [(13, 18)])
    '             Title'
    """
    if spans is None:
        return head
    keep = [False] * len(head)
    for s, e in spans:
        for i in range(max(0, s), min(e, len(head))):
            keep[i] = True
    return "".join(c if keep[i] or c == "\n" else " " for i, c in enumerate(head))


def normal_tier(level: str, watch: bool) -> str:
    """'Tier 2 Watch List' however the heading writes it ("TIER 2 - WATCH LIST", "Tier II").

    >>> normal_tier("ii", True), normal_tier("3", False)
    ('Tier 2 Watch List', 'Tier 3')
    """
    number = str(len(level)) if level.lower().startswith("i") else level
    return f"Tier {number}" + (" Watch List" if watch else "")


def _name_case(name: str) -> str:
    """A name written in capitals, in the case used in running text: 'BOSNIA AND HERZEGOVINA' ->
    'Bosnia and Herzegovina'; a name already in mixed case is kept."""
    if not name.isupper():
        return name
    words = name.lower().split()
    return " ".join(w if i and w in LOWER_IN_NAMES else w.capitalize() for i, w in enumerate(words))


def _adjacent(text: str, a: re.Match[str], b: re.Match[str]) -> bool:
    """Two matches on consecutive lines."""
    first, second = (a, b) if a.start() < b.start() else (b, a)
    return text[first.end() : second.start()].count("\n") == 1


def _title_line(head: str, limit: int, fields: list[Field]) -> tuple[str, int, int] | None:
    """A "Title …" field, else the first header line naming a report, else the first heading-like line."""
    taken = [(f.start, f.end) for f in fields]
    lines = []
    pos = 0
    for line in head[:limit].split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        value = line.strip().lstrip("#").strip()
        if not value or any(s <= start + len(line) - len(line.lstrip()) < e for s, e in taken):
            continue
        if len(value) > MAX_TITLE_CHARS or value[-1] in ".!?,;:" or KEY_VALUE_LINE.match(line) or DATE_LINE.match(line):
            continue
        offset = start + line.index(value)
        lines.append((value, offset, offset + len(value)))
    named = [line for line in lines if REPORT_WORD.search(line[0])]
    chosen = named or lines
    return chosen[0] if chosen else None


@dataclass(frozen=True)
class HeaderLine:
    """A line of a report's header that states one or more fields, and the passage that holds it."""

    chunk: Chunk
    start: int
    end: int
    fields: tuple[Field, ...]

    def value(self, name: str) -> str:
        return next((f.value for f in self.fields if f.name == name), "")


def header_lines(document: Document, chunks: Iterable[Chunk]) -> tuple[HeaderLine, ...]:
    """The header lines of `document` that lie inside one of its indexed passages (`chunks`: its own)."""
    by_line: dict[tuple[int, int], list[Field]] = {}
    for f in header_fields(document.text, document.spans):
        by_line.setdefault((f.start, f.end), []).append(f)
    own = [c for c in chunks if c.doc_id == document.doc_id and c.start < HEADER_CHARS]
    lines = []
    for (start, end), fields in by_line.items():
        chunk = next((c for c in own if c.start <= start and end <= c.end), None)
        if chunk is not None:
            lines.append(HeaderLine(chunk, start, end, tuple(fields)))
    return tuple(lines)
