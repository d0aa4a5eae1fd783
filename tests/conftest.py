"""Shared fixtures; the fakes themselves live in tests/fakes.py."""

from __future__ import annotations

import pytest

from rag.ingest.files import load_document
from rag.types import Document
from tests.fakes import REPORT_PATH, HashEmbedder, write
from tests.pg import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]  # fixtures: a real PostgreSQL with pgvector, a fresh database per test


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def report() -> Document:
    return load_document(REPORT_PATH)


@pytest.fixture
def corpus(tmp_path):
    """Two small reports in a folder."""
    folder = tmp_path / "corpus"
    write(folder, "camps.txt", "Camps\n\nPrison camps hold many people. They log, mine and tend crops.")
    write(folder, "work.txt", "Overseas work\n\nWorkers go to Russia and Poland. Wages go to state accounts.")
    return folder
