"""The web app on the shared store: a newer build noticed on requests, and a clear 503 while the database is down.

Answers and searches need PostgreSQL (dense search runs there): while it is unreachable they get HTTP 503
with `{"error": ...}`, as do job look-ups and uploads; the report list, the health route and the pages are
served from memory and keep working. Nothing has to be restarted: the next request opens new connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rag.index.postgres import BuildGone
from rag.pg import StoreUnavailable
from ui.api import STORE_DOWN

log = logging.getLogger(__name__)

REPLACED = "the reports changed while this request was served; ask again"
# Seconds a client is told to wait before trying again while the database is down; chosen by hand.
RETRY_AFTER_S = 5


def add_shared_store_handlers(
    app: FastAPI, due: Callable[[], bool], poll: Callable[[], None], reload: Callable[[], None]
) -> None:
    """Poll for newer builds on requests (when `due()`); answer database failures with 503 {"error"}."""
    import psycopg

    @app.middleware("http")
    async def newest_build(request: Request, call_next: Any) -> Any:
        if due():
            try:
                await run_in_threadpool(poll)
            except Exception as err:  # the store is down: this request finds out on its own, if it needs it
                log.warning("could not ask the shared store for a newer build: %s", err)
        return await call_next(request)

    async def unreachable(_request: Request, err: Exception) -> JSONResponse:
        log.error("the shared store failed a request: %s", err)
        return JSONResponse({"error": STORE_DOWN}, 503, headers={"Retry-After": str(RETRY_AFTER_S)})

    async def gone(_request: Request, err: Exception) -> JSONResponse:
        log.warning("%s: reading the current build", err)
        try:
            await run_in_threadpool(reload)
        except Exception as again:  # the store went down meanwhile: the next request's poll tries again
            log.error("could not read the shared store's current build: %s", again)
        return JSONResponse({"error": REPLACED}, 503, headers={"Retry-After": "1"})

    app.add_exception_handler(BuildGone, gone)
    for kind in (StoreUnavailable, psycopg.OperationalError, psycopg.InterfaceError):
        app.add_exception_handler(kind, unreachable)
