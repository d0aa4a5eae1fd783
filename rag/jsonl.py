"""JSON Lines files: one JSON object a line, UTF-8, written whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Write `rows` as JSON lines to `path` (a temporary file beside it, synced, then renamed); how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    written = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        # Readers never see half a file, and no temporary file is left behind.
        Path(temp).unlink(missing_ok=True)
        raise
    return written


def read_jsonl(path: Path) -> list[Any]:
    """The JSON value of each non-blank line of `path`, in order."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
