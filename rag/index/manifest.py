"""The manifest of an index build: what it was built from and with, and each file's checksum.

`Manifest` is the typed form of `manifest.json`; `stale_reason` compares it with the settings and
the sources on disk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.ingest.files import READER_CHANGES, READER_VERSION, discover

FORMAT = 1


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into passages: up to `max_chars` characters, `overlap` sentences shared."""

    max_chars: int
    overlap: int


@dataclass(frozen=True)
class Manifest:
    """What one build holds and how it was made."""

    embedder_name: str
    embedder_dim: int
    chunking: ChunkingConfig
    dense_kind: str
    n_chunks: int
    inputs: tuple[str, ...]
    # doc_id -> {"source", "sha256", "title"}
    documents: Mapping[str, Mapping[str, str]]
    # name -> sha256 of each file of the build
    files: Mapping[str, str]
    # Skipped inputs, noted by size and time (never read): path -> "stat:size:mtime"
    skipped: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    format: int = FORMAT
    # The document reader that made the build's text (rag.ingest.files.READER_VERSION); 1 before it was recorded.
    reader: int = READER_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "reader": self.reader,
            "created": self.created,
            "embedder": {"name": self.embedder_name, "dim": self.embedder_dim},
            "chunking": asdict(self.chunking),
            "dense_kind": self.dense_kind,
            "n_chunks": self.n_chunks,
            "inputs": list(self.inputs),
            "skipped": dict(self.skipped),
            "documents": {k: dict(v) for k, v in self.documents.items()},
            "versions": dict(self.versions),
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        """The manifest in `data`; KeyError or TypeError when a field is missing or of the wrong kind."""
        return cls(
            embedder_name=str(data["embedder"]["name"]),
            embedder_dim=int(data["embedder"]["dim"]),
            chunking=ChunkingConfig(**data["chunking"]),
            dense_kind=str(data["dense_kind"]),
            n_chunks=int(data["n_chunks"]),
            inputs=tuple(str(p) for p in data["inputs"]),
            documents=dict(data["documents"]),
            files=dict(data["files"]),
            skipped=dict(data.get("skipped", {})),
            versions=dict(data.get("versions", {})),
            created=str(data.get("created", "")),
            format=int(data["format"]),
            reader=int(data.get("reader", 1)),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")


def recorded_inputs(index_dir: Path) -> list[Path]:
    """The inputs named by the current build's manifest, even when the build is damaged; [] if unreadable."""
    try:
        manifest = json.loads(((index_dir / "current").resolve() / "manifest.json").read_text(encoding="utf-8"))
        inputs = manifest["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    ok = isinstance(inputs, list) and all(isinstance(p, str) for p in inputs)
    return [Path(p) for p in inputs] if ok else []


def stale_reason(m: Manifest, embedder_name: str, chunking: ChunkingConfig, inputs: Sequence[Path]) -> str | None:
    """Why a build no longer matches the settings and sources, or None if it is current."""
    if m.embedder_name != embedder_name:
        return f"it was built with embedder {m.embedder_name!r}, the settings ask for {embedder_name!r}"
    if m.chunking != chunking:
        return f"it was built with chunking {asdict(m.chunking)}, the settings ask for {asdict(chunking)}"
    if m.reader != READER_VERSION:
        changes = "; ".join(text for v, text in sorted(READER_CHANGES.items()) if v > m.reader)
        return f"its documents were read by reader version {m.reader}, this is version {READER_VERSION}" + (
            f" ({changes})" if changes else ""
        )
    wanted = sorted(str(Path(p).resolve()) for p in inputs)
    if sorted(m.inputs) != wanted:
        return f"it covers {sorted(m.inputs)}, not {wanted}"
    indexed = {d["source"]: d["sha256"] for d in m.documents.values()} | dict(m.skipped)
    for path in discover(Path(p).resolve() for p in inputs):
        if not path.is_file():
            continue  # a missing input was reported when the index was built
        # A document is recorded under its resolved path, so a symlink inside the corpus finds its target.
        key = str(path) if str(path) in indexed else str(path.resolve())
        if key not in indexed:
            return f"{path} is new"
        recorded = indexed[key]
        current = stat_mark(path) if recorded.startswith("stat:") else sha256(path)
        if current != recorded:
            return f"{path} has changed"
    for source in indexed:
        if not Path(source).exists():
            return f"{source} is gone"
    return None


def stat_mark(path: Path) -> str:
    """A file's size and modification time, for files that are noted but not read."""
    st = path.stat()
    return f"stat:{st.st_size}:{st.st_mtime_ns}"


# Files are hashed in blocks of this many bytes (1 MiB); chosen by hand.
HASH_BLOCK = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(folder: Path, prefix: str) -> dict[str, str]:
    return {prefix + p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("report-rag", "faiss-cpu", "bm25s", "sentence-transformers", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
