"""The chat's "Add a report" panel: upload with progress, metadata, removal; and the report picker's choices.

The panel is built inside the chat's Blocks, hidden: the page's load event shows it except in the widget
(`?embed=1`), so a widget whose load event never arrives offers no upload either. Every action is checked
again on the server (`ui.reports.admin_refusal`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from rag.ingest.files import FILE_TYPES
from rag.ingest.uploads import Job, JobStatus, UploadRefused
from rag.settings import Settings
from rag.types import METADATA_FIELDS, Document
from ui.render import as_sentence
from ui.reports import Reports, admin_refusal, is_loopback

POLL_S = 0.4
# The metadata fields the panel asks for, with their labels; the rest (and more) can be sent as JSON
# through POST /api/reports.
META_LABELS = {"title": "Title", "publisher": "Publisher", "date": "Date", "country": "Country"}
META_FIELDS = tuple(key for key in METADATA_FIELDS if key in META_LABELS)


def report_choices(documents: list[Document]) -> list[tuple[str, str]]:
    """The picker's choices: each report's title (with its country or date when titles repeat) and id."""
    titles = [d.title for d in documents]
    choices = []
    for d in documents:
        label = d.title
        if titles.count(d.title) > 1:
            label += f" ({d.country or d.date or d.doc_id})"
        choices.append((label, d.doc_id))
    return choices


def status_html(text: str, progress: float | None = None, kind: str = "info") -> str:
    """A status line for screen readers (role=status) with an optional progress bar."""
    bar = ""
    if progress is not None:
        percent = round(100 * progress)
        bar = f'<progress max="100" value="{percent}" aria-label="Indexing progress">{percent}%</progress> '
    return f'<div class="rr-status rr-status-{kind}" role="status" aria-live="polite">{bar}{escape(text)}</div>'


def job_html(job: Job) -> str:
    if job.status is JobStatus.FAILED:
        return status_html(f"{job.filename} was not added: {job.error}", kind="error")
    if job.status is JobStatus.DONE:
        return status_html(f"Added {job.title or job.filename}. It is listed under “Ask which reports”.", kind="ok")
    if job.status is JobStatus.QUEUED:
        return status_html(f"{job.filename}: waiting for the indexer", job.progress)
    return status_html(f"{job.filename}: {job.step} ({round(100 * job.progress)}%)", job.progress)


def build_report_panel(
    library: Reports,
    settings: Settings,
    picker: Any,
    documents: Callable[[], list[Document]],
    header: tuple[Any, Callable[[list[Document]], str]] | None = None,
) -> Any:
    """The "Add a report" accordion, hidden until the page's load event shows it (not in the widget)."""
    with gr.Accordion("Add or remove a report", open=False, elem_id="rr-add", visible=False) as panel:
        upload = gr.File(
            label=f"Report file ({', '.join(FILE_TYPES)}; up to {settings.server.max_upload_bytes // 1_000_000} MB)",
            file_types=list(FILE_TYPES),
            file_count="single",
            type="filepath",
            elem_id="rr-upload",
        )
        with gr.Row():
            fields = [
                gr.Textbox(label=f"{META_LABELS[key]} (optional)", max_lines=1, elem_id=f"rr-meta-{key}")
                for key in META_FIELDS
            ]
        token = gr.Textbox(
            label="Admin token",
            type="password",
            max_lines=1,
            visible=not is_loopback(settings.server.host),
            elem_id="rr-token",
        )
        add = gr.Button("Add report", variant="primary", elem_id="rr-add-report")
        status = gr.HTML(status_html(""), elem_id="rr-upload-status")
        with gr.Row():
            removable = gr.Dropdown(
                report_choices(documents()), label="Remove a report", value=None, elem_id="rr-remove-pick"
            )
            remove = gr.Button("Remove", variant="stop", elem_id="rr-remove", scale=0, min_width=90)

    def refreshed(selected: list[str] | None) -> tuple[Any, Any]:
        choices = report_choices(documents())
        keep = [d for d in selected or [] if d in {value for _label, value in choices}]
        return gr.update(choices=choices, value=keep), gr.update(choices=choices, value=None)

    def refusal(request: gr.Request, typed_token: str) -> str | None:
        headers = {k.lower(): v for k, v in dict(request.headers).items()} if request else {}
        if typed_token:
            headers["authorization"] = f"Bearer {typed_token.strip()}"
        return admin_refusal(settings, headers, headers.get("host", ""))

    def add_report(
        path: str | None,
        title: str,
        publisher: str,
        date: str,
        country: str,
        typed_token: str,
        selected: list[str] | None,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        values = (title, publisher, date, country)
        skip = (gr.skip(),) * (3 + len(fields))
        why = refusal(request, typed_token)
        if why:
            yield status_html(as_sentence(why), kind="error"), *skip
            return
        if not path:
            yield status_html("Choose a file to add first.", kind="error"), *skip
            return
        meta = {key: v.strip() for key, v in zip(META_FIELDS, values, strict=True) if v and v.strip()}
        file = Path(path)
        try:
            with file.open("rb") as f:
                data = f.read(settings.server.max_upload_bytes + 1)
            job = library.add(file.name, data, json.dumps(meta) if meta else None)
        except UploadRefused as err:
            yield status_html(as_sentence(str(err)), kind="error"), *skip
            return
        except OSError as err:
            yield status_html(f"The upload could not be read ({err.strerror or err}).", kind="error"), *skip
            return
        while job.status in (JobStatus.QUEUED, JobStatus.INDEXING):
            yield job_html(job), *skip
            time.sleep(POLL_S)
            job = library.job(job.job) or job
        picked, remove_choices = refreshed(selected)
        if job.status is JobStatus.DONE and job.doc_id:
            # The new report joins the reports chosen; with none chosen (all of them) it is chosen alone.
            chosen = [*(picked["value"] or []), job.doc_id]
            picked = gr.update(choices=report_choices(documents()), value=chosen)
        # Once a report is added its title and the rest are cleared: the next file must not take them on.
        field_value = "" if job.status is JobStatus.DONE else gr.skip()
        yield job_html(job), picked, remove_choices, None, *[field_value] * len(fields)

    def remove_report(doc_id: str | None, typed_token: str, selected: list[str] | None, request: gr.Request):
        why = refusal(request, typed_token)
        if why:
            return status_html(as_sentence(why), kind="error"), gr.skip(), gr.skip()
        if not doc_id:
            return status_html("Choose the report to remove.", kind="error"), gr.skip(), gr.skip()
        try:
            removed = library.remove(doc_id)
        except KeyError:
            message = status_html("That report is no longer indexed.", kind="error")
        except UploadRefused as err:
            message = status_html(as_sentence(str(err)), kind="error")
        else:
            message = status_html(f"Removed {removed.title}.", kind="ok")
        return message, *refreshed(selected)

    common: Mapping[str, Any] = {"api_visibility": "private", "concurrency_id": "reports", "concurrency_limit": 2}
    added = add.click(
        add_report, [upload, *fields, token, picker], [status, picker, removable, upload, *fields], **common
    )
    removed = remove.click(remove_report, [removable, token, picker], [status, picker, removable], **common)
    if header is not None:
        # The page header lists the reports with their metadata: redrawn once a report came or went.
        component, draw = header
        for event in (added, removed):
            event.then(lambda: draw(documents()), None, component, api_visibility="private")
    return panel
