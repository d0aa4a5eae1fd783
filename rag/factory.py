"""Builds the real models and the index from Settings; only entry points call this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from embeddings.encoder import Embedder, load_embedder
from rag.retrieve import Retriever
from rag.settings import Settings
from rag.store import (
    BuildReport,
    ChunkingConfig,
    CorpusIndex,
    IndexMissing,
    build_index,
    load_index,
    stale_reason,
)

Say = Callable[[str], None]


def chunking(settings: Settings) -> ChunkingConfig:
    return ChunkingConfig(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)


def make_embedder(settings: Settings) -> Embedder:
    return load_embedder(settings.embedder_model, settings.embed_batch_size)


def index_documents(
    settings: Settings, embedder: Embedder, paths: Sequence[Path] = (), replace: bool = False, say: Say = print
) -> BuildReport:
    """Build or update the index: the previous inputs plus `paths` (or only `paths` with `replace`)."""
    previous = _load_or_none(settings, say)
    inputs: list[Path] = list(paths) or list(settings.corpus)
    if previous is not None and not replace and paths:
        inputs = list(dict.fromkeys([*previous.inputs, *(p.resolve() for p in paths)]))
    return build_index(
        settings.index_dir, inputs, embedder, chunking(settings), settings.exact_search_max_chunks, previous, say
    )


def open_index(settings: Settings, embedder: Embedder, say: Say = print) -> CorpusIndex:
    """The persisted index, built first if missing and rebuilt if stale (saying why)."""
    try:
        index = load_index(settings.index_dir, mmap=False)
    except IndexMissing:
        say(f"no index in {settings.index_dir} yet: building it from {', '.join(map(str, settings.corpus))}")
        return build_index(
            settings.index_dir,
            settings.corpus,
            embedder,
            chunking(settings),
            settings.exact_search_max_chunks,
            None,
            say,
        ).index
    reason = stale_reason(index, embedder.name, chunking(settings), index.inputs)
    if reason is None:
        return index
    say(f"the index in {settings.index_dir} is stale ({reason}): rebuilding")
    return build_index(
        settings.index_dir, index.inputs, embedder, chunking(settings), settings.exact_search_max_chunks, index, say
    ).index


def make_retriever(settings: Settings, say: Say = print) -> Retriever:
    embedder = make_embedder(settings)
    index = open_index(settings, embedder, say)
    return Retriever(
        index=index,
        embedder=embedder,
        mode=settings.retrieval_mode,
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
    )


def _load_or_none(settings: Settings, say: Say) -> CorpusIndex | None:
    try:
        return load_index(settings.index_dir)
    except IndexMissing:
        return None
    except RuntimeError as err:  # a corrupt index is rebuilt from scratch, never reused
        say(f"ignoring the existing index: {err}")
        return None
