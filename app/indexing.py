"""The index the product answers from: opened, built, rebuilt when stale, and updated with new reports.

The policy lives here (which inputs a rebuild reads, when an index is stale); the work is rag.index's.
With RAG_DATABASE_URL the index is the shared store's current build: opened as it is (built from the
configured corpus only when the store is empty), never rebuilt behind other servers' backs, and refused
when it was made with another embedder. A new build there starts from the reports the store holds (their
text is in it, wherever they were added), replaces those read again from the given paths, and is written
only if no other build was published meanwhile; otherwise it is made again from the newer one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.encoder import Embedder, load_embedder
from rag.index.retrieve import Retriever
from rag.index.store import (
    BuildReport,
    ChunkingConfig,
    CorpusIndex,
    IndexMissing,
    OnStep,
    build_index,
    load_index,
    no_step,
    recorded_inputs,
    stale_reason,
)
from rag.ingest.files import IngestLimits, load_documents
from rag.settings import Settings
from rag.types import Document

if TYPE_CHECKING:
    from rag.pg import Pool

Say = Callable[[str], None]
# A build for the shared store is made again from the newer build this many times when another server
# published first; chosen by hand (each retry reuses every vector already computed).
PUBLISH_ATTEMPTS = 5


def chunking(settings: Settings) -> ChunkingConfig:
    return ChunkingConfig(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)


def ingest_limits(settings: Settings) -> IngestLimits:
    # Reports added through the chat are kept in the uploads folder, which is always readable.
    roots = (*settings.allowed_roots, settings.uploads_dir) if settings.allowed_roots else ()
    return IngestLimits(max_bytes=settings.max_file_bytes, allowed_roots=roots)


def make_embedder(settings: Settings) -> Embedder:
    return load_embedder(settings.embedder_model, settings.embed_batch_size)


def index_documents(
    settings: Settings,
    embedder: Embedder,
    paths: Sequence[Path] = (),
    replace: bool = False,
    reembed: bool = False,
    say: Say = print,
    on_step: OnStep = no_step,
) -> BuildReport:
    """Build or update the index.

    With `paths`: the previous inputs plus these (only these with `replace`). Without:
    the previous inputs again, or the configured corpus for a new index. Vectors of
    unchanged chunks are reused unless `reembed`.
    """
    if settings.database:
        return _index_shared(settings, embedder, paths, replace, reembed, say, on_step)
    previous = _load_or_none(settings, say)
    resolved = [p.resolve() for p in paths]
    # A damaged index is rebuilt from scratch, but from the inputs its manifest still names.
    earlier = list(previous.inputs) if previous is not None else recorded_inputs(settings.index_dir)
    if resolved and (replace or not earlier):
        inputs = resolved
    elif resolved:
        inputs = list(dict.fromkeys([*earlier, *resolved]))
    elif earlier:
        inputs = earlier
    else:
        inputs = list(settings.corpus)
    return _build(settings, inputs, embedder, None if reembed else previous, say, on_step)


def open_index(settings: Settings, embedder: Embedder, say: Say = print) -> CorpusIndex:
    """The persisted index, built first if missing and rebuilt if stale (saying why).

    From the shared store: its current build, built first if the store is empty; EmbedderMismatch if it
    was made with another embedder.
    """
    if settings.database:
        return _open_shared(settings, embedder, say)
    try:
        index = load_index(settings.index_dir, mmap=False)
    except IndexMissing:
        say(f"no index in {settings.index_dir} yet: building it from {', '.join(map(str, settings.corpus))}")
        return _build(settings, settings.corpus, embedder, None, say).index
    reason = stale_reason(index.manifest, embedder.name, chunking(settings), index.inputs)
    if reason is None:
        return index
    say(f"the index in {settings.index_dir} is stale ({reason}): rebuilding")
    return _build(settings, index.inputs, embedder, index, say).index


def _build(
    settings: Settings,
    inputs: Sequence[Path],
    embedder: Embedder,
    previous: CorpusIndex | None,
    say: Say,
    on_step: OnStep = no_step,
) -> BuildReport:
    return build_index(
        settings.index_dir,
        inputs,
        embedder,
        chunking(settings),
        exact_max=settings.retrieval.exact_search_max_chunks,
        previous=previous,
        on_progress=say,
        limits=ingest_limits(settings),
        on_step=on_step,
    )


def make_retriever(
    settings: Settings, say: Say = print, embedder: Embedder | None = None, index: CorpusIndex | None = None
) -> Retriever:
    """The retriever over the persisted index (opened, built or rebuilt as needed), or over `index`."""
    embedder = embedder or make_embedder(settings)
    group = settings.retrieval
    return Retriever(
        index=index or open_index(settings, embedder, say),
        embedder=embedder,
        mode=group.mode,
        fusion=group.fusion,
        rrf_k=group.rrf_k,
        dense_weight=group.dense_weight,
    )


def _load_or_none(settings: Settings, say: Say) -> CorpusIndex | None:
    try:
        return load_index(settings.index_dir)
    except IndexMissing:
        return None
    except RuntimeError as err:  # a corrupt index is rebuilt from scratch, never reused
        say(f"ignoring the existing index: {err}")
        return None


_pools: dict[str, Pool] = {}
_pools_lock = threading.Lock()


def shared_pool(settings: Settings) -> Pool:
    """The process's connections to the shared store named by RAG_DATABASE_URL."""
    from rag.pg import Pool

    url = settings.database
    assert url is not None
    with _pools_lock:
        if url not in _pools:
            _pools[url] = Pool(url)
        return _pools[url]


