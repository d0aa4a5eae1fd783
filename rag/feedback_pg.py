"""Readers' verdicts kept in the shared PostgreSQL store: the same records and methods as rag.feedback's SQLite store.

Every server pointed at one RAG_DATABASE_URL adds to one table; each verdict is one INSERT on a pooled
connection, so concurrent posts from any number of threads or servers lose nothing. JSON fields are kept as
the text they were written as (type `json`, not `jsonb`), so a verdict reads back exactly as it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rag.feedback import MAX_NOTE_CHARS, Feedback, FeedbackError, Rating, feedback_from_row, feedback_row
from rag.pg import Pool, StoreUnavailable, redact

_COLUMNS = "id, created, rating, question, history::text, answer::text, note, provenance::text"


class PgFeedbackStore:
    """Feedback in the `feedback` table of the store at `url`; the schema is made on the first connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool = Pool(url)

    def add(self, feedback: Feedback) -> int:
        """Keep `feedback`; its new id."""
        with self._failure("write to"), self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO feedback (created, rating, question, history, answer, note, provenance) "
                "VALUES (%s, %s, %s, %s::json, %s::json, %s, %s::json) RETURNING id",
                feedback_row(feedback),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def annotate(self, feedback_id: int, note: str) -> None:
        """Set the note of kept verdict `feedback_id` (the chat keeps a rating first, the reader's why after)."""
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"the note has {len(note)} characters; the limit is {MAX_NOTE_CHARS}")
        with self._failure("write to"), self._pool.connection() as conn:
            changed = conn.execute("UPDATE feedback SET note = %s WHERE id = %s", (note, feedback_id)).rowcount
        if changed != 1:
            raise ValueError(f"no feedback with id {feedback_id} to add a note to")

    def rows(self, rating: Rating | None = None) -> list[Feedback]:
        """Every kept verdict (or those with `rating`), oldest first."""
        where, params = _where(rating)
        with self._failure("read"), self._pool.connection() as conn:
            found = conn.execute(f"SELECT {_COLUMNS} FROM feedback{where} ORDER BY id", params).fetchall()
            return [feedback_from_row(row) for row in found]

    def count(self, rating: Rating | None = None) -> int:
        """How many verdicts are kept (with `rating`, if given)."""
        where, params = _where(rating)
        with self._failure("read"), self._pool.connection() as conn:
            row = conn.execute(f"SELECT count(*) FROM feedback{where}", params).fetchone()
        return int(row[0]) if row else 0

    def __iter__(self) -> Iterator[Feedback]:
        return iter(self.rows())

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _failure(self, doing: str) -> Iterator[None]:
        """Turn database errors and damaged rows into one FeedbackError that names the store."""
        import psycopg

        try:
            yield
        except (psycopg.Error, StoreUnavailable, ValueError) as err:
            raise FeedbackError(
                f"cannot {doing} the feedback in the store at {redact(self.url)} ({str(err).strip() or err!r}); "
                "check the database, or unset RAG_DATABASE_URL to keep feedback in RAG_FEEDBACK_DB"
            ) from err


def _where(rating: Rating | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause and its parameters that keep only `rating` (all rows for None)."""
    if rating is None:
        return "", ()
    return " WHERE rating = %s", (Rating(rating).value,)
