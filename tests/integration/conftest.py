"""Integration tests: every test in this folder is marked `integration`, and the real packaged models are
loaded once per test run, through the product's own factories (app.indexing, app.generators), and shared
by every test here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app import build, generators, indexing
from embeddings.encoder import Embedder
from rag.answer.pipeline import Pipeline
from rag.generate.protocol import Generator
from rag.settings import Settings

HERE = Path(__file__).parent


def quiet(_message: str) -> None:
    """Building prints its progress; the tests need none of it."""


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: a file without its own marker is still left out
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The packaged sentence-transformers embedder, as the product loads it."""
    return indexing.make_embedder(Settings())


@pytest.fixture(scope="session")
def real_generator() -> Generator:
    """The packaged generator, as the product loads it (llama.cpp by default)."""
    return generators.make_generator(Settings(), say=quiet)


@pytest.fixture(scope="session")
def real_application(real_embedder, real_generator) -> Callable[[Settings], build.Application]:
    """Builds the product from settings (their index, corpus, limits) over the models loaded once."""

    def application(settings: Settings) -> build.Application:
        return build.build(settings, say=quiet, embedder=real_embedder, generator=real_generator)

    return application


@pytest.fixture(scope="session")
def real_pipeline(real_application) -> Callable[[Settings], Pipeline]:
    """The answer pipeline the product builds from settings, over the models loaded once."""
    return lambda settings: real_application(settings).pipeline
