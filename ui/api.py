"""The JSON API, the health route, the embed scripts and the cross-origin policy."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rag.answer import QuestionError, check_question
from rag.serialize import answer_json
from rag.settings import Settings
from ui.service import AnswerService

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1_000_000
MAX_HISTORY_TURNS = 50
ROLES = ("user", "assistant")


class RequestError(ValueError):
    """A request that cannot be answered as it is; `status` is the HTTP status to reply with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AskRequest:
    question: str
    history: tuple[dict[str, str], ...] = ()
    filters: Mapping[str, str] | None = None


def _control_characters(text: str) -> bool:
    """True when `text` holds control characters other than tab and newlines."""
    return any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)


def validate_ask(data: Any, max_chars: int) -> AskRequest:
    """An AskRequest from decoded JSON, or RequestError saying what is wrong."""
    if not isinstance(data, dict):
        raise RequestError('the body must be a JSON object: {"question": "...", "history": [...]}')
    unknown = set(data) - {"question", "history", "filters"}
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}; expected question, history, filters")
    question = data.get("question")
    if not isinstance(question, str):
        raise RequestError('"question" must be a string')
    if _control_characters(question):
        raise RequestError('"question" contains control characters; send plain text')
    try:
        question = check_question(question, max_chars)
    except QuestionError as err:
        raise RequestError(str(err)) from err
    history = data.get("history") or []
    if not isinstance(history, list) or len(history) > MAX_HISTORY_TURNS:
        raise RequestError(f'"history" must be a list of at most {MAX_HISTORY_TURNS} turns')
    turns = []
    for turn in history:
        if not (
            isinstance(turn, dict)
            and turn.get("role") in ROLES
            and isinstance(turn.get("content"), str)
            and len(turn["content"]) <= 10 * max_chars
        ):
            raise RequestError(
                '"history" turns must be {"role": "user" or "assistant", "content": "<text>"} '
                f"with at most {10 * max_chars} characters"
            )
        turns.append({"role": turn["role"], "content": turn["content"]})
    filters = data.get("filters")
    if filters is not None and not (
        isinstance(filters, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in filters.items())
    ):
        raise RequestError('"filters" must be an object of metadata fields to values, e.g. {"doc_id": "..."}')
    return AskRequest(question, tuple(turns), filters or None)


def parse_ask_body(raw: bytes, max_chars: int) -> AskRequest:
    """An AskRequest from a raw request body (UTF-8 JSON), or RequestError."""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(f"the body is not valid UTF-8 (byte {err.start})", 400) from err
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RequestError(f"the body is not valid JSON ({err})", 400) from err
    return validate_ask(data, max_chars)


def origin_regex(patterns: tuple[str, ...]) -> str:
    """One regular expression matching the allowed origins; `:*` stands for any port.

    >>> bool(re.fullmatch(origin_regex(("http://localhost:*",)), "http://localhost:8000"))
    True
    >>> bool(re.fullmatch(origin_regex(("https://a.org",)), "https://a.org.evil.com"))
    False
    """
    if "*" in patterns:
        return ".*"
    alternatives = []
    for p in patterns:
        if p.endswith(":*"):
            alternatives.append(re.escape(p[:-2]) + r"(?::\d+)?")
        else:
            alternatives.append(re.escape(p))
    return "|".join(f"(?:{a})" for a in alternatives) or "(?!)"


def frame_ancestors(patterns: tuple[str, ...]) -> str:
    """The Content-Security-Policy that lets the allowed origins frame the chat."""
    if "*" in patterns:
        return "frame-ancestors *"
    return " ".join(["frame-ancestors 'self'", *patterns])


def add_routes(app: FastAPI, service: AnswerService, settings: Settings) -> None:
    """/api/ask, /healthz, /widget.js, /gradio.js, JSON errors, CORS and framing by the allow-list."""

    @app.post("/api/ask")
    async def ask(request: Request) -> JSONResponse:
        try:
            req = parse_ask_body(await request.body(), settings.max_question_chars)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)
        answer = await run_in_threadpool(service.answer, req.question, list(req.history), req.filters)
        return JSONResponse(answer_json(answer))

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        retriever = service.pipeline.retriever
        return {
            "status": "ok",
            "documents": len(retriever.index.documents),
            "chunks": len(retriever.index.chunks),
            "embedder": retriever.embedder.name,
            "generator": type(service.pipeline.generator).__name__,
            "reports": [{"doc_id": d.doc_id, "title": d.title} for d in service.documents],
        }

    @app.get("/widget.js")
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/gradio.js")
    def gradio_js() -> FileResponse:
        # The <gradio-app> web component, served here because the usual CDN copy is out of reach offline.
        import gradio

        path = Path(gradio.__file__).parent / "templates" / "frontend" / "gradio.js"
        return FileResponse(path, media_type="text/javascript")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request: " + "; ".join(e["msg"] for e in err.errors())}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, err.status_code, headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def failure(_request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(err).__name__}); see the server log"}, 500)

    csp = frame_ancestors(settings.allowed_origins)

    @app.middleware("http")
    async def framing(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp
        return response

    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=origin_regex(settings.allowed_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
    )
