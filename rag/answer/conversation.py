"""Conversation handling: turning a follow-up question into a self-contained query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.language import REFERS_BACK
from rag.text import printable

# The earlier question only steers retrieval and the prompt: a long one is cut, not refused. As long as a
# question may be by default (RAG_MAX_QUESTION_CHARS); chosen by hand.
MAX_TURN_CHARS = 2000


def last_user_turn(history: Sequence[Any]) -> str:
    r"""The latest user turn in `history` (dicts or objects with role/content), as printable text.

    Control characters and unpaired surrogates are dropped, so a turn that came from a
    client as broken text can neither reach the model nor fail its tokenizer.

    >>> last_user_turn([{"role": "user", "content": "Who is\x00 trafficked?\udcff"}, {"role": "assistant"}])
    'Who is trafficked?'
    """
    for turn in reversed(history):
        role = turn.get("role") if isinstance(turn, dict) else getattr(turn, "role", None)
        content = turn.get("content") if isinstance(turn, dict) else getattr(turn, "content", None)
        if role != "user" or not isinstance(content, str):
            continue
        cleaned = printable(content).strip()
        if cleaned:
            return cleaned[:MAX_TURN_CHARS]
    return ""


def retrieval_query(question: str, history: Sequence[Any] = ()) -> str:
    """The text to retrieve with: the previous user question, then this one.

    A follow-up such as "were any of them used to convict anyone?" names nothing
    by itself; the previous question supplies what "them" refers to.

    >>> retrieval_query("what about children?", [{"role": "user", "content": "Who is trafficked?"}])
    'Who is trafficked? what about children?'
    """
    previous = last_user_turn(history)
    return f"{previous} {question.strip()}" if previous else question.strip()


def asked_in_context(question: str, history: Sequence[Any] = ()) -> str:
    """What the question asks in its conversation: with the previous question before it when it points back.

    The evidence for "why are they leaving?" must be about whoever "they" were in the question
    before; a question that names its own subject stands alone.

    >>> h = [{"role": "user", "content": "Where do the workers go?"}]
    >>> asked_in_context("why are they leaving?", h)
    'Where do the workers go? why are they leaving?'
    >>> asked_in_context("Why do women leave China?", h)
    'Why do women leave China?'
    """
    if REFERS_BACK.search(question):
        return retrieval_query(question, history)
    return question.strip()
