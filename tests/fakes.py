"""Deterministic fakes and small helpers for tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.settings import DEFAULT_CORPUS

REPORT_PATH = DEFAULT_CORPUS / "tip-2007-north-korea.txt"


class HashEmbedder:
    """Hashed bag of words: texts sharing more words have a higher cosine similarity."""

    def __init__(self, dim: int = 512, name: str = "fake-hash") -> None:
        self.dim = dim
        self.name = name
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    @property
    def embedded_texts(self) -> int:
        return sum(len(c) for c in self.calls)


def write(folder: Path, name: str, text: str | bytes) -> Path:
    """Create a file under `folder` (bytes written as-is)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


class ScriptedGenerator:
    """Replies from a script, in small pieces, and records every prompt it was given."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict]] = []
        self.options: list = []

    def generate(self, messages, options):
        self.prompts.append(list(messages))
        self.options.append(options)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        for i in range(0, len(reply), 7):
            yield reply[i : i + 7]

    @property
    def last_user_message(self) -> str:
        return self.prompts[-1][-1]["content"]
