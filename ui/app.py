"""The web app: the Gradio chat mounted in FastAPI beside the JSON API and the widget script.

A question typed in the chat goes `respond` -> `AnswerService.stream` -> `rag.answer.pipeline.Pipeline.stream`;
the streamed text is shown as it comes, then replaced by the checked Answer with clickable `[n]`
markers, and the sources panel shows each cited passage with its quote highlighted. When the service
has no turn for a question (`Busy`: the line is full, or the turn would come or came too late) the chat
says so and puts the question back in the box; the `ask` endpoint raises the same message as an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr
from fastapi import FastAPI

from rag.feedback import FeedbackError, FeedbackStore, Rating, utc_now
from rag.schema import QuestionError, Turn, check_question
from rag.serialize import answer_json
from rag.settings import Settings
from rag.types import Answer, Document, Sources
from ui.api import STATIC, RequestError, add_routes, validate_ask, validate_search
from ui.feedback import add_feedback_routes, feedback_record
from ui.manage import build_report_panel, report_choices, status_html
from ui.render import (
    answer_markdown,
    as_sentence,
    export_markdown,
    header_html,
    passages_html,
    plain_markdown,
    reading_html,
    sources_html,
)
from ui.reports import Reports, add_report_routes, is_loopback
from ui.service import AnswerService, Busy

log = logging.getLogger(__name__)
Provenance = Callable[[], Mapping[str, str]]


@dataclass(frozen=True)
class Contributions:
    """What readers may bring: reports (`library`), and ratings of answers (`feedback`, each kept with
    `provenance()`: the index build and the models). Without them the chat only answers."""

    library: Reports | None = None
    feedback: FeedbackStore | None = None
    provenance: Provenance = dict


EXAMPLES = [
    "What work are prison camp inmates forced to do?",
    "Which European country ended its program for North Korean workers?",
    "Has North Korea ratified the 2000 UN TIP Protocol?",
]
# Searches run this many at a time in their own Gradio queue, never behind the answers' queue.
SEARCH_CONCURRENCY = 4
SEARCH_PROMPT = '<p class="rr-empty">Type a question to see the passages that answer it.</p>'


def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def chat_messages(answers: list[Answer]) -> list[dict[str, str]]:
    """The conversation as the chat shows it: questions as literal text, answers with linked markers."""
    messages = []
    for turn, answer in enumerate(answers):
        messages.append({"role": "user", "content": plain_markdown(answer.question)})
        messages.append({"role": "assistant", "content": answer_markdown(answer, turn)})
    return messages


def pipeline_history(answers: list[Answer]) -> list[Turn]:
    """The conversation as the pipeline reads it (plain text)."""
    history = []
    for answer in answers:
        history.append(Turn(role="user", content=answer.question))
        history.append(Turn(role="assistant", content=answer.text))
    return history


def page_header(documents: list[Document]) -> str:
    return '<div class="rr-brand"><span class="rr-logo">❝</span> Ask the report</div>' + header_html(documents)


def report_filters(picked: list[str] | str | None) -> dict[str, tuple[str, ...]] | None:
    """The picker's choice as retrieval filters: none picked means every report."""
    ids = [picked] if isinstance(picked, str) else list(picked or [])
    return {"doc_id": tuple(ids)} if ids else None


