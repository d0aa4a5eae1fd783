"""What comes in at the edge: a question, a conversation turn, an ask and a search request.

One set of types and limits for the JSON API, the chat, `rag ask --history` and the pipeline.
A question is at most `max_chars` characters (RAG_MAX_QUESTION_CHARS); an earlier user turn too,
an assistant turn ten times that (it quotes the report); at most 50 turns. Validation needs the
configured limit, given as `context={"max_chars": n}` or through `parse`.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rag.feedback import MAX_NOTE_CHARS, Rating
from rag.text import printable

# Limits on what a client sends: turns of history, an assistant turn's length as a multiple of a question's,
# passages asked for. Chosen by hand.
MAX_HISTORY_TURNS = 50
ASSISTANT_TURN_FACTOR = 10  # an assistant turn may be this many times a question's length
MAX_K = 100


class QuestionError(ValueError):
    """A question or request that cannot be taken as it is; the message says what to fix."""


def check_question(question: str, limit: int) -> str:
    """The question, stripped of control characters and surrounding space, or QuestionError."""
    cleaned = printable(question).strip()
    if not cleaned:
        raise QuestionError("the question is empty; type a question about the report")
    if len(cleaned) > limit:
        raise QuestionError(f"the question has {len(cleaned)} characters; the limit is {limit}")
    return cleaned


def turn_limit(role: str, max_chars: int) -> int:
    """How long a turn of `role` may be."""
    return max_chars if role == "user" else ASSISTANT_TURN_FACTOR * max_chars


def _control_characters(text: str) -> bool:
    """True when `text` holds control characters other than tab and newlines."""
    return any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)


def _max_chars(info: ValidationInfo) -> int:
    """The configured question limit, or the settings' default when validating without one."""
    from rag.settings import AnswerSettings

    default = AnswerSettings.model_fields["max_question_chars"].default
    return int((info.context or {}).get("max_chars", default))


class Turn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    content: str

    @model_validator(mode="after")
    def _within_limit(self, info: ValidationInfo) -> Turn:
        limit = turn_limit(self.role, _max_chars(info))
        if len(self.content) > limit:
            raise ValueError(f"a turn by the {self.role} has {len(self.content)} characters; the limit is {limit}")
        return self


_TURN_SHAPE = '{"role": "user" or "assistant", "content": "<text>"}'


class HistoryError(QuestionError):
    """A conversation that breaks a rule; `rule` says which ("shape", "count" or "length") and the
    other fields where, for callers that word the problem their own way."""

    def __init__(
        self, text: str, rule: str, *, turns: int = 0, number: int = 0, role: str = "", length: int = 0, limit: int = 0
    ) -> None:
        super().__init__(text)
        self.rule = rule
        self.turns = turns  # how many turns the conversation has ("count")
        self.number, self.role, self.length, self.limit = number, role, length, limit  # the turn too long


def parse_history(value: Any, max_chars: int) -> tuple[Turn, ...]:
    """A conversation (a list of turns) as Turns, or HistoryError saying which rule it breaks first."""
    too_many = f'"history" must be a list of at most {MAX_HISTORY_TURNS} turns'
    if not isinstance(value, list | tuple):
        raise HistoryError(too_many, "shape")
    if len(value) > MAX_HISTORY_TURNS:
        raise HistoryError(too_many, "count", turns=len(value))
    turns = []
    for number, turn in enumerate(value, start=1):
        if isinstance(turn, Turn):
            turn = turn.model_dump()
        if not (
            isinstance(turn, dict)
            and turn.get("role") in ("user", "assistant")
            and isinstance(turn.get("content"), str)
        ):
            raise HistoryError(f'"history" turns must be {_TURN_SHAPE}', "shape")
        role, content = turn["role"], turn["content"]
        try:
            turns.append(Turn.model_validate({"role": role, "content": content}, context={"max_chars": max_chars}))
        except ValidationError as err:
            text = f'"history" turns must be {_TURN_SHAPE}; {message(err)}'
            limit = turn_limit(role, max_chars)
            raise HistoryError(text, "length", number=number, role=role, length=len(content), limit=limit) from err
    return tuple(turns)


def _turns(value: Any, info: ValidationInfo) -> tuple[Turn, ...]:
    return () if value is None else parse_history(value, _max_chars(info))


def _text(value: Any, info: ValidationInfo) -> str:
    """A question or query field: a string without control characters, cleaned and within the limit."""
    name = str(info.field_name)
    if not isinstance(value, str):
        raise ValueError(f'"{name}" must be a string')
    if _control_characters(value):
        raise ValueError(f'"{name}" contains control characters; send plain text')
    try:
        return check_question(value, _max_chars(info))
    except QuestionError as err:
        raise ValueError(str(err).replace("question", name)) from err


# A question or a query: checked and cleaned as `_text` says; errors name the field.
Text = Annotated[str, BeforeValidator(_text)]


# Values one filter may list; chosen by hand.
MAX_FILTER_VALUES = 100


