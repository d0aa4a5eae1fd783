"""The persisted corpus index: documents, chunks, vectors, FAISS and BM25, plus a manifest.

Layout of an index folder:

    INDEX_DIR/current        -> builds/<id>   (a symlink, swapped atomically)
    INDEX_DIR/builds/<id>/   manifest.json documents.jsonl chunks.jsonl vectors.npy dense.faiss bm25/
    INDEX_DIR/.lock          held while a build swaps `current` and removes old builds

A build writes `builds/.tmp-<pid>-*` and only then renames it and repoints `current`,
so a crash mid-build leaves the previous index serving; the next build removes what a
dead process left. Loading checks every file's checksum against the manifest and
refuses a corrupt index as a whole.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from rag.index import swap
from rag.index.bm25 import LexicalIndex
from rag.index.dense import DenseIndex, DenseSearch
from rag.index.manifest import (
    FORMAT,
    ChunkingConfig,
    Manifest,
    recorded_inputs,
    sha256,
    stale_reason,
    stat_mark,
    tree_hashes,
    versions,
)
from rag.index.swap import remove_unfinished_builds
from rag.ingest.chunk import chunk_documents
from rag.ingest.files import IngestLimits, Skipped, load_documents
from rag.jsonl import read_jsonl, write_jsonl
from rag.types import Chunk, Document

__all__ = ["ChunkingConfig", "recorded_inputs", "remove_unfinished_builds", "stale_reason"]  # re-exported for callers

_FILES = ("documents.jsonl", "chunks.jsonl", "vectors.npy", "dense.faiss")
# Chunks embedded per step (progress is reported after each); chosen by hand.
EMBED_STEP = 256
# Exact dense search up to this many chunks when a caller gives none: the value before the settings' default
# became 50,000 (docs/scaling.md); app/build.py passes RAG_EXACT_SEARCH_MAX_CHUNKS.
EXACT_MAX = 200_000
# A build swapped in while the index loads is read again, up to this many times; chosen by hand.
LOAD_ATTEMPTS = 5
# A full disk's message asks for this many times the vectors' size free; a rough margin chosen by hand.
DISK_MARGIN = 3
OnStep = Callable[[str, int, int], None]


def no_step(_step: str, _done: int, _total: int) -> None:
    """An `OnStep` that listens to nothing."""


class IndexMissing(RuntimeError):
    """No index has been built in the folder yet."""


class IndexCorrupt(RuntimeError):
    """The index on disk is damaged; the message says what and how to rebuild."""


class IndexWriteError(OSError):
    """A build could not be written (disk full, no permission); the previous index is untouched."""


@dataclass(frozen=True)
class CorpusIndex:
    """Everything retrieval needs, loaded together from one build folder."""

    path: Path
    manifest: Manifest
    documents: dict[str, Document]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    dense: DenseSearch
    lexical: LexicalIndex

    @property
    def embedder_name(self) -> str:
        return self.manifest.embedder_name

    @property
    def inputs(self) -> tuple[Path, ...]:
        return tuple(Path(p) for p in self.manifest.inputs)


@dataclass(frozen=True)
class BuildReport:
    index: CorpusIndex
    embedded: int
    reused: int
    skipped: tuple[Skipped, ...]
    seconds: float


def build_index(
    index_dir: Path,
    inputs: Sequence[Path],
    embedder: Embedder,
    chunking: ChunkingConfig,
    exact_max: int = EXACT_MAX,
    previous: CorpusIndex | None = None,
    on_progress: Callable[[str], None] = lambda _msg: None,
    limits: IngestLimits | None = None,
    on_step: OnStep = no_step,
) -> BuildReport:
    """Ingest `inputs`, embed only chunks the previous index lacks, and swap the new build in.

    `on_step(step, done, total)` hears each step: "reading", "chunking", "embedding" (chunks
    done of those to embed, once per batch) and "writing".
    """
    started = time.perf_counter()
    inputs = [Path(p).resolve() for p in inputs]
    limits = limits or IngestLimits()
    on_step("reading", 0, len(inputs))
    docs, skipped = load_documents(inputs, limits.max_bytes, limits.allowed_roots)
    for item in skipped:
        on_progress(f"skipped {item.path}: {item.reason}")
    if not docs:
        raise ValueError("no readable documents in " + ", ".join(str(p) for p in inputs))
    on_step("chunking", 0, len(docs))
    chunks = chunk_documents(docs, chunking.max_chars, chunking.overlap)
    vectors, reused = _vectors_for(chunks, embedder, previous, on_progress, on_step)
    on_step("writing", 0, len(chunks))
    dense = DenseIndex.build(vectors, exact_max)
    lexical = LexicalIndex.build([c.text for c in chunks])

    builds = index_dir / "builds"
    try:
        builds.mkdir(parents=True, exist_ok=True)
        swap.remove_unfinished_builds(index_dir)
        # The pid in the name lets a later build tell an abandoned folder from one still being written.
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=builds))
    except OSError as err:
        raise _write_error(index_dir, err, vectors) from err
    try:
        write_jsonl(tmp / "documents.jsonl", (asdict(d) for d in docs))
        write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
        np.save(tmp / "vectors.npy", vectors)
        _save_dense(dense, tmp / "dense.faiss")
        lexical.save(tmp / "bm25")
        manifest = Manifest(
            embedder_name=embedder.name,
            embedder_dim=embedder.dim,
            chunking=chunking,
            dense_kind=dense.kind,
            n_chunks=len(chunks),
            inputs=tuple(str(p) for p in inputs),
            documents={d.doc_id: {"source": d.source, "sha256": d.sha256, "title": d.title} for d in docs},
            files={name: sha256(tmp / name) for name in _FILES} | tree_hashes(tmp / "bm25", "bm25/"),
            # Skipped files may be huge or lie outside the allowed folders: note their size and time, never read them.
            skipped={str(item.path): stat_mark(item.path) for item in skipped if item.path.is_file()},
            versions=versions(),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        manifest.write(tmp / "manifest.json")
        swap.fsync_tree(tmp)
        final = builds / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{tmp.name[-6:]}"
        # One swap at a time: a concurrent build's cleanup must not remove this build before `current` names it.
        with swap.swap_lock(index_dir):
            tmp.rename(final)
            swap.fsync_dir(builds)
            swap.point_current(index_dir, final)
            swap.remove_old_builds(builds, keep=final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(index_dir, err, vectors) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = CorpusIndex(
        path=final,
        manifest=manifest,
        documents={d.doc_id: d for d in docs},
        chunks=tuple(chunks),
        vectors=vectors,
        dense=dense,
        lexical=lexical,
    )
    return BuildReport(index, len(chunks) - reused, reused, tuple(skipped), time.perf_counter() - started)


def load_index(index_dir: Path, mmap: bool = False) -> CorpusIndex:
    """Load the current build, verifying every file; raise IndexMissing or IndexCorrupt."""
    current = index_dir / "current"
    if not current.exists():
        if current.is_symlink():
            raise IndexCorrupt(f"{current} points to a build that no longer exists; run `rag index` to rebuild")
        raise IndexMissing(f"no index in {index_dir}; run `rag index` to build one")
    path = current.resolve()
    for _attempt in range(LOAD_ATTEMPTS):
        try:
            return _load_build(path, mmap)
        except IndexCorrupt:
            # A build that finished meanwhile repointed `current` and removed this folder: read the new one.
            newer = current.resolve()
            if newer == path:
                raise
            path = newer
    return _load_build(path, mmap)


def _load_build(path: Path, mmap: bool) -> CorpusIndex:
    """One build folder, every file checked against the manifest; IndexCorrupt if anything is off."""
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise IndexCorrupt(f"index format {data.get('format')} is not {FORMAT}; run `rag index --rebuild`")
        manifest = Manifest.from_json(data)
        for name, digest in manifest.files.items():
            if sha256(path / name) != digest:
                raise IndexCorrupt(f"{path / name} does not match its checksum; run `rag index --rebuild`")
        documents = {d["doc_id"]: document_from_json(d) for d in read_jsonl(path / "documents.jsonl")}
        chunks = tuple(Chunk(**c) for c in read_jsonl(path / "chunks.jsonl"))
        vectors = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None)
        dense = DenseIndex.load(path / "dense.faiss", mmap=mmap)
        lexical = LexicalIndex.load(path / "bm25", mmap=mmap)
    except IndexCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise IndexCorrupt(f"index at {path} cannot be read ({err}); run `rag index --rebuild`") from err
    if not (len(chunks) == manifest.n_chunks == len(vectors) == dense.size):
        raise IndexCorrupt(f"index at {path} has inconsistent sizes; run `rag index --rebuild`")
    dims = {vectors.shape[1] if vectors.ndim == 2 else -1, manifest.embedder_dim}
    if len(dims) != 1:
        raise IndexCorrupt(
            f"index at {path} holds vectors of width {sorted(dims)} for embedder "
            f"{manifest.embedder_name!r}; run `rag index --rebuild`"
        )
    return CorpusIndex(path, manifest, documents, chunks, vectors, dense, lexical)


def _vectors_for(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    previous: CorpusIndex | None,
    on_progress: Callable[[str], None],
    on_step: OnStep,
) -> tuple[np.ndarray, int]:
    """Vectors for all chunks, reusing the previous build's where the chunk and embedder match."""
    known: dict[str, np.ndarray] = {}
    if previous is not None and previous.embedder_name == embedder.name:
        known = {c.chunk_id: previous.vectors[i] for i, c in enumerate(previous.chunks)}
    return embed_chunks(chunks, embedder, known, on_progress, on_step)


