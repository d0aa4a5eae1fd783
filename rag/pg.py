"""The shared store on PostgreSQL with pgvector: connections, and the schema's numbered migrations.

Set RAG_DATABASE_URL (postgresql://user@host/db) and every server and indexer pointed at it shares one
library: index builds (rag.index.postgres), readers' feedback (rag.feedback_pg) and upload jobs
(rag.ingest.jobs_pg). The program migrates the schema itself when it first connects: each migration is
numbered, recorded in `schema_version`, and applied in one transaction under an advisory lock, so two
servers starting together apply it once. psycopg is imported inside functions: `import rag` stays cheap
for the default embedded store, which never touches PostgreSQL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

# Seconds a connection attempt waits for the server; chosen by hand.
CONNECT_TIMEOUT_S = 10
# The advisory lock key migrations hold (any constant the product's other locks do not use).
MIGRATION_LOCK = 0x52414701
# Idle connections a pool keeps for reuse; chosen by hand.
POOL_IDLE = 4

# The schema, one numbered step at a time; a step, once released, is never edited: a change is a new step.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE builds (
            id BIGSERIAL PRIMARY KEY,
            created TIMESTAMPTZ NOT NULL DEFAULT now(),
            embedder_name TEXT NOT NULL,
            embedder_dim INTEGER NOT NULL,
            chunking JSON NOT NULL,
            manifest JSON NOT NULL,
            n_chunks INTEGER NOT NULL,
            dense_kind TEXT NOT NULL,
            superseded TIMESTAMPTZ
        );
        CREATE TABLE current_build (
            only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
            build_id BIGINT NOT NULL REFERENCES builds (id)
        );
        -- One partition per build: a build is attached whole when its transaction commits, and an old
        -- one is dropped whole, without deleting rows one by one.
        CREATE TABLE documents (
            build_id BIGINT NOT NULL,
            position INTEGER NOT NULL,
            doc_id TEXT NOT NULL,
            metadata JSON NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (build_id, position)
        ) PARTITION BY LIST (build_id);
        CREATE TABLE chunks (
            build_id BIGINT NOT NULL,
            row_number INTEGER NOT NULL,
            chunk_id TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            text TEXT NOT NULL,
            start_offset INTEGER NOT NULL,
            end_offset INTEGER NOT NULL,
            paragraph INTEGER NOT NULL,
            title TEXT NOT NULL,
            page INTEGER NOT NULL,
            embedding vector NOT NULL,
            PRIMARY KEY (build_id, row_number)
        ) PARTITION BY LIST (build_id);
        """,
    ),
    (
        2,
        """
        CREATE TABLE feedback (
            id BIGSERIAL PRIMARY KEY,
            created TEXT NOT NULL,
            rating TEXT NOT NULL,
            question TEXT NOT NULL,
            history JSON NOT NULL,
            answer JSON NOT NULL,
            note TEXT NOT NULL,
            provenance JSON NOT NULL
        );
        CREATE INDEX feedback_rating ON feedback (rating);
        """,
    ),
    (
        3,
        """
        CREATE TABLE upload_jobs (
            id TEXT PRIMARY KEY,
            filename TEXT NOT NULL,
            status TEXT NOT NULL,
            progress DOUBLE PRECISION NOT NULL,
            step TEXT NOT NULL,
            doc_id TEXT,
            title TEXT NOT NULL,
            error TEXT,
            server_id TEXT NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT now(),
            heartbeat TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX upload_jobs_open ON upload_jobs (heartbeat) WHERE status IN ('queued', 'indexing');
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreUnavailable(RuntimeError):
    """The shared store cannot be used (unreachable, no pgvector, a newer schema); the message says what to do."""


def redact(url: str) -> str:
    """The URL without its password, for messages.

    >>> redact("postgresql://rag:secret@db.example:5432/library")
    'postgresql://rag:***@db.example:5432/library'
    >>> redact("postgresql://rag@db/library")
    'postgresql://rag@db/library'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def connect(url: str, migrate: bool = True) -> psycopg.Connection[Any]:
    """An autocommit connection with the vector type registered; the schema migrated first (once per process)."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as err:
        raise StoreUnavailable(
            f"cannot reach the PostgreSQL store at {redact(url)} ({_first_line(err)}): "
            "check that the server runs and RAG_DATABASE_URL names it, or unset RAG_DATABASE_URL "
            "to use the embedded store"
        ) from err
    try:
        if migrate:
            with _migrated_lock:
                if url not in _migrated:
                    apply_migrations(conn, url)
                    _migrated.add(url)
        _register_vector(conn, url)
    except BaseException:
        conn.close()
        raise
    return conn


def apply_migrations(conn: psycopg.Connection[Any], url: str = "") -> int:
    """Bring the schema to SCHEMA_VERSION (and create the vector extension); the version found before."""
    import psycopg

    where = redact(url) or "the PostgreSQL store"
    with conn.transaction():
        # Held to the end of the transaction: a second server waits here, then finds nothing to do.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as err:
            raise StoreUnavailable(
                f"the database at {where} lacks the vector extension (pgvector) and this user may not create it "
                f"({_first_line(err)}): install pgvector on the server and run `CREATE EXTENSION vector` "
                "in the database as its owner or a superuser"
            ) from err
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the store at {where} has schema version {found}; this version of report-rag knows up to "
                f"{SCHEMA_VERSION}: upgrade report-rag on this server"
            )
        for version, sql in MIGRATIONS:
            if version > found:
                conn.execute(sql)  # several statements: without parameters psycopg sends them as one
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return found


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The newest migration applied to the database behind `conn` (0 before any)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(found[0]) if found else 0


class Pool:
    """A few open connections to one store, reused across calls and threads; a broken one is dropped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue(maxsize=POOL_IDLE)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the block, returned to the pool afterwards unless it broke or is mid-transaction."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = connect(self.url)
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        if conn.closed or conn.info.transaction_status != 0:  # 0: idle, outside any transaction
            conn.close()
            return
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@contextmanager
def connection(store: str | Pool) -> Iterator[psycopg.Connection[Any]]:
    """A connection for a block: the pool's, or a new one closed afterwards."""
    if isinstance(store, Pool):
        with store.connection() as conn:
            yield conn
        return
    conn = connect(store)
    try:
        yield conn
    finally:
        conn.close()


def _register_vector(conn: psycopg.Connection[Any], url: str) -> None:
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except Exception as err:  # pgvector raises ProgrammingError when the type is missing
        raise StoreUnavailable(
            f"the database at {redact(url)} has no vector type ({_first_line(err)}): "
            "run `CREATE EXTENSION vector` in it as its owner or a superuser"
        ) from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
