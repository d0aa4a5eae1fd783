"""Index builds in the shared PostgreSQL store: written whole, read back identical, searched like FAISS."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg
import pytest

from rag.index import postgres
from rag.index.dense import DenseIndex
from rag.index.manifest import ChunkingConfig, Manifest
from rag.index.postgres import (
    BuildConflict,
    BuildGone,
    EmbedderMismatch,
    PgDenseIndex,
    current_build_id,
    known_vectors,
    load_current,
    prune_builds,
    write_build,
)
from rag.index.retrieve import Retriever
from rag.index.store import CorpusIndex, IndexMissing, build_index
from rag.pg import Pool, connect
from rag.types import Chunk, Document
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.postgres

CHUNKING = ChunkingConfig(max_chars=200, overlap=0)


def manifest(name: str = "fake-hash", dim: int = 512, n: int = 0) -> Manifest:
    return Manifest(name, dim, CHUNKING, "flat", n, ("/reports",), {}, {})


def synthetic(n: int, dim: int, seed: int = 0) -> tuple[list[Document], list[Chunk], np.ndarray]:
    """`n` chunks of two documents with random unit vectors (no ties, so orders are comparable)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [Document(f"d{i}", "x" * n, ((0, n),), f"Report {i}", source=f"/reports/{i}.txt") for i in range(2)]
    chunks = [Chunk(f"c{i}", f"d{i % 2}", f"passage{i}", i, i + 1, i + 1) for i in range(n)]
    return docs, chunks, vectors


def write_synthetic(url: str, n: int, dim: int, seed: int = 0, **kwargs) -> int:
    docs, chunks, vectors = synthetic(n, dim, seed)
    return write_build(url, manifest("random", dim, n), docs, chunks, vectors, **kwargs)


@pytest.fixture
def embedded(tmp_path, corpus) -> CorpusIndex:
    """The same corpus built in the embedded store (FAISS and files)."""
    return build_index(tmp_path / "index", [corpus], HashEmbedder(), CHUNKING).index


def publish(url: str, index: CorpusIndex, **kwargs) -> int:
    docs = list(index.documents.values())
    return write_build(url, index.manifest, docs, list(index.chunks), index.vectors, **kwargs)


def test_a_build_is_read_back_as_written(pg_url, embedded):
    with pytest.raises(IndexMissing, match="no index in the store"):
        load_current(pg_url)
    assert current_build_id(pg_url) is None
    build = publish(pg_url, embedded)
    loaded = load_current(pg_url, "fake-hash", 512)
    assert current_build_id(pg_url) == build
    assert loaded.documents == embedded.documents
    assert list(loaded.documents) == list(embedded.documents)
    assert loaded.chunks == embedded.chunks
    np.testing.assert_array_equal(loaded.vectors, embedded.vectors)
    assert loaded.manifest.embedder_name == "fake-hash" and loaded.manifest.chunking == CHUNKING
    assert loaded.manifest.documents == embedded.manifest.documents
    assert loaded.dense.size == len(embedded.chunks) and loaded.dense.kind == "flat"
    assert load_current(pg_url, vectors=False).vectors.shape == (0, 512)


def test_retrieval_over_the_store_ranks_as_over_the_embedded_index(pg_url, embedded):
    publish(pg_url, embedded)
    embedder = HashEmbedder()
    local = Retriever(embedded, embedder)
    shared = Retriever(load_current(pg_url, embedder.name, embedder.dim), embedder)
    for query in ("prison camps", "wages to state accounts", "workers in Poland"):
        for filters in (None, {"doc_id": embedded.chunks[0].doc_id}):
            want = [(h.chunk, h.rank, h.bm25_score) for h in local.search(query, 3, filters)]
            got = [(h.chunk, h.rank, h.bm25_score) for h in shared.search(query, 3, filters)]
            assert got == want


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    assert got[1].tolist() == want[1].tolist()
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64


def test_dense_search_in_postgres_matches_faiss(pg_url):
    n, dim = 400, 24
    write_synthetic(pg_url, n, dim)
    _docs, _chunks, vectors = synthetic(n, dim)
    faiss_index = DenseIndex.build(vectors)
    pg_index = load_current(pg_url).dense
    rng = np.random.default_rng(1)
    mask = rng.random(n) < 0.3
    for q in rng.standard_normal((4, dim)).astype(np.float32):
        q /= np.linalg.norm(q)
        for allowed in (None, mask, np.flatnonzero(mask)[::-1].copy(), np.array([7]), np.zeros(0, dtype=np.int64)):
            for k in (1, 10, n + 5):
                assert_same(pg_index.search(q, k, allowed), faiss_index.search(q, k, allowed))
    assert_same(pg_index.search(vectors[0], 0), faiss_index.search(vectors[0], 0))


