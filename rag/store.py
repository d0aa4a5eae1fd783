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
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embeddings.encoder import Embedder
from embeddings.index import DenseIndex
from rag.chunk import chunk_documents
from rag.ingest import IngestLimits, Skipped, discover, load_documents
from rag.lexical import LexicalIndex
from rag.types import Chunk, Document

FORMAT = 1
_FILES = ("documents.jsonl", "chunks.jsonl", "vectors.npy", "dense.faiss")


class IndexMissing(RuntimeError):
    """No index has been built in the folder yet."""


class IndexCorrupt(RuntimeError):
    """The index on disk is damaged; the message says what and how to rebuild."""


class IndexWriteError(OSError):
    """A build could not be written (disk full, no permission); the previous index is untouched."""


@dataclass(frozen=True)
class ChunkingConfig:
    max_chars: int
    overlap: int


@dataclass(frozen=True)
class CorpusIndex:
    """Everything retrieval needs, loaded together from one build folder."""

    path: Path
    manifest: dict
    documents: dict[str, Document]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    dense: DenseIndex
    lexical: LexicalIndex

    @property
    def embedder_name(self) -> str:
        return str(self.manifest["embedder"]["name"])

    @property
    def inputs(self) -> tuple[Path, ...]:
        return tuple(Path(p) for p in self.manifest["inputs"])


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
    exact_max: int = 200_000,
    previous: CorpusIndex | None = None,
    on_progress: Callable[[str], None] = lambda _msg: None,
    limits: IngestLimits | None = None,
) -> BuildReport:
    """Ingest `inputs`, embed only chunks the previous index lacks, and swap the new build in."""
    started = time.perf_counter()
    inputs = [Path(p).resolve() for p in inputs]
    limits = limits or IngestLimits()
    docs, skipped = load_documents(inputs, limits.max_bytes, limits.allowed_roots)
    for item in skipped:
        on_progress(f"skipped {item.path}: {item.reason}")
    if not docs:
        raise ValueError("no readable documents in " + ", ".join(str(p) for p in inputs))
    chunks = chunk_documents(docs, chunking.max_chars, chunking.overlap)
    vectors, reused = _vectors_for(chunks, embedder, previous, on_progress)
    dense = DenseIndex.build(vectors, exact_max)
    lexical = LexicalIndex.build([c.text for c in chunks])

    builds = index_dir / "builds"
    try:
        builds.mkdir(parents=True, exist_ok=True)
        remove_leftovers(index_dir)
        # The pid in the name lets a later build tell an abandoned folder from one still being written.
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=builds))
    except OSError as err:
        raise _write_error(index_dir, err, vectors) from err
    try:
        _write_jsonl(tmp / "documents.jsonl", (asdict(d) for d in docs))
        _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
        np.save(tmp / "vectors.npy", vectors)
        _save_dense(dense, tmp / "dense.faiss")
        lexical.save(tmp / "bm25")
        manifest = {
            "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": {"name": embedder.name, "dim": embedder.dim},
            "chunking": asdict(chunking),
            "dense_kind": dense.kind,
            "n_chunks": len(chunks),
            "inputs": [str(p) for p in inputs],
            # Skipped files may be huge or lie outside the allowed folders: note their size and time, never read them.
            "skipped": {str(item.path): _stat_mark(item.path) for item in skipped if item.path.is_file()},
            "documents": {d.doc_id: {"source": d.source, "sha256": d.sha256, "title": d.title} for d in docs},
            "versions": _versions(),
            "files": {name: _sha256(tmp / name) for name in _FILES} | _tree_hashes(tmp / "bm25", "bm25/"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        final = builds / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{tmp.name[-6:]}"
        # One swap at a time: a concurrent build's cleanup must not remove this build before `current` names it.
        with _swap_lock(index_dir):
            tmp.rename(final)
            _fsync_dir(builds)
            _point_current(index_dir, final)
            _remove_old_builds(builds, keep=final)
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
    for _attempt in range(5):
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
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise IndexCorrupt(f"index format {manifest.get('format')} is not {FORMAT}; run `rag index --rebuild`")
        for name, digest in manifest["files"].items():
            if _sha256(path / name) != digest:
                raise IndexCorrupt(f"{path / name} does not match its checksum; run `rag index --rebuild`")
        documents = {d["doc_id"]: _document(d) for d in _read_jsonl(path / "documents.jsonl")}
        chunks = tuple(Chunk(**c) for c in _read_jsonl(path / "chunks.jsonl"))
        vectors = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None)
        dense = DenseIndex.load(path / "dense.faiss", mmap=mmap)
        lexical = LexicalIndex.load(path / "bm25", mmap=mmap)
    except IndexCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise IndexCorrupt(f"index at {path} cannot be read ({err}); run `rag index --rebuild`") from err
    if not (len(chunks) == manifest["n_chunks"] == len(vectors) == dense.size):
        raise IndexCorrupt(f"index at {path} has inconsistent sizes; run `rag index --rebuild`")
    dims = {vectors.shape[1] if vectors.ndim == 2 else -1, manifest["embedder"]["dim"]}
    if len(dims) != 1:
        raise IndexCorrupt(
            f"index at {path} holds vectors of width {sorted(dims)} for embedder "
            f"{manifest['embedder']['name']!r}; run `rag index --rebuild`"
        )
    return CorpusIndex(path, manifest, documents, chunks, vectors, dense, lexical)


def recorded_inputs(index_dir: Path) -> list[Path]:
    """The inputs named by the current build's manifest, even when the build is damaged; [] if unreadable."""
    try:
        manifest = json.loads(((index_dir / "current").resolve() / "manifest.json").read_text(encoding="utf-8"))
        inputs = manifest["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    ok = isinstance(inputs, list) and all(isinstance(p, str) for p in inputs)
    return [Path(p) for p in inputs] if ok else []


def stale_reason(
    index: CorpusIndex, embedder_name: str, chunking: ChunkingConfig, inputs: Sequence[Path]
) -> str | None:
    """Why the index no longer matches the settings and sources, or None if it is current."""
    m = index.manifest
    if m["embedder"]["name"] != embedder_name:
        return f"it was built with embedder {m['embedder']['name']!r}, the settings ask for {embedder_name!r}"
    if m["chunking"] != asdict(chunking):
        return f"it was built with chunking {m['chunking']}, the settings ask for {asdict(chunking)}"
    wanted = sorted(str(Path(p).resolve()) for p in inputs)
    if sorted(m["inputs"]) != wanted:
        return f"it covers {sorted(m['inputs'])}, not {wanted}"
    indexed = {d["source"]: d["sha256"] for d in m["documents"].values()} | m.get("skipped", {})
    for path in discover(Path(p).resolve() for p in inputs):
        if not path.is_file():
            continue  # a missing input was reported when the index was built
        # A document is recorded under its resolved path, so a symlink inside the corpus finds its target.
        key = str(path) if str(path) in indexed else str(path.resolve())
        if key not in indexed:
            return f"{path} is new"
        recorded = indexed[key]
        current = _stat_mark(path) if recorded.startswith("stat:") else _sha256(path)
        if current != recorded:
            return f"{path} has changed"
    for source in indexed:
        if not Path(source).exists():
            return f"{source} is gone"
    return None


def _vectors_for(
    chunks: Sequence[Chunk], embedder: Embedder, previous: CorpusIndex | None, on_progress: Callable[[str], None]
) -> tuple[np.ndarray, int]:
    """Vectors for all chunks, reusing the previous build's where the chunk and embedder match."""
    known: dict[str, int] = {}
    if previous is not None and previous.embedder_name == embedder.name:
        known = {c.chunk_id: i for i, c in enumerate(previous.chunks)}
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = [i for i, c in enumerate(chunks) if c.chunk_id not in known]
    for i, c in enumerate(chunks):
        if c.chunk_id in known and previous is not None:
            vectors[i] = previous.vectors[known[c.chunk_id]]
    if todo:
        on_progress(f"embedding {len(todo)} new chunks ({len(chunks) - len(todo)} reused)")
        vectors[todo] = embedder.embed([chunks[i].text for i in todo])
    return vectors, len(chunks) - len(todo)


@contextmanager
def _swap_lock(index_dir: Path) -> Iterator[None]:
    """An exclusive lock on the index folder; the system releases it if the process dies."""
    fd = os.open(index_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _point_current(index_dir: Path, target: Path) -> None:
    link = index_dir / f".current-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.relative_to(index_dir))
    os.replace(link, index_dir / "current")
    _fsync_dir(index_dir)


def remove_leftovers(index_dir: Path) -> list[Path]:
    """Remove what killed builds left behind: temporary build folders and link files of dead processes.

    Folders of builds still running (their process is alive) are kept. Returns what was removed.
    """
    removed = []
    candidates = [*(index_dir / "builds").glob(".tmp-*"), *index_dir.glob(".current-*")]
    for path in candidates:
        if _process_alive(_pid_in(path.name)):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _pid_in(name: str) -> int | None:
    """The process id in a leftover's name: '.tmp-4242-abc' -> 4242, '.current-7' -> 7, '.tmp-abc' -> None."""
    field = name.split("-")[1] if name.count("-") >= 1 else ""
    return int(field) if field.isdigit() else None


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _write_error(index_dir: Path, err: OSError, vectors: np.ndarray) -> IndexWriteError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        need = max(1, 3 * vectors.nbytes // 1_000_000)
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


def _remove_old_builds(builds: Path, keep: Path) -> None:
    """Drop superseded builds; a reader that still has one open keeps its files (POSIX)."""
    for child in builds.iterdir():
        if child != keep and not child.name.startswith(".tmp-"):
            shutil.rmtree(child, ignore_errors=True)


def _document(row: dict) -> Document:
    row = dict(row)
    row["spans"] = tuple(tuple(s) for s in row["spans"])
    row["extra"] = tuple(tuple(e) for e in row["extra"])
    return Document(**row)


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _stat_mark(path: Path) -> str:
    """A file's size and modification time, for files that are noted but not read."""
    st = path.stat()
    return f"stat:{st.st_size}:{st.st_mtime_ns}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tree_hashes(folder: Path, prefix: str) -> dict[str, str]:
    return {prefix + p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("report-rag", "faiss-cpu", "bm25s", "sentence-transformers", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
