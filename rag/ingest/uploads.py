"""Reports people add through the chat: what is checked before anything is written, and near-duplicates.

`check_upload` looks at a file's name, size and first bytes; `check_metadata` at the JSON a client
sends with it. `near_duplicate` compares a report's words with the indexed reports', so the same
report as HTML and as PDF is not indexed twice. Jobs are the states an upload goes through.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rag.ingest.files import FILE_TYPES
from rag.types import METADATA_FIELDS, Document

# Limits on an upload's name and metadata (characters, bytes); chosen by hand.
MAX_NAME_CHARS = 120
MAX_METADATA_BYTES = 10_000
METADATA_KEY_CHARS = 40
METADATA_VALUE_CHARS = 500
# An upload's type is checked on its first this many bytes; chosen by hand.
SNIFF_BYTES = 8192
# Word 5-grams shared by two reports, as a share of the smaller report's: the same text read from
# HTML and from PDF shares nearly all (headers, hyphenation and page furniture differ); two reports
# of the same series share their stock phrases, well under half. `python -m bench.near_duplicates`:
# 0.989-1.000 for each shipped report against its own PDF and HTML, at most 0.172 between two reports.
SHINGLE_WORDS = 5
NEAR_DUPLICATE = 0.8
# An upload's progress (0..1) is reported to three decimals; chosen for reading.
PROGRESS_DECIMALS = 3


class UploadRefused(ValueError):
    """An upload that is not accepted; `status` is the HTTP status that says why (400, 409, 413, 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class JobStatus(StrEnum):
    QUEUED = "queued"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    """One upload's way into the index: its state, how far it got (0..1) and in which step."""

    job: str
    filename: str
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    step: str = "waiting for the indexer"
    doc_id: str | None = None
    title: str = ""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job": self.job,
            "status": self.status.value,
            "progress": round(self.progress, PROGRESS_DECIMALS),
            "step": self.step,
            "filename": self.filename,
        }
        if self.doc_id:
            data["doc_id"] = self.doc_id
        if self.title:
            data["title"] = self.title
        if self.error:
            data["error"] = self.error
        return data


def safe_name(name: str) -> str:
    """The file name to store an upload under: no folders, no control characters, bounded length.

    >>> safe_name("../../etc/Report 2007.PDF")
    'Report 2007.PDF'
    >>> safe_name("a\\x00b.txt")
    Traceback (most recent call last):
    ...
    rag.ingest.uploads.UploadRefused: the file name has control characters; rename the file and add it again
    """
    base = re.split(r"[\\/]", name or "")[-1].strip()
    if any(unicodedata.category(ch).startswith("C") for ch in base):
        raise UploadRefused("the file name has control characters; rename the file and add it again")
    if not base or base.startswith(".") or not Path(base).stem:
        raise UploadRefused(f"{name!r} is not a usable file name; name the file like report.pdf")
    if len(base) > MAX_NAME_CHARS:
        stem, suffix = Path(base).stem, Path(base).suffix
        base = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return base


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """The safe file name if `data` may be added as a report; UploadRefused (413, 415, 400) if not."""
    base = safe_name(name)
    suffix = Path(base).suffix.lower()
    if suffix not in FILE_TYPES:
        allowed = ", ".join(FILE_TYPES)
        raise UploadRefused(f"{base} is a {suffix or 'file without a type'}; reports can be {allowed}", 415)
    if len(data) > max_bytes:
        limit = f"the limit of {max_bytes:,} bytes (RAG_MAX_UPLOAD_BYTES)"
        raise UploadRefused(f"{base} is {len(data):,} bytes, over {limit}", 413)
    if not data.strip():
        raise UploadRefused(f"{base} is empty")
    head = data[:SNIFF_BYTES]
    if suffix == ".pdf":
        if not head.lstrip()[:5] == b"%PDF-":
            raise UploadRefused(f"{base} is named .pdf but is not a PDF (it does not start with %PDF-)", 415)
    elif b"\x00" in head or head.startswith(b"%PDF-"):
        raise UploadRefused(f"{base} is named {suffix} but holds binary data; add text, HTML or PDF", 415)
    return base


def check_metadata(raw: str | bytes | None) -> dict[str, str]:
    """The metadata sent with an upload (a JSON object of strings), or UploadRefused saying what is wrong."""
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise UploadRefused(f"metadata is over {MAX_METADATA_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise UploadRefused(f"metadata is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise UploadRefused('metadata must be a JSON object, e.g. {"title": "...", "country": "..."}')
    meta: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise UploadRefused(f"metadata field {key!r} must be a string, not {type(value).__name__}")
        text = str(value).strip()
        if len(key) > METADATA_KEY_CHARS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_ -]*", key):
            raise UploadRefused(f"metadata field name {key!r} must be a short word such as {METADATA_FIELDS[0]!r}")
        if text:
            meta[key.lower()] = text[:METADATA_VALUE_CHARS]
    return meta


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[int]:
    """Hashes of the text's overlapping runs of `size` words (case and punctuation ignored)."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
    if len(words) < size:
        return {hash(tuple(words))} if words else set()
    return {hash(tuple(words[i : i + size])) for i in range(len(words) - size + 1)}


def indexed_text(doc: Document) -> str:
    """The parts of a document that are indexed (its spans), joined."""
    return "\n".join(doc.text[s:e] for s, e in doc.spans)


def near_duplicate_share(a: set[int], b: set[int]) -> float:
    """The share of the smaller set that the larger one also holds (0 for an empty set)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def near_duplicate(doc: Document, others: Iterable[Document], threshold: float = NEAR_DUPLICATE) -> Document | None:
    """The indexed report that holds the same text as `doc` (in any format), if there is one."""
    mine = shingles(indexed_text(doc))
    best, best_score = None, threshold
    for other in others:
        score = near_duplicate_share(mine, shingles(indexed_text(other)))
        if score >= best_score:
            best, best_score = other, score
    return best
