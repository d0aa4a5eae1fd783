"""Builds of the shared store made from documents: chunked, embedded where no vector is known yet, written whole.

The documents come from the caller: files read on this machine and reports already in the store (their
text is kept there, so a report added through one server can be built into the next build by another).
Vectors of chunks the current build already holds are read back from PostgreSQL instead of embedded again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.index.bm25 import LexicalIndex
from rag.index.dense import EXACT_MAX
from rag.index.manifest import ChunkingConfig, Manifest, stat_mark, versions
from rag.index.postgres import PgDenseIndex, known_vectors, write_build
from rag.index.store import BuildReport, CorpusIndex, OnStep, embed_chunks, no_step
from rag.ingest.chunk import chunk_documents
from rag.ingest.files import Skipped
from rag.pg import Pool
from rag.types import Document


def build_of(index: CorpusIndex | None) -> int | None:
    """The shared store's id of the build `index` was read from or written as (None: not from the store)."""
    if index is None:
        return None
    build = getattr(index.dense, "build_id", None)
    return int(build) if build is not None else None


def publish_documents(
    pool: Pool,
    documents: Sequence[Document],
    inputs: Sequence[Path],
    embedder: Embedder,
    chunking: ChunkingConfig,
    based_on: int | None,
    exact_max: int = EXACT_MAX,
    skipped: Sequence[Skipped] = (),
    embedded: MutableMapping[str, np.ndarray] | None = None,
    on_progress: Callable[[str], None] = lambda _msg: None,
    on_step: OnStep = no_step,
) -> BuildReport:
    """Chunk and embed `documents` and write them as the store's new current build, made from build `based_on`.

    BuildConflict if another build became current since `based_on`. `embedded` (chunk id -> vector) keeps
    what this call embedded, so that a caller trying again after a conflict embeds nothing twice.
    """
    started = time.perf_counter()
    if not documents:
        raise ValueError("no readable documents to index")
    embedded = {} if embedded is None else embedded
    on_step("chunking", 0, len(documents))
    chunks = chunk_documents(documents, chunking.max_chars, chunking.overlap)
    missing = [c.chunk_id for c in chunks if c.chunk_id not in embedded]
    known = {**known_vectors(pool, embedder.name, missing), **embedded} if based_on is not None else dict(embedded)
    vectors, reused = embed_chunks(chunks, embedder, known, on_progress, on_step)
    embedded.update((c.chunk_id, vectors[i]) for i, c in enumerate(chunks))
    on_step("writing", 0, len(chunks))
    manifest = Manifest(
        embedder_name=embedder.name,
        embedder_dim=embedder.dim,
        chunking=chunking,
        dense_kind="flat",
        n_chunks=len(chunks),
        inputs=tuple(str(p) for p in inputs),
        documents={d.doc_id: {"source": d.source, "sha256": d.sha256, "title": d.title} for d in documents},
        files={},
        skipped={str(item.path): stat_mark(item.path) for item in skipped if item.path.is_file()},
        versions=versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    build_id = write_build(pool, manifest, documents, chunks, vectors, exact_max=exact_max, based_on=based_on)
    kind = "hnsw" if len(chunks) > exact_max else "flat"
    index = CorpusIndex(
        path=Path(f"postgres-build-{build_id}"),
        manifest=replace(manifest, dense_kind=kind),
        documents={d.doc_id: d for d in documents},
        chunks=tuple(chunks),
        # Served from PostgreSQL, like a build load_current reads: no copy of the vectors in memory.
        vectors=np.zeros((0, embedder.dim), dtype=np.float32),
        dense=PgDenseIndex(pool, build_id, embedder.dim, len(chunks), kind),
        lexical=LexicalIndex.build([c.text for c in chunks]),
    )
    return BuildReport(index, len(chunks) - reused, reused, tuple(skipped), time.perf_counter() - started)
