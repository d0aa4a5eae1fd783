"""The one place where the web app generates: every answer, from the chat or the API, passes here.

The model answers one question at a time; a lock makes concurrent requests wait their turn, so
pieces of two answers never interleave. A bounded queue with a "busy, retry" reply belongs here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.answer import Pipeline
from rag.types import Answer, Document


@dataclass
class AnswerService:
    """Serialises access to the pipeline: one generation at a time."""

    pipeline: Pipeline
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def documents(self) -> list[Document]:
        return list(self.pipeline.retriever.index.documents.values())

    def stream(
        self, question: str, history: Sequence[Any] = (), filters: Mapping[str, str] | None = None
    ) -> Iterator[str | Answer]:
        """The pipeline's stream (text pieces, then the Answer), holding the generation lock throughout."""
        with self._lock:
            yield from self.pipeline.stream(question, history, filters)

    def answer(self, question: str, history: Sequence[Any] = (), filters: Mapping[str, str] | None = None) -> Answer:
        """The complete Answer."""
        final = None
        for event in self.stream(question, history, filters):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final
