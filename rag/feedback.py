"""Readers' verdicts on answers, kept in a SQLite file so they can become evaluation data.

One row per verdict: the question and conversation, the answer JSON as the reader saw it, the rating,
an optional note, and the provenance of the answer (index build, embedder, generator and its SHA-256).
Each call opens its own connection, writes in this process take turns on a lock, and the file is in WAL
mode with a busy timeout, so many threads (or a second server process) posting at once lose nothing.
A file that cannot be opened, read or written raises FeedbackError; nothing is dropped silently.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rag.feedback_pg import PgFeedbackStore

SCHEMA_VERSION = 1  # kept in SQLite's `user_version` header field
# A reader's note may be at most this many characters; chosen by hand.
MAX_NOTE_CHARS = 2000
# How long a write waits for another writer to finish with the SQLite file; chosen by hand.
BUSY_TIMEOUT_S = 30.0

_CREATE = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    rating TEXT NOT NULL,
    question TEXT NOT NULL,
    history TEXT NOT NULL,
    answer TEXT NOT NULL,
    note TEXT NOT NULL,
    provenance TEXT NOT NULL
)
"""
_COLUMNS = "id, created, rating, question, history, answer, note, provenance"


class Rating(StrEnum):
    HELPFUL = "helpful"
    WRONG = "wrong"


class FeedbackError(OSError):
    """The feedback file cannot be opened, read or written; the message names the file and the cause."""


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second: '2025-05-01T09:30:00Z'."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Feedback:
    """A reader's verdict on one answer; `id` is 0 until the store has kept it."""

    question: str
    answer: Mapping[str, Any]  # the answer JSON (rag.serialize.answer_json) as the reader saw it
    rating: Rating
    history: tuple[Mapping[str, str], ...] = ()  # earlier turns, {"role": ..., "content": ...}
    note: str = ""
    provenance: Mapping[str, str] = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    id: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.rating, Rating):
            raise ValueError(f"rating must be one of {', '.join(Rating)}, not {self.rating!r}")
        if len(self.note) > MAX_NOTE_CHARS:
            raise ValueError(f"the note has {len(self.note)} characters; the limit is {MAX_NOTE_CHARS}")


class Verdicts(Protocol):
    """What the web app and the export ask of a feedback store: the SQLite file's or the shared store's."""

    def add(self, feedback: Feedback) -> int: ...

    def annotate(self, feedback_id: int, note: str) -> None: ...

    def rows(self, rating: Rating | None = None) -> list[Feedback]: ...

    def count(self, rating: Rating | None = None) -> int: ...


class FeedbackStore:
    """Feedback kept in the SQLite file at `path`; the folder and table are made on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    def add(self, feedback: Feedback) -> int:
        """Keep `feedback`; its new id."""
        values = feedback_row(feedback)
        with self._lock, self._failure("write to"):
            self._ensure()
            with closing(self._connect()) as conn:
                cursor = conn.execute(
                    "INSERT INTO feedback (created, rating, question, history, answer, note, provenance) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                new_id = cursor.lastrowid
        assert new_id is not None
        return new_id

    def annotate(self, feedback_id: int, note: str) -> None:
        """Set the note of kept verdict `feedback_id` (the chat keeps a rating first, the reader's why after)."""
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"the note has {len(note)} characters; the limit is {MAX_NOTE_CHARS}")
        with self._lock, self._failure("write to"):
            self._ensure()
            with closing(self._connect()) as conn:
                changed = conn.execute("UPDATE feedback SET note = ? WHERE id = ?", (note, feedback_id)).rowcount
        if changed != 1:
            raise ValueError(f"no feedback with id {feedback_id} to add a note to")

    def rows(self, rating: Rating | None = None) -> list[Feedback]:
        """Every kept verdict (or those with `rating`), oldest first; none when the file does not exist."""
        if not self.path.exists():
            return []
        where, params = _where(rating)
        with self._failure("read"):
            self._ensure_locked()
            with closing(self._connect()) as conn:
                found = conn.execute(f"SELECT {_COLUMNS} FROM feedback{where} ORDER BY id", params).fetchall()
            return [feedback_from_row(row) for row in found]

    def count(self, rating: Rating | None = None) -> int:
        """How many verdicts are kept (with `rating`, if given)."""
        if not self.path.exists():
            return 0
        where, params = _where(rating)
        with self._failure("read"):
            self._ensure_locked()
            with closing(self._connect()) as conn:
                return int(conn.execute(f"SELECT COUNT(*) FROM feedback{where}", params).fetchone()[0])

    def __iter__(self) -> Iterator[Feedback]:
        return iter(self.rows())

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: each INSERT is its own transaction; the timeout is SQLite's busy timeout.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return conn

    def _ensure_locked(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> None:
        """Make the folder, switch to WAL and create the table, once per store object (caller holds the lock)."""
        if self._ready:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FeedbackError(
                    f"the feedback database {self.path} has schema version {version}; "
                    f"this version of report-rag reads up to {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_CREATE)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
        self._ready = True

    @contextmanager
    def _failure(self, doing: str) -> Iterator[None]:
        """Turn SQLite, file-system and damaged-row errors into one FeedbackError that names the file."""
        try:
            yield
        except FeedbackError:
            raise
        except (sqlite3.Error, OSError, ValueError) as err:
            cause = getattr(err, "strerror", None) or str(err)
            raise FeedbackError(
                f"cannot {doing} the feedback database {self.path} ({cause}); "
                "check the file and its folder, or set RAG_FEEDBACK_DB to another path"
            ) from err


def open_feedback_store(path: Path, database_url: str | None = None) -> FeedbackStore | PgFeedbackStore:
    """The shared store's feedback with a database URL (RAG_DATABASE_URL), else the SQLite file at `path`."""
    if database_url:
        from rag.feedback_pg import PgFeedbackStore

        return PgFeedbackStore(database_url)
    return FeedbackStore(path)


def _where(rating: Rating | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause and its parameters that keep only `rating` (all rows for None)."""
    if rating is None:
        return "", ()
    return " WHERE rating = ?", (Rating(rating).value,)


def feedback_row(feedback: Feedback) -> tuple[str, ...]:
    """The stored columns of `feedback` after its id: created, rating, question, history, answer, note, provenance."""
    return (
        feedback.created,
        feedback.rating.value,
        feedback.question,
        json.dumps([dict(t) for t in feedback.history], ensure_ascii=False),
        json.dumps(dict(feedback.answer), ensure_ascii=False),
        feedback.note,
        json.dumps(dict(feedback.provenance), ensure_ascii=False),
    )


def feedback_from_row(row: tuple[Any, ...]) -> Feedback:
    """The Feedback of a stored row: id, then the columns of `feedback_row` (JSON as text)."""
    id_, created, rating, question, history, answer, note, provenance = row
    return Feedback(
        question=question,
        answer=json.loads(answer),
        rating=Rating(rating),
        history=tuple(json.loads(history)),
        note=note,
        provenance=json.loads(provenance),
        created=created,
        id=id_,
    )