def test_vectors_stay_in_the_chunk_rows_where_exact_search_reads_them(pg_url):
    dim = 384  # 1.5 kB a vector: with a passage of 1 kB the row passes PostgreSQL's default 2 kB TOAST target
    docs, chunks, vectors = synthetic(50, dim)
    rng = np.random.default_rng(2)
    # Passages that do not compress, so that only moving a column out of line would make the row fit.
    chunks = [replace(c, text=rng.bytes(500).hex()) for c in chunks]
    build = write_build(pg_url, manifest("random", dim, 50), docs, chunks, vectors)
    with connect(pg_url) as conn:
        outside = conn.execute(
            f"SELECT count(*) FROM chunks_b{build} WHERE pg_column_toast_chunk_id(embedding) IS NOT NULL"
        ).fetchone()
    assert outside == (0,)
    assert load_current(pg_url).dense.search(vectors[3], 1)[1].tolist() == [3]


def test_a_large_build_searches_an_hnsw_index(pg_url, monkeypatch):
    n, dim = 300, 16
    build = write_synthetic(pg_url, n, dim, exact_max=100)
    _docs, _chunks, vectors = synthetic(n, dim)
    exact = DenseIndex.build(vectors)
    index = load_current(pg_url).dense
    assert isinstance(index, PgDenseIndex) and index.kind == "hnsw"
    with connect(pg_url) as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN SELECT row_number FROM chunks_b{build} "
                f"ORDER BY embedding::vector({dim}) <#> %s::vector({dim}) LIMIT 5",
                (vectors[0],),
            )
        )
    assert f"chunks_b{build}_embedding_idx" in plan, plan  # the HNSW index, not a scan of every row
    # Small filters are answered exactly; force the graph with its iterative scan for a larger one.
    monkeypatch.setattr(postgres, "SUBSET_SCAN_MAX", 10)
    allowed = np.arange(0, n, 2)
    for q in vectors[:5]:
        got = index.search(q, 10)
        assert len(set(got[1].tolist()) & set(exact.search(q, 10)[1].tolist())) >= 9
        rows = index.search(q, 10, allowed)[1].tolist()
        assert len(rows) == 10 and all(r % 2 == 0 for r in rows)
        assert len(set(rows) & set(exact.search(q, 10, allowed)[1].tolist())) >= 9


def test_an_hnsw_build_gets_more_memory_for_its_transaction_only_and_never_less(pg_url):
    def memory_during(session_setting: str | None) -> tuple[int, int]:
        with connect(pg_url) as conn:
            if session_setting:
                conn.execute(f"SET maintenance_work_mem = '{session_setting}'")
            with conn.transaction():
                postgres._raise_build_memory(conn, 256)
                during = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()
            after = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()
        assert during is not None and after is not None
        return int(during[0]), int(after[0])

    mb = 1024 * 1024
    assert memory_during("64MB") == (256 * mb, 64 * mb)
    assert memory_during("512MB") == (512 * mb, 512 * mb)


def test_only_an_hnsw_build_raises_its_memory(pg_url, monkeypatch):
    raised: list[int] = []
    real = postgres._raise_build_memory
    monkeypatch.setattr(postgres, "_raise_build_memory", lambda conn, mb: (raised.append(mb), real(conn, mb))[1])
    write_synthetic(pg_url, 50, 16, exact_max=100)
    assert raised == []
    write_synthetic(pg_url, 150, 16, exact_max=100)
    assert raised == [postgres.HNSW_BUILD_MEMORY_MB]


def test_a_server_with_another_embedder_is_refused(pg_url, embedded):
    publish(pg_url, embedded)
    with pytest.raises(EmbedderMismatch) as caught:
        load_current(pg_url, "minilm", 384)
    assert "was built with fake-hash (dim 512); this server uses minilm (dim 384)" in str(caught.value)
    with pytest.raises(EmbedderMismatch, match="dim 512"):
        load_current(pg_url, "fake-hash", 256)


