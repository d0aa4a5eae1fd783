"""Synthetic corpora made of the shipped report's own sentences, shuffled; nothing is downloaded.

Two shapes: report files on disk (for index builds, as `rag index` would read them), and
documents with chunks built in memory (for retrieval at sizes up to millions of chunks).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.ingest.chunk import chunk_id
from rag.ingest.files import load_document
from rag.ingest.sentences import sentences
from rag.settings import DEFAULT_CORPUS
from rag.types import Chunk, Document

REPORT = DEFAULT_CORPUS / "tip-2007-north-korea.txt"
COUNTRIES = (
    "North Korea",
    "Burma",
    "Cuba",
    "Iran",
    "Syria",
    "Sudan",
    "Venezuela",
    "Kuwait",
    "Qatar",
    "Saudi Arabia",
)


def report_sentences(path: Path = REPORT) -> list[str]:
    """The body sentences of a report (its indexed spans after the header paragraph), in order."""
    doc = load_document(path)
    found: list[str] = []
    for start, end in doc.spans:
        found.extend(doc.text[s:e] for s, e in sentences(doc.text, start, end))
    # Header lines (title, publisher, author) carry no full stop; body sentences do.
    return [s for s in found if s.rstrip().endswith(".")]


def synthetic_report(number: int, pool: Sequence[str], seed: int = 0) -> str:
    """A report-shaped text: header lines, a country heading, paragraphs of shuffled sentences.

    The same (number, pool, seed) always gives the same text.
    """
    rng = random.Random(f"{seed}:{number}")
    country = COUNTRIES[number % len(COUNTRIES)]
    body = list(pool)
    rng.shuffle(body)
    paragraphs = []
    while body:
        take = rng.randint(2, 5)
        paragraphs.append(" ".join(body[:take]))
        body = body[take:]
    header = (
        f"Synthetic Report {number:05d} - {country}\n\n"
        "Publisher United States Department of State\n"
        f"Publication Date {1 + number % 28} June {2000 + number % 20}\n\n"
        f"{country} (Tier {1 + number % 3})\n\n"
    )
    return header + "\n\n".join(paragraphs) + "\n"


def write_reports(folder: Path, count: int, pool: Sequence[str], seed: int = 0) -> list[Path]:
    """Write `count` synthetic reports as report-NNNNN.txt files into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"report-{number:05d}.txt"
        path.write_text(synthetic_report(number, pool, seed), encoding="utf-8")
        paths.append(path)
    return paths


@dataclass(frozen=True)
class MemoryCorpus:
    """Documents and chunks built in memory; `members[i]` are the pool sentences of chunk i."""

    documents: dict[str, Document]
    chunks: tuple[Chunk, ...]
    members: tuple[tuple[int, ...], ...]


def memory_corpus(n_chunks: int, pool: Sequence[str], seed: int = 0, per_doc: int = 20) -> MemoryCorpus:
    """`n_chunks` chunks of 2-4 pool sentences each, `per_doc` to a document, offsets exact."""
    rng = random.Random(seed)
    documents: dict[str, Document] = {}
    chunks: list[Chunk] = []
    members: list[tuple[int, ...]] = []
    for number in range((n_chunks + per_doc - 1) // per_doc):
        doc_id = f"synthetic-{number:07d}"
        country = COUNTRIES[number % len(COUNTRIES)]
        title = f"Synthetic Report {number:07d} - {country}"
        picks = [
            tuple(rng.sample(range(len(pool)), rng.randint(2, 4))) for _ in range(min(per_doc, n_chunks - len(chunks)))
        ]
        texts = [" ".join(pool[i] for i in pick) for pick in picks]
        text = "\n\n".join(texts)
        spans, cursor = [], 0
        for t in texts:
            spans.append((cursor, cursor + len(t)))
            cursor += len(t) + 2
        documents[doc_id] = Document(doc_id, text, tuple(spans), title, country=country)
        for paragraph, ((start, end), t, pick) in enumerate(zip(spans, texts, picks, strict=True), start=1):
            chunks.append(Chunk(chunk_id(doc_id, start, end, t), doc_id, t, start, end, paragraph, title))
            members.append(pick)
    return MemoryCorpus(documents, tuple(chunks), tuple(members))


def synthetic_vectors(
    members: Sequence[Sequence[int]], sentence_vectors: np.ndarray, noise: float = 0.5, seed: int = 0
) -> np.ndarray:
    """Unit vectors for chunks: the mean of their sentences' real embeddings plus Gaussian noise.

    `noise` is the expected norm of the noise relative to a unit vector.
    """
    rng = np.random.default_rng(seed)
    n, dim = len(members), sentence_vectors.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    block = 100_000
    for lo in range(0, n, block):
        part = members[lo : lo + block]
        mean = np.stack([sentence_vectors[list(m)].mean(axis=0) for m in part])
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        mean += rng.normal(scale=noise / np.sqrt(dim), size=mean.shape).astype(np.float32)
        out[lo : lo + len(part)] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    return out
