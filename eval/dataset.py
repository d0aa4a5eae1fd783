"""Question sets: JSONL rows validated against the shared schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from rag.schema import Turn

# The shared schema's types; a set may add its own ("yes-no", "summary"), reported under their own name.
KNOWN_TYPES = ("fact", "list", "why", "paraphrase", "multi-turn", "unanswerable", "injection")


class EvalItem(BaseModel):
    """One question with its reference answer, required strings and evidence quotes.

    A row without `answerable` is unlabelled (say, exported feedback waiting for a person): it loads,
    but is never scored.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    id: str
    question: str
    history: tuple[Turn, ...] = ()
    answerable: bool | None = None
    type: str = Field(min_length=1)
    answer: str = ""
    must_include: tuple[tuple[str, ...], ...] = ()
    # Strings whose presence makes an answer wrong (an inverted "yes,", another country's tier).
    must_not: tuple[str, ...] = ()
    evidence: tuple[str, ...] = Field(default=())
    # "held": kept out of every tuning decision and reported apart.
    split: Literal["dev", "held"] = "dev"

    @property
    def labelled(self) -> bool:
        """True once a person has said whether the report answers the question."""
        return self.answerable is not None


class DatasetError(ValueError):
    """A question set that does not follow the schema; names the file and line."""


_TURN = '{"role": "user" or "assistant", "content": "<text>"}'
# What each field of a row must be, for error messages; list positions in a path are "#".
_EXPECTED = {
    "id": "a string",
    "question": "a string",
    "history": f"a list of turns, each {_TURN}",
    "history.#": _TURN,
    "history.#.content": "a string",
    "answerable": "true or false, or no answerable field for an unlabelled row",
    "type": f"a non-empty string: one of {', '.join(KNOWN_TYPES)}, or a type of the set's own",
    "answer": "a string",
    "must_include": "a list of any-of groups, each a list of strings",
    "must_include.#": "a list of strings",
    "must_include.#.#": "a string",
    "must_not": "a list of strings",
    "must_not.#": "a string",
    "evidence": "a list of strings",
    "evidence.#": "a string",
}
_JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}


def load_dataset(path: Path) -> list[EvalItem]:
    """Parse and validate a JSONL question set; ids must be unique.

    A bad row raises DatasetError naming the file and line and, for each of its problems, the
    field, the value given and the values allowed (or the type expected).
    """
    items: list[EvalItem] = []
    first_seen: dict[str, int] = {}
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            item = _row(raw, f"{path}:{number}")
            if item is None:
                continue
            if item.id in first_seen:
                raise DatasetError(f"{path}:{number}: duplicate id {item.id!r} (first on line {first_seen[item.id]})")
            first_seen[item.id] = number
            items.append(item)
    if not items:
        raise DatasetError(f"{path} holds no questions")
    return items


def _row(raw: bytes, where: str) -> EvalItem | None:
    """One line of a question set as an item (None for a blank line), or DatasetError saying what to fix."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{where}: not UTF-8 text (byte {err.start + 1} of the line)") from err
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{where}: not valid JSON at column {err.colno}: {err.msg}") from err
    if not isinstance(row, dict):
        kind = "null" if row is None else _JSON_KINDS.get(type(row), type(row).__name__)
        raise DatasetError(f'{where}: the row is {kind}; expected a JSON object with "id", "question" and "type"')
    try:
        return EvalItem.model_validate(row)
    except ValidationError as err:
        problems = "; ".join(_problem(e) for e in err.errors())
        raise DatasetError(f"{where}: not a valid question row: {problems}") from err


def _problem(error: ErrorDetails) -> str:
    """One validation error as a clause: the field's dotted path, what was given, what is allowed.

    >>> _problem({"type": "literal_error", "loc": ("split",), "msg": "Input should be 'dev' or 'held'",
    ...          "input": "test", "ctx": {"expected": "'dev' or 'held'"}})
    'split: "test" is not allowed (allowed: "dev", "held")'
    """
    loc = tuple(error["loc"])
    field = ".".join(str(part) for part in loc) or "the row"
    expected = _EXPECTED.get(".".join("#" if isinstance(part, int) else str(part) for part in loc))
    msg = error["msg"]
    kind = error["type"]
    if kind == "missing":
        return f"{field}: missing (expected {expected or 'a value'})"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        return f"{field}: {_shown(error['input'])} is not allowed (allowed: {', '.join(map(json.dumps, allowed))})"
    if kind == "extra_forbidden":
        parent = _EXPECTED.get(".".join("#" if isinstance(part, int) else str(part) for part in loc[:-1]))
        return f"{field}: not a field here" + (f" (expected {parent})" if parent else "")
    if kind == "value_error":
        return f"{field}: {msg.removeprefix('Value error, ')}"
    wanted = expected or msg.removeprefix("Input should be ")
    return f"{field}: {_shown(error['input'])} given (expected {wanted})"


def _shown(value: Any, limit: int = 60) -> str:
    """A given value as JSON, cut short: a message stays one readable line.

    >>> _shown("x" * 100, limit=10)
    '"xxxxxxxx…'
    """
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
