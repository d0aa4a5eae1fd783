"""What the chat page's events do: answer, clear, search, ask, show the reports on load, rate and annotate.

A question typed in the chat goes `ChatHandlers.respond` -> `AnswerService.stream` -> `Pipeline.stream`;
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

from rag.feedback import FeedbackError, Rating, Verdicts, utc_now
from rag.pg import StoreUnavailable
from rag.schema import QuestionError, Turn, check_question
from rag.serialize import answer_json
from rag.settings import Settings
from rag.types import Answer, Document, Sources
from ui.api import STORE_DOWN, RequestError, validate_ask, validate_search
from ui.feedback import feedback_record
from ui.manage import report_choices, status_html
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
from ui.reports import Reports
from ui.service import AnswerService, Busy

log = logging.getLogger(__name__)
Provenance = Callable[[], Mapping[str, str]]
SEARCH_PROMPT = '<p class="rr-empty">Type a question to see the passages that answer it.</p>'


@dataclass(frozen=True)
class Contributions:
    """What readers may bring: reports (`library`), and ratings of answers (`feedback`, each kept with
    `provenance()`: the index build and the models). Without them the chat only answers."""

    library: Reports | None = None
    feedback: Verdicts | None = None
    provenance: Provenance = dict


# Nobody may add reports or rate answers: the chat only answers.
CHAT_ONLY = Contributions()


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


def picker_visible(documents: list[Document], contributions: Contributions) -> bool:
    """The report picker is shown once there is a choice: several reports, or reports that may be added."""
    return len(documents) > 1 or contributions.library is not None


@dataclass(frozen=True, eq=False)
class ChatHandlers:
    """The chat's event handlers; `panel_built` says whether the page has the "Add a report" panel.

    Each output tuple follows the components its event was wired to in `ui.app.wire_chat`.
    """

    service: AnswerService
    settings: Settings
    contributions: Contributions = CHAT_ONLY
    panel_built: bool = False

    def respond(self, message: str, answers: list[Answer], report: list[str] | None) -> Iterator[tuple[Any, ...]]:
        try:
            question = check_question(message or "", self.settings.answer.max_question_chars)
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
            for event in self.service.stream(question, pipeline_history(answers), filters):
                if isinstance(event, Answer):
                    final = event
                elif isinstance(event, Sources):
                    # The passages come first, before the answer is decided.
                    reading = [*shown, {"role": "assistant", "content": "Reading the passages…"}]
                    yield reading, gr.skip(), reading_html(question, event), *[gr.skip()] * 3
                else:
                    streamed += event
                    yield [*shown, {"role": "assistant", "content": plain_markdown(streamed)}], *[gr.skip()] * 5
        except (Busy, StoreUnavailable) as err:
            # Not added to the conversation: the question goes back in the box to be sent again.
            note = as_sentence(str(err) if isinstance(err, Busy) else STORE_DOWN)
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

    def clear(self) -> tuple[Any, ...]:
        return [], [], sources_html([]), "", "", ""

    def ask(
        self, question: str, history: list[dict[str, str]] | None = None, filters: dict[str, Any] | None = None
    ) -> dict:
        """The answer JSON for a question (with the conversation so far and optional metadata filters)."""
        try:
            body = {"question": question, "history": history or [], "filters": filters}
            req = validate_ask(body, self.settings.answer.max_question_chars)
        except RequestError as err:
            raise gr.Error(str(err)) from err
        try:
            return answer_json(self.service.answer(req.question, req.history, req.filters))
        except Busy as err:
            raise gr.Error(str(err), title="Busy", print_exception=False) from err
        except StoreUnavailable as err:
            raise gr.Error(STORE_DOWN, title="Unavailable", print_exception=False) from err

    def search(self, query: str) -> str:
        """Ranked passages for a query, as HTML."""
        if not (query or "").strip():
            return SEARCH_PROMPT
        try:
            req = validate_search({"query": query}, self.settings.answer.max_question_chars)
        except RequestError as err:
            return f'<p class="rr-empty">{escape(as_sentence(str(err)))}</p>'
        try:
            return passages_html(self.service.search(req.query, self.settings.answer.top_k))
        except StoreUnavailable:
            return f'<p class="rr-empty">{escape(as_sentence(STORE_DOWN))}</p>'

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        return str(evt.value["text"])

    def on_load(self, request: gr.Request) -> tuple[Any, ...]:
        """The reports as they are now, the one a link asks for (`?report=ID`), no upload panel in the widget."""
        params = request.query_params if request else {}
        current = self.service.documents
        wanted = params.get("report", "")
        picked = [wanted] if wanted in {d.doc_id for d in current} else []
        embedded = params.get("embed", "") == "1"
        visible = picker_visible(current, self.contributions)
        picker = gr.update(choices=report_choices(current), value=picked, visible=visible)
        if not self.panel_built:
            return page_header(current), picker
        return page_header(current), picker, gr.update(visible=not embedded)

    def rate(self, answers: list[Answer], evt: gr.LikeData) -> tuple[Any, ...]:
        """A reader's helpful/wrong on an answer: kept at once; the note box then offers to add why."""
        feedback = self.contributions.feedback
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
            provenance=self.contributions.provenance(),
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

    def send_note(self, feedback_id: int | None, note: str) -> tuple[Any, ...]:
        feedback = self.contributions.feedback
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
