"""Values -> the JSON objects of the public contract (README, "JSON API")."""

from __future__ import annotations

from typing import Any

from rag.types import Answer, Chunk, Citation, Hit

# The fields of a passage object, in the order the JSON gives them.
# `page` is 1-based, 0 for a document without pages; `paragraph` then counts within the page.
PASSAGE_FIELDS = ("chunk_id", "doc_id", "title", "text", "start", "end", "paragraph", "page")


def _passage(c: Chunk) -> dict[str, Any]:
    return {name: getattr(c, name) for name in PASSAGE_FIELDS}


def hit_json(hit: Hit) -> dict[str, Any]:
    """A passage object."""
    return {"rank": hit.rank, **_passage(hit.chunk), "score": round(hit.score, 6)}


def citation_json(citation: Citation) -> dict[str, Any]:
    """A citation object: the passage it resolves to and the exact supporting span."""
    return {
        "n": citation.n,
        **_passage(citation.chunk),
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
        "abstain_reason": abstain_text(answer),
        "draft": answer.draft,
        "signals": dict(answer.signals),
    }


def abstain_text(answer: Answer) -> str:
    """The abstain reason as the answer JSON gives it: 'no passage mentions 2008', or '' for an answer."""
    if answer.abstain_reason is None:
        return ""
    return f"{answer.abstain_reason.value} {answer.abstain_detail}".strip()
