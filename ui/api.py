"""The JSON API, the health route, the embed scripts, the per-client rate limit and the cross-origin policy."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.schema import AskRequest, QuestionError, SearchRequest, parse
from rag.serialize import answer_json, hit_json
from rag.settings import Settings
from ui.service import AnswerService, Busy

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1_000_000
# What a reader is told while the shared store's database cannot be reached (RAG_DATABASE_URL).
STORE_DOWN = "the report library's database is unreachable; try again in a few seconds"


class RequestError(ValueError):
    """A request that cannot be answered as it is; `status` is the HTTP status to reply with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def validate_ask(data: Any, max_chars: int) -> AskRequest:
    """An AskRequest from decoded JSON, or RequestError (422) saying what is wrong."""
    try:
        return parse(AskRequest, data, max_chars)
    except QuestionError as err:
        raise RequestError(str(err)) from err


def validate_search(data: Any, max_chars: int) -> SearchRequest:
    """A SearchRequest from decoded JSON (`{"query": str, "k": int, "filters": {...}}`), or RequestError."""
    try:
        return parse(SearchRequest, data, max_chars)
    except QuestionError as err:
        raise RequestError(str(err)) from err


def decode_body(raw: bytes) -> Any:
    """The JSON value of a raw request body (UTF-8), or RequestError."""
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
    return data


def parse_ask_body(raw: bytes, max_chars: int) -> AskRequest:
    """An AskRequest from a raw request body (UTF-8 JSON), or RequestError."""
    return validate_ask(decode_body(raw), max_chars)


def busy_response(err: Busy) -> JSONResponse:
    """503 with Retry-After: the question had no turn; the client should ask again later."""
    headers = {"Retry-After": str(err.retry_after_s)}
    return JSONResponse({"error": str(err), "retry_after_s": err.retry_after_s}, 503, headers=headers)


class RateLimit:
    """ASGI middleware: each client address may make so many POST requests; further ones get 429.

    POSTs are what cost work here (questions and searches through /api/* and Gradio's queue, uploads);
    pages, scripts and health checks are GETs and stay unlimited. One count per address spans the JSON
    API and Gradio's routes, which a per-route decorator cannot reach inside the mounted Gradio app.
    """

    def __init__(self, app: ASGIApp, rate: str) -> None:
        self.app = app
        self.items: list[RateLimitItem] = parse_many(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            client = scope.get("client")
            key = client[0] if client else "unknown"
            refused = next((item for item in self.items if not self.limiter.test(item, key)), None)
            if refused is None:
                for item in self.items:
                    self.limiter.hit(item, key)
            else:
                reset_at, _remaining = self.limiter.get_window_stats(refused, key)
                retry = max(1, math.ceil(reset_at - time.time()))
                message = f"too many requests from this address (limit {refused}); retry in {retry} s"
                response = JSONResponse({"error": message, "retry_after_s": retry}, 429, {"Retry-After": str(retry)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
    """/api/ask, /api/search, /healthz, /widget.js, /gradio.js, JSON errors, rate limit, CORS and framing."""

    @app.post("/api/ask")
    async def ask(request: Request) -> JSONResponse:
        try:
            req = parse_ask_body(await request.body(), settings.answer.max_question_chars)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)
        try:
            answer = await run_in_threadpool(service.answer, req.question, req.history, req.filters)
        except Busy as err:
            return busy_response(err)
        return JSONResponse(answer_json(answer))

    @app.post("/api/search")
    async def search(request: Request) -> JSONResponse:
        # Retrieval only: it never waits for the generation queue.
        try:
            data = decode_body(await request.body())
            req = validate_search(data, settings.answer.max_question_chars)
        except RequestError as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)
        hits = await run_in_threadpool(service.search, req.query, req.k or settings.answer.top_k, req.filters)
        return JSONResponse({"query": req.query, "hits": [hit_json(h) for h in hits]})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        # async: answered on the event loop, so it needs no worker thread while questions hold them.
        return {
            "status": "ok",
            **service.describe(),
            "reports": [{"doc_id": d.doc_id, "title": d.title} for d in service.documents],
            "queue": {
                "answering": service.turns.running,
                "waiting": service.turns.waiting,
                "max_waiting": service.max_waiting,
                "timeout_s": service.wait_timeout_s,
            },
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

    csp = frame_ancestors(settings.server.allowed_origins)

    @app.middleware("http")
    async def framing(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp
        return response

    if settings.server.rate_limit:
        app.add_middleware(RateLimit, rate=settings.server.rate_limit)  # inside CORS, so a 429 is readable cross-origin
    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=origin_regex(settings.server.allowed_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
    )
