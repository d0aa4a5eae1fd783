"""The one place where the web app generates: every answer, from the chat or the API, passes here.

The model answers one question at a time. Questions that arrive meanwhile wait their turn in
first-come order, at most `max_waiting` of them, each for at most `wait_timeout_s`. A question gets
`Busy` (a "retry later" reply) instead of holding a thread when the line is full, when the answers
measured so far say its turn would come too late to wait for, or when its turn does not come in time.
Pieces of two answers never interleave: a turn covers the whole stream.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.answer.pipeline import Pipeline
from rag.index.retrieve import Filters
from rag.schema import Turn
from rag.types import Answer, Document, Hit, Sources

# The guess of one answer's duration before any has been measured (seconds), for Retry-After.
FIRST_GUESS_S = 5.0


class Busy(Exception):
    """No turn for this question now; `retry_after_s` says when asking again is likely to work."""

    def __init__(self, message: str, retry_after_s: int, reason: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        # "full" (the line was full), "late" (the turn would likely come after the timeout), or
        # "timeout" (the turn did not come in time)
        self.reason = reason


@dataclass
class TurnQueue:
    """First-come turns for one resource, with a bounded line and a bounded wait."""

    max_waiting: int
    wait_timeout_s: float
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _line: deque[int] = field(default_factory=deque, repr=False)
    _next_ticket: int = 0
    _busy: bool = False
    _mean_turn_s: float = FIRST_GUESS_S
    _measured: int = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    @property
    def running(self) -> bool:
        with self._cond:
            return self._busy

    def retry_after_s(self) -> int:
        """Seconds until the present line has likely been served: mean turn x (waiting + 1), 1 to 120."""
        with self._cond:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> int:
        return max(1, min(120, math.ceil(self._mean_turn_s * (len(self._line) + 1))))

    def acquire(self) -> None:
        """Wait for this caller's turn, or raise Busy."""
        with self._cond:
            if len(self._line) >= self.max_waiting and (self._busy or self._line):
                raise Busy(
                    f"the server is busy: one question is being answered and {len(self._line)} more are "
                    f"waiting; please retry in about {self._retry_after_locked()} s",
                    self._retry_after_locked(),
                    "full",
                )
            expected_wait = self._mean_turn_s * (len(self._line) + 1)
            if self._measured and (self._busy or self._line) and expected_wait > self.wait_timeout_s:
                # Refused now rather than after a wait that would most likely end in a timeout.
                raise Busy(
                    f"the server is busy: {len(self._line) + 1} questions are ahead of this one, about "
                    f"{expected_wait:.0f} s of work; please retry in about {self._retry_after_locked()} s",
                    self._retry_after_locked(),
                    "late",
                )
            ticket = self._next_ticket
            self._next_ticket += 1
            self._line.append(ticket)
            mine = self._cond.wait_for(lambda: not self._busy and self._line[0] == ticket, self.wait_timeout_s)
            if not mine:
                self._line.remove(ticket)
                self._cond.notify_all()  # the next in line may be first now
                raise Busy(
                    f"the server is busy: this question waited {self.wait_timeout_s:g} s without its turn "
                    f"coming; please retry in about {self._retry_after_locked()} s",
                    self._retry_after_locked(),
                    "timeout",
                )
            self._line.popleft()
            self._busy = True

    def release(self, took_s: float) -> None:
        """End the current turn, which took `took_s` seconds; the next in line goes."""
        with self._cond:
            self._busy = False
            self._mean_turn_s = took_s if not self._measured else 0.7 * self._mean_turn_s + 0.3 * took_s
            self._measured += 1
            self._cond.notify_all()


@dataclass
class AnswerService:
    """Gives the pipeline to one question at a time, through a bounded first-come line."""

    pipeline: Pipeline
    max_waiting: int = 16
    wait_timeout_s: float = 60.0
    turns: TurnQueue = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.turns = TurnQueue(self.max_waiting, self.wait_timeout_s)

    def use(self, pipeline: Pipeline) -> None:
        """Answer from now on with `pipeline` (over a new index); answers under way finish with the old one."""
        self.pipeline = pipeline

    @property
    def documents(self) -> list[Document]:
        return list(self.pipeline.retriever.index.documents.values())

    def describe(self) -> dict[str, Any]:
        """What is being served: the index's size, the models' names."""
        retriever = self.pipeline.retriever
        return {
            "documents": len(retriever.index.documents),
            "chunks": len(retriever.index.chunks),
            "embedder": retriever.embedder.name,
            "generator": type(self.pipeline.generator).__name__,
        }

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """Ranked passages: retrieval only, never waiting for a turn."""
        return self.pipeline.retriever.search(query, k, filters)

    def stream(
        self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None
    ) -> Iterator[Sources | str | Answer]:
        """The pipeline's stream (its sources, its text, then the Answer) within one turn; raises Busy first if none."""
        self.turns.acquire()
        started = time.monotonic()
        try:
            yield from self.pipeline.stream(question, history, filters)
        finally:
            # Also runs when the reader stops early (a closed browser tab closes the generator).
            self.turns.release(time.monotonic() - started)

    def answer(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> Answer:
        """The complete Answer, or Busy."""
        final = None
        for event in self.stream(question, history, filters):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final
