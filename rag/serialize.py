"""Values -> the JSON objects of the public contract (CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from rag.types import Answer, Citation, Hit


def hit_json(hit: Hit) -> dict[str, Any]:
    """A passage object."""
    c = hit.chunk
    return {
        "rank": hit.rank,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "title": c.title,
        "text": c.text,
        "start": c.start,
        "end": c.end,
        "paragraph": c.paragraph,
        "score": round(hit.score, 6),
    }


def citation_json(citation: Citation) -> dict[str, Any]:
    """A citation object: the passage it resolves to and the exact supporting span."""
    c = citation.chunk
    return {
        "n": citation.n,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "title": c.title,
        "text": c.text,
        "start": c.start,
        "end": c.end,
        "paragraph": c.paragraph,
        "quote": citation.quote,
        "quote_start": citation.quote_start,
        "quote_end": citation.quote_end,
        "supported": citation.supported,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """The answer object of `rag ask --json`, `POST /api/ask` and predictions.jsonl."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [citation_json(c) for c in answer.citations],
        "passages": [hit_json(h) for h in answer.hits],
        "timings": dict(answer.timings),
        "abstain_reason": answer.abstain_reason,
        "draft": answer.draft,
    }