def test_a_writer_based_on_an_old_build_is_refused(pg_url, embedded):
    first = publish(pg_url, embedded, based_on=None)
    second = publish(pg_url, embedded, based_on=first)
    with pytest.raises(BuildConflict, match=f"build {second} was published"):
        publish(pg_url, embedded, based_on=first)
    assert current_build_id(pg_url) == second


def partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename ~ '_b[0-9]+$'"))


class Failing(list):
    """Chunks that fail half-way through being written."""

    def __iter__(self):
        items = list(super().__iter__())
        yield from items[: len(items) // 2]
        raise RuntimeError("the writer failed")


def test_a_failed_write_leaves_the_previous_build_current(pg_url, embedded):
    first = publish(pg_url, embedded)
    before = partitions(pg_url)
    with pytest.raises(RuntimeError, match="the writer failed"):
        write_build(
            pg_url, embedded.manifest, list(embedded.documents.values()), Failing(embedded.chunks), embedded.vectors
        )
    assert current_build_id(pg_url) == first
    assert partitions(pg_url) == before
    assert load_current(pg_url).chunks == embedded.chunks


class Stalling(list):
    """Chunks whose writer signals half-way through and then waits to be killed."""

    marker: str = ""

    def __iter__(self):
        items = list(super().__iter__())
        yield from items[: len(items) // 2]
        Path(self.marker).write_text("half")
        time.sleep(600)
        yield from items[len(items) // 2 :]


def write_until_killed(url: str, marker: str) -> None:
    docs, chunks, vectors = synthetic(200, 8, seed=3)
    stalling = Stalling(chunks)
    stalling.marker = marker
    write_build(url, manifest("random", 8, 200), docs, stalling, vectors)


def test_a_writer_killed_mid_build_leaves_the_previous_build_current(pg_url, tmp_path):
    first = write_synthetic(pg_url, 50, 8)
    marker = tmp_path / "half"
    child = multiprocessing.get_context("spawn").Process(target=write_until_killed, args=(pg_url, str(marker)))
    child.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the writer never reached the middle of its build"
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert current_build_id(pg_url) == first
    assert len(load_current(pg_url).chunks) == 50
    # The server ends the dead client's transaction on its own; nothing of the half build remains.
    deadline = time.monotonic() + 20
    while partitions(pg_url) != [f"chunks_b{first}", f"documents_b{first}"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert partitions(pg_url) == [f"chunks_b{first}", f"documents_b{first}"]


@pytest.mark.parametrize("exact_max", [postgres.EXACT_MAX, 10], ids=["flat", "hnsw"])
def test_replaced_builds_are_dropped_and_a_server_on_one_is_told_to_reload(pg_url, exact_max):
    first = write_synthetic(pg_url, 20, 8, exact_max=exact_max)
    old = load_current(pg_url)
    second = write_synthetic(pg_url, 30, 8, seed=1)
    assert current_build_id(pg_url) == second
    assert len(old.dense.search(np.ones(8, dtype=np.float32), 3)[1]) == 3  # a replaced build is kept a while
    with connect(pg_url) as conn:
        assert prune_builds(conn, 0) == [first]
        assert prune_builds(conn, 0) == []
    assert partitions(pg_url) == [f"chunks_b{second}", f"documents_b{second}"]
    with pytest.raises(BuildGone, match="load the current one"):
        old.dense.search(np.ones(8, dtype=np.float32), 3)
    assert len(load_current(pg_url).chunks) == 30


def test_vectors_of_unchanged_chunks_are_found_by_chunk_id(pg_url):
    write_synthetic(pg_url, 20, 8)
    _docs, _chunks, vectors = synthetic(20, 8)
    found = known_vectors(pg_url, "random", ["c3", "c19", "nope"])
    assert sorted(found) == ["c19", "c3"]
    np.testing.assert_array_equal(found["c3"], vectors[3])
    assert known_vectors(pg_url, "another-embedder", ["c3"]) == {}


def test_a_pool_serves_searches_from_many_threads(pg_url):
    from concurrent.futures import ThreadPoolExecutor

    write_synthetic(pg_url, 100, 8)
    pool = Pool(pg_url)
    try:
        index = load_current(pool).dense
        _docs, _chunks, vectors = synthetic(100, 8)
        with ThreadPoolExecutor(4) as threads:
            results = list(threads.map(lambda i: index.search(vectors[i], 1)[1].tolist(), range(20)))
        assert results == [[i] for i in range(20)]
    finally:
        pool.close()