def build_blocks(service: AnswerService, settings: Settings, contributions: Contributions = Contributions()) -> Any:
    """The chat page; also registers the `ask` and `search` API endpoints."""
    documents = service.documents
    library, feedback, provenance = contributions.library, contributions.feedback, contributions.provenance

    def respond(message: str, answers: list[Answer], report: list[str] | None) -> Iterator[tuple[Any, ...]]:
        try:
            question = check_question(message or "", settings.max_question_chars)
        except QuestionError as err:
            gr.Warning(str(err).capitalize() + ".")
            yield gr.skip(), gr.skip(), gr.skip(), message, gr.skip(), gr.skip()
            return
        filters = report_filters(report)
        shown = [*chat_messages(answers), {"role": "user", "content": plain_markdown(question)}]
        yield [*shown, {"role": "assistant", "content": "…"}], gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
        streamed = ""
        final: Answer | None = None
        try:
            for event in service.stream(question, pipeline_history(answers), filters):
                if isinstance(event, Answer):
                    final = event
                elif isinstance(event, Sources):
                    # The passages come first, before the answer is decided.
                    reading = [*shown, {"role": "assistant", "content": "Reading the passages…"}]
                    yield reading, gr.skip(), reading_html(question, event), *[gr.skip()] * 3
                else:
                    streamed += event
                    yield [*shown, {"role": "assistant", "content": plain_markdown(streamed)}], *[gr.skip()] * 5
        except Busy as err:
            # Not added to the conversation: the question goes back in the box to be sent again.
            note = as_sentence(str(err))
            gr.Warning(note)
            busy_chat = [*shown, {"role": "assistant", "content": plain_markdown(note)}]
            yield busy_chat, gr.skip(), gr.skip(), message, gr.skip(), gr.skip()
            return
        assert final is not None
        answers = [*answers, final]
        yield (
            chat_messages(answers),
            answers,
            sources_html(answers),
            "",
            export_markdown(final),
            json.dumps(answer_json(final), ensure_ascii=False, indent=2),
        )

    def clear() -> tuple[Any, ...]:
        return [], [], sources_html([]), "", "", ""

    def ask(question: str, history: list[dict[str, str]] | None = None, filters: dict[str, Any] | None = None) -> dict:
        """The answer JSON for a question (with the conversation so far and optional metadata filters)."""
        try:
            body = {"question": question, "history": history or [], "filters": filters}
            req = validate_ask(body, settings.max_question_chars)
        except RequestError as err:
            raise gr.Error(str(err)) from err
        try:
            return answer_json(service.answer(req.question, req.history, req.filters))
        except Busy as err:
            raise gr.Error(str(err), title="Busy", print_exception=False) from err

    def search(query: str) -> str:
        """Ranked passages for a query, as HTML."""
        if not (query or "").strip():
            return SEARCH_PROMPT
        try:
            req = validate_search({"query": query}, settings.max_question_chars)
        except RequestError as err:
            return f'<p class="rr-empty">{escape(as_sentence(str(err)))}</p>'
        return passages_html(service.search(req.query, settings.top_k))

    def pick_example(evt: gr.SelectData) -> str:
        return str(evt.value["text"])

    def on_load(request: gr.Request) -> tuple[Any, ...]:
        """The reports as they are now, the one a link asks for (`?report=ID`), no upload panel in the widget."""
        params = request.query_params if request else {}
        current = service.documents
        wanted = params.get("report", "")
        picked = [wanted] if wanted in {d.doc_id for d in current} else []
        embedded = params.get("embed", "") == "1"
        visible = len(current) > 1 or library is not None
        picker = gr.update(choices=report_choices(current), value=picked, visible=visible)
        if panel is None:
            return page_header(current), picker
        return page_header(current), picker, gr.update(visible=not embedded)

    def rate(answers: list[Answer], evt: gr.LikeData) -> tuple[Any, ...]:
        """A reader's helpful/wrong on an answer: kept at once; the note box then offers to add why."""
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        turn = int(index) // 2
        if feedback is None or evt.liked == "" or not 0 <= turn < len(answers):
            return gr.skip(), gr.skip(), gr.skip()
        rating = Rating.HELPFUL if evt.liked is True else Rating.WRONG
        answer = answers[turn]
        record = feedback_record(
            question=answer.question,
            answer=answer_json(answer),
            rating=rating,
            history=pipeline_history(answers[:turn]),
            provenance=provenance(),
            created=utc_now(),
        )
        try:
            new_id = feedback.add(record)
        except FeedbackError:
            log.exception("feedback could not be kept")
            failed = "The rating could not be saved; the server log says why."
            return gr.skip(), status_html(failed, kind="error"), gr.skip()
        thanks = f"Thank you: answer {turn + 1} rated “{rating.value}”. Add a note saying why (optional)."
        return new_id, status_html(thanks, kind="ok"), gr.update(visible=True)

    def send_note(feedback_id: int | None, note: str) -> tuple[Any, ...]:
        note = (note or "").strip()
        if feedback is None or not feedback_id:
            return status_html("Rate an answer first (the thumbs under it), then add a note.", kind="error"), gr.skip()
        if not note:
            return status_html("Type a note first.", kind="error"), gr.skip()
        try:
            feedback.annotate(feedback_id, note)
        except ValueError as err:  # the rating is gone, or the note is too long
            return status_html(f"The note could not be saved: {err}", kind="error"), gr.skip()
        except FeedbackError:
            log.exception("a feedback note could not be kept")
            return status_html("The note could not be saved; the server log says why.", kind="error"), gr.skip()
        return status_html("Note saved with your rating. Thank you.", kind="ok"), ""

    # Files sent to Gradio's upload route are deleted after an hour (checked hourly), added or not.
    with gr.Blocks(title="report-rag", fill_width=True, delete_cache=(3600, 3600)) as blocks:
        answers = gr.State([])
        feedback_id = gr.State(None)
        with gr.Row(elem_classes="rr-header"):
            header = gr.HTML(page_header(documents), elem_id="rr-header")
        report = gr.Dropdown(
            report_choices(documents),
            value=[],
            multiselect=True,
            label="Ask which reports (none chosen: all of them)",
            visible=len(documents) > 1 or library is not None,
            elem_id="rr-report",
        )
        with gr.Row(equal_height=False, elem_classes="rr-main"):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="rr-chat",
                    height=520,
                    buttons=["copy"],
                    feedback_options=("Like", "Dislike") if feedback is not None else None,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder="Ask a question about the report. Every answer cites the passages it rests on.",
                )
                with gr.Row(elem_classes="rr-ask-row"):
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about the report…",
                        elem_id="rr-question",
                        scale=8,
                        max_lines=6,
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", elem_id="rr-send", scale=1, min_width=70)
                clear_button = gr.Button("Clear chat", size="sm", elem_id="rr-clear", variant="secondary")
                if feedback is not None:
                    feedback_status = gr.HTML(status_html(""), elem_id="rr-feedback-status")
                    with gr.Row(visible=False, elem_id="rr-note-row") as note_row:
                        note = gr.Textbox(
                            label="What was wrong or helpful? (optional note)",
                            max_lines=4,
                            scale=8,
                            elem_id="rr-note",
                        )
                        send_note_button = gr.Button("Send note", scale=1, min_width=90, elem_id="rr-send-note")
                panel = None
                if library is not None:
                    current = lambda: service.documents  # noqa: E731
                    panel = build_report_panel(library, settings, report, current, (header, page_header))
            with gr.Column(scale=2, min_width=300, elem_classes="rr-side"):
                gr.Markdown("### Sources", elem_classes="rr-side-title")
                sources = gr.HTML(sources_html([]), elem_id="rr-sources")
                with gr.Accordion("Copy or export this answer", open=False, elem_id="rr-export"):
                    export_md = gr.Code(
                        "", language="markdown", label="Markdown", buttons=["copy", "download"], elem_id="rr-md"
                    )
                    export_json = gr.Code(
                        "", language="json", label="Answer JSON", buttons=["copy", "download"], elem_id="rr-json"
                    )

        outputs = [chatbot, answers, sources, question, export_md, export_json]
        # The service keeps answers one at a time with a bounded line; Gradio lets that many through
        # so that each one gets its answer or a busy reply from the service, not an unbounded wait here.
        answer_slots = service.max_waiting + 1
        common: dict[str, Any] = {
            "concurrency_id": "answer",
            "concurrency_limit": answer_slots,
            "api_visibility": "private",
        }
        question.submit(respond, [question, answers, report], outputs, **common)
        send.click(respond, [question, answers, report], outputs, **common)
        chatbot.example_select(pick_example, None, question, api_visibility="private").then(
            respond, [question, answers, report], outputs, **common
        )
        clear_button.click(clear, None, outputs, api_visibility="private")
        chatbot.clear(clear, None, outputs, api_visibility="private")
        private: dict[str, Any] = {"api_visibility": "private"}
        load_outputs = [header, report, panel] if panel is not None else [header, report]
        blocks.load(on_load, None, load_outputs, **private)
        if feedback is not None:
            chatbot.like(rate, [answers], [feedback_id, feedback_status, note_row], **private)
            send_note_button.click(send_note, [feedback_id, note], [feedback_status, note], **private)
            note.submit(send_note, [feedback_id, note], [feedback_status, note], **private)
        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=answer_slots)
        gr.api(search, api_name="search", concurrency_id="search", concurrency_limit=SEARCH_CONCURRENCY)
    return blocks


