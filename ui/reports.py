"""The report routes: list, add (multipart upload), follow a job, remove; and who may add or remove.

Adding and removing reports is allowed without a token only when the server is bound to a loopback
address, and then only from the server's own pages or from clients that send no Origin (scripts, the
command line): a page elsewhere cannot post a file to a server on the reader's own machine. On any
other address it takes `Authorization: Bearer $RAG_ADMIN_TOKEN`; with no token set, nobody may.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rag.ingest.uploads import Job, UploadRefused
from rag.settings import Settings
from rag.types import Document

# Room for the multipart framing and the metadata field around the file itself.
_FORM_OVERHEAD = 64_000


class Reports(Protocol):
    """What the web app needs of the report library (app.library.ReportLibrary)."""

    def reports(self) -> list[dict[str, Any]]: ...

    def add(self, filename: str, data: bytes, metadata: str | bytes | None = None) -> Job: ...

    def job(self, job_id: str) -> Job | None: ...

    def remove(self, doc_id: str) -> Document: ...


def is_loopback(host: str) -> bool:
    """Whether a bind address only takes connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_refusal(settings: Settings, headers: Mapping[str, str], own_host: str = "") -> str | None:
    """Why this request may not add or remove reports, or None if it may.

    `headers` are the request's (lower-case names); `own_host` is the Host it was sent to, so that the
    chat page's own requests on a loopback server are told from a page elsewhere.
    """
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    given = headers.get("authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return None
    if is_loopback(settings.host):
        origin = headers.get("origin", "")
        if origin and origin.split("://", 1)[-1].rstrip("/") != own_host:
            return f"reports can be added or removed only from this server's own pages, not from {origin}"
        return None
    if not token:
        return (
            f"adding and removing reports is turned off on a server bound to {settings.host}: "
            "set RAG_ADMIN_TOKEN and send it as Authorization: Bearer <token>"
        )
    return "adding or removing reports here needs the header Authorization: Bearer <RAG_ADMIN_TOKEN>"


def add_report_routes(app: FastAPI, library: Reports | None, settings: Settings, documents: Any) -> None:
    """GET/POST /api/reports, GET /api/reports/jobs/{job}, DELETE /api/reports/{doc_id}.

    `documents()` lists the served reports when there is no library (a read-only server).
    """

    def refused(request: Request) -> JSONResponse | None:
        if library is None:
            return JSONResponse({"error": "this server does not add or remove reports"}, 403)
        why = admin_refusal(settings, request.headers, request.headers.get("host", ""))
        return JSONResponse({"error": why}, 403) if why else None

    @app.get("/api/reports")
    def reports() -> dict[str, Any]:
        if library is not None:
            return {"reports": library.reports()}
        return {"reports": [{"doc_id": d.doc_id, "title": d.title, "status": "indexed"} for d in documents()]}

    @app.post("/api/reports")
    async def add(request: Request) -> JSONResponse:
        denied = refused(request)
        if denied is not None:
            return denied
        assert library is not None
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
            return JSONResponse({"error": f"the file is over the limit of {limit:,} bytes (RAG_MAX_UPLOAD_BYTES)"}, 413)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return JSONResponse({"error": 'send the report as multipart/form-data with the field "file"'}, 400)
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=limit + 1)
        except Exception as err:  # starlette reports a malformed or oversize form with several types
            status = 413 if "exceeded" in str(err).lower() else 400
            return JSONResponse({"error": f"the upload could not be read ({err})"}, status)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse({"error": 'the form has no file in the field "file"'}, 400)
            data = await upload.read(limit + 1)
            metadata = form.get("metadata")
            meta = metadata if isinstance(metadata, str) else None
            job = await run_in_threadpool(library.add, upload.filename or "", data, meta)
        except UploadRefused as err:
            return JSONResponse({"error": str(err)}, err.status)
        finally:
            await form.close()
        return JSONResponse({"job": job.job, "status": job.status.value, "doc_id": job.doc_id}, 202)

    @app.get("/api/reports/jobs/{job_id}")
    def job(job_id: str) -> JSONResponse:
        found = library.job(job_id) if library is not None else None
        if found is None:
            return JSONResponse({"error": f"no job {job_id!r}"}, 404)
        return JSONResponse(found.to_json())

    @app.delete("/api/reports/{doc_id}")
    async def remove(doc_id: str, request: Request) -> JSONResponse:
        denied = refused(request)
        if denied is not None:
            return denied
        assert library is not None
        try:
            await run_in_threadpool(library.remove, doc_id)
        except KeyError:
            return JSONResponse({"error": f"no report {doc_id!r}"}, 404)
        except UploadRefused as err:
            return JSONResponse({"error": str(err)}, err.status)
        return JSONResponse({"removed": doc_id})