def load_shared(settings: Settings, embedder: Embedder | None) -> CorpusIndex:
    """The shared store's current build, checked against `embedder` (IndexMissing if there is none)."""
    from rag.index.postgres import load_current

    name, dim = (embedder.name, embedder.dim) if embedder is not None else (None, None)
    return load_current(shared_pool(settings), name, dim, vectors=False)


def _open_shared(settings: Settings, embedder: Embedder, say: Say) -> CorpusIndex:
    from rag.index.postgres import BuildConflict
    from rag.pg import redact

    try:
        return load_shared(settings, embedder)
    except IndexMissing:
        pass
    where = redact(settings.database or "")
    say(f"the shared store at {where} has no index yet: building it from {', '.join(map(str, settings.corpus))}")
    try:
        return _build_shared(settings, embedder, None, list(settings.corpus), True, say, no_step, {}).index
    except BuildConflict:
        # Another server filled the empty store first: serve its build rather than replace it.
        say("another server built the shared store first: using its build")
        return load_shared(settings, embedder)


def _index_shared(
    settings: Settings,
    embedder: Embedder,
    paths: Sequence[Path],
    replace: bool,
    reembed: bool,
    say: Say,
    on_step: OnStep,
) -> BuildReport:
    def attempt(embedded: dict[str, np.ndarray]) -> BuildReport:
        try:
            previous: CorpusIndex | None = load_shared(settings, None if reembed else embedder)
        except IndexMissing:
            previous = None
        resolved = [p.resolve() for p in paths]
        if not resolved:
            # Inputs recorded on another machine may be missing here: their reports are kept from the store.
            resolved = [p for p in previous.inputs if p.exists()] if previous is not None else list(settings.corpus)
        return _build_shared(settings, embedder, previous, resolved, replace, say, on_step, embedded)

    return _retrying(attempt, say)


def _retrying(attempt: Callable[[dict[str, np.ndarray]], BuildReport], say: Say) -> BuildReport:
    """`attempt` made again from the newer build while other servers publish first (BuildConflict).

    The attempts share one dict of the vectors already embedded, so a passage is embedded once.
    """
    from rag.index.postgres import BuildConflict

    embedded: dict[str, np.ndarray] = {}
    for _attempt in range(PUBLISH_ATTEMPTS):
        try:
            return attempt(embedded)
        except BuildConflict as err:
            say(f"{err}: building again")
    raise BuildConflict(f"other servers kept publishing builds; {PUBLISH_ATTEMPTS} attempts failed, try again")


def _publish(
    settings: Settings,
    embedder: Embedder,
    previous: CorpusIndex | None,
    documents: Sequence[Document],
    inputs: Sequence[Path],
    embedded: dict[str, np.ndarray],
    say: Say,
    **options: Any,
) -> BuildReport:
    """`documents` published to the shared store as the build that replaces `previous`."""
    from rag.index.shared import build_of, publish_documents

    return publish_documents(
        shared_pool(settings),
        documents,
        inputs,
        embedder,
        chunking(settings),
        based_on=build_of(previous),
        exact_max=settings.retrieval.exact_search_max_chunks,
        embedded=embedded,
        on_progress=say,
        **options,
    )


def _build_shared(
    settings: Settings,
    embedder: Embedder,
    previous: CorpusIndex | None,
    read: Sequence[Path],
    replace: bool,
    say: Say,
    on_step: OnStep,
    embedded: dict[str, np.ndarray],
) -> BuildReport:
    """A build of the reports read from `read` plus, unless `replace`, those of `previous` not read again."""
    on_step("reading", 0, len(read))
    limits = ingest_limits(settings)
    fresh, skipped = load_documents([Path(p).resolve() for p in read], limits.max_bytes, limits.allowed_roots)
    for item in skipped:
        say(f"skipped {item.path}: {item.reason}")
    kept: list[Document] = []
    inputs = list(read)
    if previous is not None and not replace:
        ids = {d.doc_id for d in fresh}
        kept = [d for d in previous.documents.values() if d.doc_id not in ids and not _read_from(d, read)]
        inputs = list(dict.fromkeys([*previous.inputs, *read]))
    return _publish(
        settings, embedder, previous, [*kept, *fresh], inputs, embedded, say, skipped=skipped, on_step=on_step
    )


def remove_shared(settings: Settings, embedder: Embedder, doc_id: str, inputs: Sequence[Path], say: Say) -> BuildReport:
    """A build of the shared store's reports without `doc_id` (recording `inputs`), made from the current one."""

    def attempt(embedded: dict[str, np.ndarray]) -> BuildReport:
        previous = load_shared(settings, embedder)
        if doc_id not in previous.documents:
            raise KeyError(doc_id)
        documents = [d for d in previous.documents.values() if d.doc_id != doc_id]
        return _publish(settings, embedder, previous, documents, inputs, embedded, say)

    return _retrying(attempt, say)


def _read_from(doc: Document, paths: Sequence[Path]) -> bool:
    """Whether `doc` came from one of `paths` (a file, or a file inside a folder), so reading them replaces it."""
    source = Path(doc.source)
    return any(source == p or source.is_relative_to(p) for p in paths)