def _filters(value: Any) -> dict[str, tuple[str, ...]] | None:
    """Filters as metadata field -> the values any of which a report may have; one value or a list of them."""
    if value is None:
        return None
    shape = '"filters" must be an object of metadata fields to a value or a list of values, e.g. {"doc_id": ["..."]}'
    if not isinstance(value, dict):
        raise ValueError(shape)
    filters: dict[str, tuple[str, ...]] = {}
    for key, wanted in value.items():
        values = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(key, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(shape)
        if not values:
            raise ValueError(f'"filters.{key}" is an empty list; leave the field out to ask across every report')
        if len(values) > MAX_FILTER_VALUES:
            raise ValueError(f'"filters.{key}" has {len(values)} values; at most {MAX_FILTER_VALUES}')
        filters[key] = tuple(dict.fromkeys(values))
    return filters or None


def _known_fields(data: Any, fields: tuple[str, ...], shape: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"the body must be a JSON object: {shape}")
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}; expected {', '.join(fields)}")
    return data


class _Filtered(BaseModel):
    """A request that may be limited to reports by their metadata (`{"doc_id": "..."}`)."""

    model_config = ConfigDict(frozen=True)

    filters: dict[str, tuple[str, ...]] | None = None

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, tuple[str, ...]] | None:
        return _filters(value)


class _Asked(BaseModel):
    """A question and the conversation before it, held to the question and turn limits."""

    model_config = ConfigDict(frozen=True)

    question: Text
    history: Annotated[tuple[Turn, ...], BeforeValidator(_turns)] = ()


class AskRequest(_Filtered, _Asked):
    """A question, the conversation so far, and optional metadata filters."""

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        return _known_fields(data, ("question", "history", "filters"), '{"question": "...", "history": [...]}')


class SearchRequest(_Filtered):
    """A query for ranked passages: how many, and optional metadata filters."""

    query: Text
    k: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get("query"), str):
            raise ValueError('the body must be a JSON object with a "query" string: {"query": "...", "k": 10}')
        return _known_fields(data, ("query", "k", "filters"), '{"query": "...", "k": 10}')

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
            raise ValueError(f'"k" must be a whole number from 1 to {MAX_K}')
        return value


# The answer JSON a reader rates, as JSON text; the whole body is already limited to 1 MB. Chosen by hand.
MAX_FEEDBACK_ANSWER_CHARS = 500_000
_RATINGS = " or ".join(f'"{r.value}"' for r in Rating)
_FEEDBACK_FIELDS = ("question", "history", "answer", "rating", "note")
_FEEDBACK_SHAPE = (
    f'{{"question": "...", "history": [...], "answer": {{<the answer JSON>}}, "rating": {_RATINGS}, "note": "..."}}'
)


class FeedbackRequest(_Asked):
    """A reader's verdict on an answer: the question and conversation, the answer JSON shown, a rating, a note."""

    answer: dict[str, Any]
    rating: Rating
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        data = _known_fields(data, _FEEDBACK_FIELDS, _FEEDBACK_SHAPE)
        missing = [name for name in ("question", "answer", "rating") if name not in data]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}; expected {_FEEDBACK_SHAPE}")
        return data

    @field_validator("answer", mode="before")
    @classmethod
    def _answer(cls, value: Any) -> dict[str, Any]:
        return _answer_object(value)

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, value: Any) -> Rating:
        if not isinstance(value, str) or value not in {r.value for r in Rating}:
            raise ValueError(f'"rating" must be {_RATINGS}, not {json.dumps(value)[:40]}')
        return Rating(value)

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError('"note" must be a string')
        if _control_characters(value):
            raise ValueError('"note" contains control characters; send plain text')
        note = value.strip()
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f'"note" has {len(note)} characters; the limit is {MAX_NOTE_CHARS}')
        return note


def _answer_object(value: Any) -> dict[str, Any]:
    """The answer JSON being rated: an object with "answer" text and a "citations" list of objects, bounded."""
    shape = '"answer" must be the answer JSON that was shown: an object with "answer" (text) and "citations" (a list)'
    if not (
        isinstance(value, dict) and isinstance(value.get("answer"), str) and isinstance(value.get("citations"), list)
    ):
        raise ValueError(shape)
    if not all(isinstance(c, dict) for c in value["citations"]):
        raise ValueError(f"{shape} of citation objects")
    size = len(json.dumps(value, ensure_ascii=False))
    if size > MAX_FEEDBACK_ANSWER_CHARS:
        raise ValueError(f'"answer" has {size} characters as JSON; the limit is {MAX_FEEDBACK_ANSWER_CHARS}')
    return value


M = TypeVar("M", bound=BaseModel)


def message(err: ValidationError) -> str:
    """The first problem of a validation error, in the words the validators chose."""
    first = err.errors()[0]
    text = str(first.get("msg", err))
    return text.removeprefix("Value error, ")


def parse(model: type[M], data: Any, max_chars: int) -> M:
    """`data` as a `model`, or QuestionError saying what to fix."""
    try:
        return model.model_validate(data, context={"max_chars": max_chars})
    except ValidationError as err:
        raise QuestionError(message(err)) from err
