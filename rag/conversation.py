"""Conversation handling: turning a follow-up question into a self-contained query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def last_user_turn(history: Sequence[Any]) -> str:
    """The content of the latest user turn in `history` (dicts or objects with role/content)."""
    for turn in reversed(history):
        role = turn["role"] if isinstance(turn, dict) else turn.role
        content = turn["content"] if isinstance(turn, dict) else turn.content
        if role == "user" and str(content).strip():
            return str(content).strip()
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
