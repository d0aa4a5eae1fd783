"""The web app: the Gradio chat mounted in FastAPI beside the JSON API and the widget script.

`build_blocks` composes the chat page: `chat_layout` builds its components, `ui.chat.ChatHandlers`
holds what their events do, and `wire_chat` connects the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from fastapi import FastAPI

from rag.settings import Settings
from ui.api import STATIC, add_routes
from ui.chat import CHAT_ONLY, ChatHandlers, Contributions, page_header, picker_visible
from ui.feedback import add_feedback_routes
from ui.manage import build_report_panel, report_choices, status_html
from ui.render import sources_html
from ui.reports import add_report_routes, is_loopback
from ui.service import AnswerService

__all__ = ["Contributions", "build_blocks", "create_app"]

EXAMPLES = [
    "What work are prison camp inmates forced to do?",
    "Which European country ended its program for North Korean workers?",
    "Has North Korea ratified the 2000 UN TIP Protocol?",
]
# Searches run this many at a time in their own Gradio queue, never behind the answers' queue.
SEARCH_CONCURRENCY = 4


def _asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class NoteParts:
    """Under the conversation when answers may be rated: the rating's status line and the note box."""

    status: gr.HTML
    row: gr.Row
    note: gr.Textbox
    send: gr.Button


@dataclass(frozen=True)
class Conversation:
    """The conversation, the question box with its Ask button, and the Clear button."""

    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    clear: gr.Button


@dataclass(frozen=True)
class SourcesPanel:
    """Beside the conversation: the cited passages, and the answer as Markdown and JSON to copy."""

    sources: gr.HTML
    export_md: gr.Code
    export_json: gr.Code


@dataclass(frozen=True)
class ChatLayout:
    """The chat page's components; `notes` and `panel` are None when the page has no ratings or uploads."""

    answers: gr.State
    feedback_id: gr.State
    header: gr.HTML
    report: gr.Dropdown
    chat: Conversation
    side: SourcesPanel
    notes: NoteParts | None
    panel: Any

    @property
    def outputs(self) -> list[Any]:
        """What an answer (or a cleared chat) updates."""
        chat, side = self.chat, self.side
        return [chat.chatbot, self.answers, side.sources, chat.question, side.export_md, side.export_json]


