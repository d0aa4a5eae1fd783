"""Shared fixtures; the fakes themselves live in tests/fakes.py."""

from __future__ import annotations

import pytest

from rag.ingest import load_document
from rag.types import Document
from tests.fakes import REPORT_PATH, HashEmbedder


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def report() -> Document:
    return load_document(REPORT_PATH)
