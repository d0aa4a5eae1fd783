"""`POST /api/feedback`: a reader's verdict on an answer, kept in the feedback store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rag.feedback import Feedback, FeedbackError, Rating, Verdicts, utc_now
from rag.schema import FeedbackRequest, QuestionError, Turn, parse
from ui.api import RequestError, decode_body

log = logging.getLogger(__name__)
UNAVAILABLE = "the feedback could not be saved: the server's feedback database is unavailable; try again later"


def validate_feedback(data: Any, max_chars: int) -> FeedbackRequest:
    """A FeedbackRequest from decoded JSON, or RequestError (422) naming the field and what it may be."""
    try:
        return parse(FeedbackRequest, data, max_chars)
    except QuestionError as err:
        raise RequestError(str(err)) from err


def feedback_record(
    *,
    question: str,
    answer: Mapping[str, Any],
    rating: Rating,
    history: Iterable[Turn],
    provenance: Mapping[str, str],
    created: str,
    note: str = "",
) -> Feedback:
    """The record the store keeps for a reader's verdict, given in the chat or through the API."""
    return Feedback(
        question=question,
        answer=answer,
        rating=rating,
        history=tuple({"role": t.role, "content": t.content} for t in history),
        note=note,
        provenance=dict(provenance),
        created=created,
    )


def add_feedback_routes(
    app: FastAPI,
    store: Verdicts,
    provenance: Callable[[], Mapping[str, str]],
    max_question_chars: int,
    clock: Callable[[], str] = utc_now,
) -> None:
    """POST /api/feedback -> 201 {"id"}; 400/413/422 {"error"} on a bad body; 503 {"error"} if it cannot be kept.

    `provenance` is called per verdict, so a verdict names the index build and models that made the answer.
    """

    @app.post("/api/feedback")
    async def feedback(request: Request) -> JSONResponse:
        try:
            req = validate_feedback(decode_body(await request.body()), max_question_chars)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)
        record = feedback_record(
            question=req.question,
            answer=req.answer,
            rating=req.rating,
            history=req.history,
            provenance=provenance(),
            created=clock(),
            note=req.note,
        )
        try:
            new_id = await run_in_threadpool(store.add, record)
        except FeedbackError as err:
            # The cause names a server path: it goes to the log, the client gets the plain fact.
            log.error("feedback not saved: %s", err)
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        return JSONResponse({"id": new_id}, status_code=201)