def embed_chunks(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    known: Mapping[str, np.ndarray],
    on_progress: Callable[[str], None],
    on_step: OnStep,
) -> tuple[np.ndarray, int]:
    """Vectors for all chunks, taken from `known` (chunk id -> vector) where it has them; how many were."""
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = [i for i, c in enumerate(chunks) if c.chunk_id not in known]
    for i, c in enumerate(chunks):
        if c.chunk_id in known:
            vectors[i] = known[c.chunk_id]
    if todo:
        on_progress(f"embedding {len(todo)} new chunks ({len(chunks) - len(todo)} reused)")
        # In batches, so that whoever waits for a large report hears how far the embedding is.
        for first in range(0, len(todo), EMBED_STEP):
            on_step("embedding", first, len(todo))
            rows = todo[first : first + EMBED_STEP]
            vectors[rows] = embedder.embed([chunks[i].text for i in rows])
        on_step("embedding", len(todo), len(todo))
    return vectors, len(chunks) - len(todo)


def _write_error(index_dir: Path, err: OSError, vectors: np.ndarray) -> IndexWriteError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        need = max(1, DISK_MARGIN * vectors.nbytes // 1_000_000)
        return IndexWriteError(
            f"the disk holding {index_dir} is full ({err.strerror or err}): free at least {need} MB there "
            "(or set RAG_INDEX_DIR to another disk) and run `rag index` again; the previous index is unchanged"
        )
    return IndexWriteError(
        f"could not write the index to {index_dir} ({err}): check that the folder is writable "
        "(or set RAG_INDEX_DIR) and run `rag index` again; the previous index is unchanged"
    )


def _save_dense(dense: DenseIndex, path: Path) -> None:
    try:
        dense.save(path)
    except RuntimeError as err:  # faiss reports a failed write as RuntimeError, the OS reason in its text
        code = errno.ENOSPC if "No space left" in str(err) else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from err


def document_from_json(row: dict) -> Document:
    """A Document from its JSON form (a line of documents.jsonl)."""
    row = dict(row)
    row["spans"] = tuple(tuple(s) for s in row["spans"])
    row["extra"] = tuple(tuple(e) for e in row["extra"])
    row["pages"] = tuple(row.get("pages", ()))  # absent from builds made before documents had pages
    return Document(**row)