def _conversation(rateable: bool) -> Conversation:
    """The conversation, the question box with its Ask button, and the Clear button."""
    chatbot = gr.Chatbot(
        label="Conversation",
        elem_id="rr-chat",
        height=520,
        buttons=["copy"],
        feedback_options=("Like", "Dislike") if rateable else None,
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
    clear = gr.Button("Clear chat", size="sm", elem_id="rr-clear", variant="secondary")
    return Conversation(chatbot, question, send, clear)


def _note_parts() -> NoteParts:
    """The rating's status line and the note box, hidden until an answer is rated."""
    status = gr.HTML(status_html(""), elem_id="rr-feedback-status")
    with gr.Row(visible=False, elem_id="rr-note-row") as row:
        note = gr.Textbox(
            label="What was wrong or helpful? (optional note)",
            max_lines=4,
            scale=8,
            elem_id="rr-note",
        )
        send = gr.Button("Send note", scale=1, min_width=90, elem_id="rr-send-note")
    return NoteParts(status, row, note, send)


def _sources_panel() -> SourcesPanel:
    """The sources panel and the answer's Markdown and JSON to copy or download."""
    gr.Markdown("### Sources", elem_classes="rr-side-title")
    sources = gr.HTML(sources_html([]), elem_id="rr-sources")
    with gr.Accordion("Copy or export this answer", open=False, elem_id="rr-export"):
        export_md = gr.Code("", language="markdown", label="Markdown", buttons=["copy", "download"], elem_id="rr-md")
        export_json = gr.Code("", language="json", label="Answer JSON", buttons=["copy", "download"], elem_id="rr-json")
    return SourcesPanel(sources, export_md, export_json)


def chat_layout(service: AnswerService, settings: Settings, contributions: Contributions) -> ChatLayout:
    """The chat page's components, built inside the current Blocks; the upload panel wires its own events."""
    documents = service.documents
    answers = gr.State([])
    feedback_id = gr.State(None)
    with gr.Row(elem_classes="rr-header"):
        header = gr.HTML(page_header(documents), elem_id="rr-header")
    report = gr.Dropdown(
        report_choices(documents),
        value=[],
        multiselect=True,
        label="Ask which reports (none chosen: all of them)",
        visible=picker_visible(documents, contributions),
        elem_id="rr-report",
    )
    with gr.Row(equal_height=False, elem_classes="rr-main"):
        with gr.Column(scale=3, min_width=320):
            chat = _conversation(rateable=contributions.feedback is not None)
            notes = _note_parts() if contributions.feedback is not None else None
            panel = None
            if contributions.library is not None:
                current = lambda: service.documents  # noqa: E731
                panel = build_report_panel(contributions.library, settings, report, current, (header, page_header))
        with gr.Column(scale=2, min_width=300, elem_classes="rr-side"):
            side = _sources_panel()
    return ChatLayout(answers, feedback_id, header, report, chat, side, notes, panel)


def wire_chat(blocks: gr.Blocks, layout: ChatLayout, handlers: ChatHandlers, answer_slots: int) -> None:
    """Connect the page's events to the handlers; register the `ask` and `search` API endpoints."""
    private: dict[str, Any] = {"api_visibility": "private"}
    answering: dict[str, Any] = {"concurrency_id": "answer", "concurrency_limit": answer_slots, **private}
    chat = layout.chat
    asked = [chat.question, layout.answers, layout.report]
    outputs = layout.outputs
    chat.question.submit(handlers.respond, asked, outputs, **answering)
    chat.send.click(handlers.respond, asked, outputs, **answering)
    chat.chatbot.example_select(handlers.pick_example, None, chat.question, **private).then(
        handlers.respond, asked, outputs, **answering
    )
    chat.clear.click(handlers.clear, None, outputs, **private)
    chat.chatbot.clear(handlers.clear, None, outputs, **private)
    load_outputs = [layout.header, layout.report]
    if layout.panel is not None:
        load_outputs.append(layout.panel)
    blocks.load(handlers.on_load, None, load_outputs, **private)
    notes = layout.notes
    if notes is not None:
        chat.chatbot.like(handlers.rate, [layout.answers], [layout.feedback_id, notes.status, notes.row], **private)
        noted, shown = [layout.feedback_id, notes.note], [notes.status, notes.note]
        notes.send.click(handlers.send_note, noted, shown, **private)
        notes.note.submit(handlers.send_note, noted, shown, **private)
    gr.api(handlers.ask, api_name="ask", concurrency_id="answer", concurrency_limit=answer_slots)
    gr.api(handlers.search, api_name="search", concurrency_id="search", concurrency_limit=SEARCH_CONCURRENCY)


def build_blocks(service: AnswerService, settings: Settings, contributions: Contributions = CHAT_ONLY) -> Any:
    """The chat page; also registers the `ask` and `search` API endpoints."""
    # Files sent to Gradio's upload route are deleted after an hour (checked hourly), added or not.
    with gr.Blocks(title="report-rag", fill_width=True, delete_cache=(3600, 3600)) as blocks:
        layout = chat_layout(service, settings, contributions)
        handlers = ChatHandlers(service, settings, contributions, panel_built=layout.panel is not None)
        # The service keeps answers one at a time with a bounded line; Gradio lets that many through
        # so that each one gets its answer or a busy reply from the service, not an unbounded wait here.
        wire_chat(blocks, layout, handlers, answer_slots=service.max_waiting + 1)
    return blocks


UPLOAD_LIMIT = "64kb"


def create_app(service: AnswerService, settings: Settings, contributions: Contributions = CHAT_ONLY) -> Any:
    """FastAPI with the API routes, then the Gradio chat at /; with `contributions`, people may add and
    remove reports (as `ui.reports` allows) and rate answers."""
    library, feedback = contributions.library, contributions.feedback
    app = FastAPI(title="report-rag")
    add_routes(app, service, settings)
    add_report_routes(app, library, settings, lambda: service.documents)
    if feedback is not None:
        add_feedback_routes(app, feedback, contributions.provenance, settings.answer.max_question_chars)
    # Gradio's upload route takes the chat's report files; without a library the chat takes no files.
    # A server where nobody may add reports (no library; or not on loopback and no admin token) keeps it small.
    may_add = library is not None and (is_loopback(settings.server.host) or settings.server.admin_token is not None)
    upload_limit = settings.server.max_upload_bytes if may_add else UPLOAD_LIMIT
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
