"""Index builds in the shared PostgreSQL store: written whole in one transaction, searched with pgvector.

A build is a row of `builds` and one partition of `documents` and of `chunks` (with each chunk's vector);
`write_build` fills the partitions, attaches them and repoints `current_build` in a single transaction, so
a reader sees the previous build or the new one, never half of one, and a writer killed mid-way leaves
nothing behind. `load_current` reads the current build into a `CorpusIndex`: documents and chunks in memory
and BM25 built in process from the chunk texts (lexical retrieval is the embedded store's), dense search in
PostgreSQL (`PgDenseIndex`). A build records its embedder: a server with another one is refused rather than
mixing vectors. Builds replaced more than `KEEP_REPLACED_S` ago are dropped whole after each write.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.bm25 import LexicalIndex
from rag.index.dense import EXACT_MAX, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_NEIGHBOURS, SUBSET_SCAN_MAX
from rag.index.dense import allowed_rows as _allowed_rows
from rag.index.manifest import Manifest
from rag.index.store import CorpusIndex, IndexMissing, document_from_json
from rag.pg import Pool, StoreUnavailable, connection, redact
from rag.types import Chunk, Document

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# The advisory lock key writers hold: one build is written at a time per store (MIGRATION_LOCK + 1).
WRITE_LOCK = 0x52414702
# A replaced build stays this long for servers still answering from it (seconds); chosen by hand.
KEEP_REPLACED_S = 600
# Dropping an old build waits at most this long for the tables' locks, then leaves it for the next write.
PRUNE_LOCK_TIMEOUT = "2s"

_DOC_COLUMNS = ("build_id", "position", "doc_id", "metadata", "text")
_CHUNK_COLUMNS = (
    "build_id",
    "row_number",
    "chunk_id",
    "doc_id",
    "text",
    "start_offset",
    "end_offset",
    "paragraph",
    "title",
    "page",
    "embedding",
)
_CHUNK_TYPES = ("int8", "int4", "text", "text", "text", "int4", "int4", "int4", "text", "int4", "vector")
_ANY = object()  # `based_on` not given: write whatever build is current
# pgvector stores vectors out of line once a row passes PostgreSQL's 2 kB target, and exact search then reads
# every vector back through the TOAST table: 3.5 times slower at 10,000 chunks of 384 dimensions. Chunk rows
# up to 8160 bytes (the most a page holds) keep their vector inline.
_CHUNK_TABLE_OPTIONS = "toast_tuple_target = 8160"
# pgvector builds an HNSW graph far faster while it fits in maintenance_work_mem (PostgreSQL's default:
# 64 MB, a fifth of the graph of 100,000 chunks of 384 dimensions). A write raises it to this for its own
# transaction, never lowering a larger server setting; chosen by hand as a size most database servers spare.
HNSW_BUILD_MEMORY_MB = 1024


class EmbedderMismatch(RuntimeError):
    """The store's current build was made with another embedder than this server's."""


class BuildConflict(RuntimeError):
    """Another writer published a build since the one this build was based on."""


class BuildGone(StoreUnavailable):
    """The build a server answers from was replaced and removed; load the current one."""


class PgDenseIndex:
    """Nearest neighbours of one build, by inner product of unit vectors, computed in PostgreSQL.

    Scores and order match rag.index.dense.DenseIndex on the same vectors: exact search by default,
    HNSW (pgvector's, same parameters) for builds written with more than `exact_max` chunks, and
    exact search over the allowed rows when a filter leaves at most SUBSET_SCAN_MAX of them.
    """

    def __init__(self, pool: Pool, build_id: int, dim: int, size: int, kind: str) -> None:
        self.pool = pool
        self.build_id = build_id
        self.dim = dim
        self._size = size
        self.kind = kind

    @property
    def size(self) -> int:
        return self._size

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids) of the k best rows for one query vector, best first (as DenseIndex.search)."""
        import psycopg

        empty = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if self._size == 0 or k <= 0:
            return empty
        q = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        ids = None if allowed is None else _allowed_rows(allowed)
        if ids is not None and ids.size == 0:
            return empty
        exact = self.kind != "hnsw" or (ids is not None and ids.size <= SUBSET_SCAN_MAX)
        # The HNSW index is on `embedding::vector(dim)`: only that expression uses it; the bare column is exact.
        distance = "embedding <#> %(q)s" if exact else f"embedding::vector({self.dim}) <#> %(q)s::vector({self.dim})"
        # The graph is used only on the build's own partition, without a build_id condition the primary key serves.
        table = "chunks" if exact else f"chunks_b{self.build_id}"
        where = (["build_id = %(build)s"] if exact else []) + ([] if ids is None else ["row_number = ANY(%(ids)s)"])
        order = f"{distance}, row_number" if exact else distance
        params: dict[str, Any] = {"q": q, "build": self.build_id, "k": min(k, self._size)}
        if ids is not None:
            params["ids"] = ids.tolist()
        sql = f"SELECT row_number, -({distance}) FROM {table}"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += f" ORDER BY {order} LIMIT %(k)s"
        try:
            found = self._query(sql, params, exact, ids is not None)
        except psycopg.errors.UndefinedTable as err:
            raise self._gone() from err
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            # A connection the database closed (a restart, a failover): the pool opens new ones next time.
            raise StoreUnavailable(f"dense search in the store at {redact(self.pool.url)} failed ({err})") from err
        if not found:
            return empty
        rows = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((r[1] for r in found), dtype=np.float32, count=len(found))
        return scores, rows

    def _gone(self) -> BuildGone:
        return BuildGone(f"build {self.build_id} was replaced and removed from the store; load the current one")

    def _query(self, sql: str, params: dict[str, Any], exact: bool, filtered: bool) -> list[Any]:
        with self.pool.connection() as conn, conn.transaction():
            if not exact:
                # The build is large enough for the graph (as FAISS's HNSW above exact_max): never a full scan.
                conn.execute("SET LOCAL enable_seqscan = off")
                conn.execute("SET LOCAL enable_bitmapscan = off")
                conn.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
                if filtered:
                    # Keep walking the graph until k allowed rows are found, in order.
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            found = conn.execute(sql, params).fetchall()
            if not found and not _build_exists(conn, self.build_id):
                raise self._gone()
        return found


def write_build(
    store: str | Pool,
    manifest: Manifest,
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    exact_max: int = EXACT_MAX,
    based_on: Any = _ANY,
) -> int:
    """Write a whole build and make it current in one transaction; its id.

    With `based_on` (a build id, or None for an empty store) the write is refused with BuildConflict
    if another build became current meanwhile, so two writers never silently drop each other's reports.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(chunks) != len(vectors) or (len(vectors) and vectors.shape[1] != manifest.embedder_dim):
        raise ValueError(
            f"{len(chunks)} chunks with vectors of shape {vectors.shape}; "
            f"expected one vector of {manifest.embedder_dim} values per chunk"
        )
    kind = "hnsw" if len(chunks) > exact_max else "flat"
    manifest = replace(manifest, dense_kind=kind, n_chunks=len(chunks), files={})
    with connection(store) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            current = _current(conn)
            if based_on is not _ANY and current != based_on:
                raise BuildConflict(
                    f"build {current} was published while this one was made from build {based_on}; "
                    "make the build again from the current one"
                )
            row = conn.execute(
                "INSERT INTO builds (embedder_name, embedder_dim, chunking, manifest, n_chunks, dense_kind) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    manifest.embedder_name,
                    manifest.embedder_dim,
                    json.dumps(asdict(manifest.chunking)),
                    json.dumps(manifest.to_json()),
                    len(chunks),
                    kind,
                ),
            ).fetchone()
            assert row is not None
            build_id = int(row[0])
            _fill_partition(conn, "documents", build_id, _DOC_COLUMNS, None, _document_rows(build_id, documents))
            chunk_rows = _chunk_rows(build_id, chunks, vectors)
            _fill_partition(conn, "chunks", build_id, _CHUNK_COLUMNS, _CHUNK_TYPES, chunk_rows, _CHUNK_TABLE_OPTIONS)
            if kind == "hnsw":
                _raise_build_memory(conn, HNSW_BUILD_MEMORY_MB)
                conn.execute(
                    f"CREATE INDEX ON chunks_b{build_id} USING hnsw "
                    f"((embedding::vector({manifest.embedder_dim})) vector_ip_ops) "
                    f"WITH (m = {HNSW_NEIGHBOURS}, ef_construction = {HNSW_EF_CONSTRUCTION})"
                )
            conn.execute(f"ANALYZE chunks_b{build_id}, documents_b{build_id}")  # so the planner knows its size
            conn.execute("UPDATE builds SET superseded = now() WHERE id = %s", (current,))
            conn.execute(
                "INSERT INTO current_build (build_id) VALUES (%s) "
                "ON CONFLICT (only_row) DO UPDATE SET build_id = EXCLUDED.build_id",
                (build_id,),
            )
        prune_builds(conn, KEEP_REPLACED_S)
    return build_id


def load_current(
    store: str | Pool,
    embedder_name: str | None = None,
    embedder_dim: int | None = None,
    vectors: bool = True,
) -> CorpusIndex:
    """The current build as a CorpusIndex searching vectors in PostgreSQL; IndexMissing if none yet.

    With `embedder_name` (and `embedder_dim`), EmbedderMismatch if the build was made with another.
    `vectors=False` leaves the vectors in the store (an empty array), for servers that only answer.
    """
    pool = store if isinstance(store, Pool) else Pool(store)
    with pool.connection() as conn, conn.transaction():
        # One snapshot for the build's row, documents and chunks.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        build_id = _current(conn)
        if build_id is None:
            raise IndexMissing(f"no index in the store at {redact(pool.url)} yet; run `rag index` to build one")
        row = conn.execute("SELECT manifest, dense_kind FROM builds WHERE id = %s", (build_id,)).fetchone()
        assert row is not None
        manifest = Manifest.from_json(row[0])
        check_embedder(pool.url, manifest, embedder_name, embedder_dim)
        documents = {
            doc_id: document_from_json({"doc_id": doc_id, "text": text, **meta})
            for doc_id, meta, text in conn.execute(
                "SELECT doc_id, metadata, text FROM documents WHERE build_id = %s ORDER BY position", (build_id,)
            )
        }
        columns = "chunk_id, doc_id, text, start_offset, end_offset, paragraph, title, page"
        found = conn.execute(
            f"SELECT {columns}{', embedding' if vectors else ''} FROM chunks WHERE build_id = %s ORDER BY row_number",
            (build_id,),
            binary=True,
        ).fetchall()
    if len(found) != manifest.n_chunks:
        raise BuildGone(f"build {build_id} in {redact(pool.url)} holds {len(found)} of its {manifest.n_chunks} chunks")
    chunks = tuple(Chunk(*r[:8]) for r in found)
    dim = manifest.embedder_dim
    matrix = np.zeros((0, dim), dtype=np.float32)
    if vectors and found:
        matrix = np.stack([r[8].to_numpy() for r in found]).astype(np.float32, copy=False)
    return CorpusIndex(
        path=Path(f"postgres-build-{build_id}"),
        manifest=manifest,
        documents=documents,
        chunks=chunks,
        vectors=matrix,
        dense=PgDenseIndex(pool, build_id, dim, len(chunks), str(row[1])),
        lexical=LexicalIndex.build([c.text for c in chunks]),
    )


def check_embedder(url: str, manifest: Manifest, name: str | None, dim: int | None) -> None:
    """EmbedderMismatch unless the build was made with embedder `name` of width `dim` (None: not checked)."""
    if name is None:
        return
    if manifest.embedder_name != name or (dim is not None and manifest.embedder_dim != dim):
        uses = f"{name} (dim {dim})" if dim is not None else name
        raise EmbedderMismatch(
            f"the store at {redact(url)} was built with {manifest.embedder_name} (dim {manifest.embedder_dim}); "
            f"this server uses {uses}: set RAG_EMBEDDER_MODEL to {manifest.embedder_name} on this server, "
            "or rebuild the store with `rag index --rebuild` to move every server to the new embedder"
        )


def current_build_id(store: str | Pool) -> int | None:
    """The id of the store's current build (None before the first): one cheap query, for noticing a new build."""
    with connection(store) as conn:
        return _current(conn)


def known_vectors(store: str | Pool, embedder_name: str, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors of the current build's chunks among `chunk_ids`, if it was made with `embedder_name`."""
    if not chunk_ids:
        return {}
    with connection(store) as conn:
        found = conn.execute(
            "SELECT c.chunk_id, c.embedding FROM current_build p JOIN builds b ON b.id = p.build_id "
            "JOIN chunks c ON c.build_id = p.build_id WHERE b.embedder_name = %s AND c.chunk_id = ANY(%s)",
            (embedder_name, list(chunk_ids)),
            binary=True,
        ).fetchall()
    return {chunk_id: vec.to_numpy() for chunk_id, vec in found}


def prune_builds(conn: psycopg.Connection[Any], keep_replaced_s: float) -> list[int]:
    """Drop builds replaced more than `keep_replaced_s` seconds ago; the ids dropped (none if tables are busy)."""
    import psycopg

    old = [
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM builds WHERE superseded IS NOT NULL AND superseded < now() - make_interval(secs => %s) "
            "AND id <> coalesce((SELECT build_id FROM current_build), -1) ORDER BY id",
            (keep_replaced_s,),
        )
    ]
    dropped = []
    for build_id in old:
        try:
            with conn.transaction():
                # Dropping a partition locks its parent: never make searches wait long for it.
                conn.execute(f"SET LOCAL lock_timeout = '{PRUNE_LOCK_TIMEOUT}'")
                conn.execute(f"DROP TABLE IF EXISTS chunks_b{build_id}, documents_b{build_id}")
                conn.execute("DELETE FROM builds WHERE id = %s", (build_id,))
            dropped.append(build_id)
        except psycopg.errors.LockNotAvailable:
            log.info("build %s is in use; it will be removed after a later build", build_id)
            break
    return dropped


def _raise_build_memory(conn: psycopg.Connection[Any], megabytes: int) -> None:
    """Let the transaction's index builds use `megabytes` of memory, unless the server already allows more."""
    row = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()
    if row is None or int(row[0]) < megabytes * 1024 * 1024:
        conn.execute(f"SET LOCAL maintenance_work_mem = '{int(megabytes)}MB'")


def _fill_partition(
    conn: psycopg.Connection[Any],
    table: str,
    build_id: int,
    columns: Sequence[str],
    types: Sequence[str] | None,
    rows: Any,
    options: str = "",
) -> None:
    """Create `table`'s partition for the build (with storage `options`), copy `rows` in, attach it at commit."""
    part = f"{table}_b{build_id}"
    # The CHECK lets ATTACH skip scanning the rows for ones outside the partition.
    with_options = f" WITH ({options})" if options else ""
    conn.execute(f"CREATE TABLE {part} (LIKE {table} INCLUDING DEFAULTS, CHECK (build_id = {build_id})){with_options}")
    fmt = "BINARY" if types else "TEXT"
    with conn.cursor() as cur, cur.copy(f"COPY {part} ({', '.join(columns)}) FROM STDIN (FORMAT {fmt})") as cp:
        if types:
            cp.set_types(list(types))
        for row in rows:
            cp.write_row(row)
    conn.execute(f"ALTER TABLE {table} ATTACH PARTITION {part} FOR VALUES IN ({build_id})")


def _document_rows(build_id: int, documents: Sequence[Document]) -> Any:
    for position, doc in enumerate(documents):
        meta = {k: v for k, v in asdict(doc).items() if k not in ("doc_id", "text")}
        yield build_id, position, doc.doc_id, json.dumps(meta, ensure_ascii=False), doc.text


def _chunk_rows(build_id: int, chunks: Sequence[Chunk], vectors: np.ndarray) -> Any:
    for row, (c, vec) in enumerate(zip(chunks, vectors, strict=True)):
        yield build_id, row, c.chunk_id, c.doc_id, c.text, c.start, c.end, c.paragraph, c.title, c.page, vec


def _current(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute("SELECT build_id FROM current_build").fetchone()
    return int(row[0]) if row else None


def _build_exists(conn: psycopg.Connection[Any], build_id: int) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM builds WHERE id = %s)", (build_id,)).fetchone()
    return bool(row and row[0])
