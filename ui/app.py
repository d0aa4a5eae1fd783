"""The web app: the Gradio chat mounted in FastAPI beside the JSON API and the widget script.

A question typed in the chat goes `respond` -> `AnswerService.stream` -> `rag.answer.Pipeline.stream`;
the streamed text is shown as it comes, then replaced by the checked Answer with clickable `[n]`
markers, and the sources panel shows each cited passage with its quote highlighted. When the service
has no turn for a question (`Busy`: the line is full, or the turn would come or came too late) the chat
says so and puts the question back in the box; the `ask` endpoint raises the same message as an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gradio as gr
from fastapi import FastAPI

from rag.schema import QuestionError, Turn, check_question
from rag.serialize import answer_json
from rag.settings import Settings
from rag.types import Answer, Document
from ui.api import STATIC, RequestError, add_routes, validate_ask
from ui.render import answer_markdown, export_markdown, header_html, passages_html, plain_markdown, sources_html
from ui.service import AnswerService, Busy

EXAMPLES = [
    "What work are prison camp inmates forced to do?",
    "Which European country ended its program for North Korean workers?",
    "Has North Korea ratified the 2000 UN TIP Protocol?",
]
ALL_REPORTS = ""
# Searches run this many at a time in their own Gradio queue, never behind the answers' queue.
SEARCH_CONCURRENCY = 4


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


def report_choices(documents: list[Document]) -> list[tuple[str, str]]:
    return [("All reports", ALL_REPORTS)] + [(d.title, d.doc_id) for d in documents]


def build_blocks(service: AnswerService, settings: Settings) -> Any:
    """The chat page; also registers the `ask` and `search` API endpoints."""
    documents = service.documents
    known_ids = {d.doc_id for d in documents}

    def respond(message: str, answers: list[Answer], report: str) -> Iterator[tuple[Any, ...]]:
        try:
            question = check_question(message or "", settings.max_question_chars)
        except QuestionError as err:
            gr.Warning(str(err).capitalize() + ".")
            yield gr.skip(), gr.skip(), gr.skip(), message, gr.skip(), gr.skip()
            return
        filters = {"doc_id": report} if report else None
        shown = [*chat_messages(answers), {"role": "user", "content": plain_markdown(question)}]
        yield [*shown, {"role": "assistant", "content": "…"}], gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
        streamed = ""
        final: Answer | None = None
        try:
            for event in service.stream(question, pipeline_history(answers), filters):
                if isinstance(event, Answer):
                    final = event
                else:
                    streamed += event
                    yield [*shown, {"role": "assistant", "content": plain_markdown(streamed)}], *[gr.skip()] * 5
        except Busy as err:
            # Not added to the conversation: the question goes back in the box to be sent again.
            note = str(err)[0].upper() + str(err)[1:] + "."
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

    def ask(question: str, history: list[dict[str, str]] | None = None, filters: dict[str, str] | None = None) -> dict:
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
        query = (query or "").strip()
        if not query:
            return '<p class="rr-empty">Type a question to see the passages that answer it.</p>'
        if len(query) > settings.max_question_chars:
            return f'<p class="rr-empty">The question is too long (limit {settings.max_question_chars} characters).</p>'
        return passages_html(service.search(query, settings.top_k))

    def pick_example(evt: gr.SelectData) -> str:
        return str(evt.value["text"])

    def pick_report(request: gr.Request) -> Any:
        wanted = request.query_params.get("report", "") if request else ""
        return wanted if wanted in known_ids else gr.skip()

    with gr.Blocks(title="report-rag", fill_width=True) as blocks:
        answers = gr.State([])
        with gr.Row(elem_classes="rr-header"):
            gr.HTML(
                '<div class="rr-brand"><span class="rr-logo">❝</span> Ask the report</div>' + header_html(documents),
                elem_id="rr-header",
            )
        report = gr.Dropdown(
            report_choices(documents),
            value=ALL_REPORTS,
            label="Ask which report",
            visible=len(documents) > 1,
            elem_id="rr-report",
        )
        with gr.Row(equal_height=False, elem_classes="rr-main"):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="rr-chat",
                    height=520,
                    buttons=["copy"],
                    feedback_options=None,
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
        blocks.load(pick_report, None, report, api_visibility="private")
        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=answer_slots)
        gr.api(search, api_name="search", concurrency_id="search", concurrency_limit=SEARCH_CONCURRENCY)
    return blocks


UPLOAD_LIMIT = "64kb"


def create_app(service: AnswerService, settings: Settings) -> Any:
    """FastAPI with the API routes, then the Gradio chat at /."""
    app = FastAPI(title="report-rag")
    add_routes(app, service, settings)
    return gr.mount_gradio_app(
        app,
        build_blocks(service, settings),
        path="/",
        css=_asset("chat.css"),
        js=_asset("chat.js"),
        footer_links=["api"],
        # The chat takes no files; Gradio's upload route stays, so bound what a stranger can store.
        max_file_size=UPLOAD_LIMIT,
        theme=gr.themes.Default(primary_hue="blue", secondary_hue="slate"),
    )