UPLOAD_LIMIT = "64kb"


def create_app(service: AnswerService, settings: Settings, contributions: Contributions = Contributions()) -> Any:
    """FastAPI with the API routes, then the Gradio chat at /; with `contributions`, people may add and
    remove reports (as `ui.reports` allows) and rate answers."""
    library, feedback = contributions.library, contributions.feedback
    app = FastAPI(title="report-rag")
    add_routes(app, service, settings)
    add_report_routes(app, library, settings, lambda: service.documents)
    if feedback is not None:
        add_feedback_routes(app, feedback, contributions.provenance, settings.max_question_chars)
    # Gradio's upload route takes the chat's report files; without a library the chat takes no files.
    # A server where nobody may add reports (no library; or not on loopback and no admin token) keeps it small.
    may_add = library is not None and (is_loopback(settings.host) or settings.admin_token is not None)
    upload_limit = settings.max_upload_bytes if may_add else UPLOAD_LIMIT
    return gr.mount_gradio_app(
        app,
        build_blocks(service, settings, contributions),
        path="/",
        css=_asset("chat.css"),
        js=_asset("chat.js"),
        footer_links=["api"],
        max_file_size=upload_limit,
        theme=gr.themes.Default(primary_hue="blue", secondary_hue="slate"),
    )
