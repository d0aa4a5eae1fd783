"""The index the product answers from: opened, built, rebuilt when stale, and updated with new reports.

The policy lives here (which inputs a rebuild reads, when an index is stale); the work is rag.index's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

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
from rag.ingest.files import IngestLimits
from rag.settings import Settings

Say = Callable[[str], None]


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
    """The persisted index, built first if missing and rebuilt if stale (saying why)."""
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
