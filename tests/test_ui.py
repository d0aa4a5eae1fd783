import json
from dataclasses import replace
from html import escape, unescape

import pytest
from fastapi.testclient import TestClient

from rag.answer.pipeline import ABSTAIN_TEXT
from rag.settings import Settings
from tests.fakes import EVIL_TITLE, PRISON_QUESTION, JudgingModel, fake_pipeline
from ui.app import create_app
from ui.chat import chat_messages, pipeline_history
from ui.render import (
    answer_markdown,
    export_markdown,
    header_html,
    highlighted_passage,
    passages_html,
    plain_markdown,
    sources_html,
)
from ui.service import AnswerService


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    # The model accepts one sentence only, so each answer quotes one.
    pipeline = replace(fake_pipeline(tmp_path_factory.mktemp("ui")), generator=JudgingModel("political prisoners"))
    return AnswerService(pipeline)


@pytest.fixture(scope="module")
def answer(service):
    return service.answer(PRISON_QUESTION)


@pytest.fixture(scope="module")
def client(service):
    return TestClient(create_app(service, Settings()))


def test_passages_are_escaped(service):
    html = passages_html(service.pipeline.retriever.search("img onerror report tunnels", 5))
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=" in html


def test_header_names_each_report_with_its_metadata_escaped(service):
    html = header_html(service.documents)
    assert "U.S. Department of State 2007 Trafficking in Persons Report - North Korea" in html
    assert "12 June 2007" in html and "Tier 3" in html
    assert "<img" not in html and "&lt;img src=x" in html


def test_question_markup_is_shown_literally_in_the_chat():
    text = plain_markdown('<img src=x onerror="alert(1)"> *bold* [1](javascript:x)')
    assert "<" not in text and "*bold*" not in text and "[1](" not in text
    assert text.startswith("&lt;img src=x")


def test_answer_markers_link_to_their_source_cards(answer):
    (citation,) = answer.citations
    md = answer_markdown(answer, 3)
    assert f"[\\[{citation.n}\\]](#rr-src-3-{citation.n})" in md
    assert md.startswith("The report says: “") and "political prisoners" in md


def test_sources_panel_highlights_the_exact_quote(answer):
    (citation,) = answer.citations
    html = sources_html([answer])
    assert f'id="rr-src-0-{citation.n}"' in html
    assert f"<mark>{escape(citation.quote)}</mark>" in html
    assert "political prisoners and criminals" in citation.quote
    assert "Supported" in html and f"paragraph {citation.chunk.paragraph}" in html
    marked = highlighted_passage(citation)
    assert unescape(marked.replace("<mark>", "").replace("</mark>", "")) == citation.chunk.text


def test_only_the_latest_turn_is_shown_and_older_ones_stay_reachable(answer):
    html = sources_html([answer, answer])
    assert '<section class="rr-turn" data-turn="0" hidden>' in html
    assert '<section class="rr-turn" data-turn="1">' in html
    assert 'id="rr-src-0-' in html and 'id="rr-src-1-' in html


def test_abstention_says_so_and_lists_related_passages(service):
    abstained = service.answer("What did the report say about the 2031 Olympic Games?")
    assert abstained.abstained and abstained.text == ABSTAIN_TEXT
    html = sources_html([abstained])
    assert "The report does not answer this question." in html
    assert html.count('class="rr-card rr-related"') == 3
    md = export_markdown(abstained)
    assert "**Related passages**" in md and "**Sources**" not in md


def test_export_markdown_holds_the_answer_and_its_quotes(answer):
    md = export_markdown(answer)
    (citation,) = answer.citations
    assert f"**Question:** {PRISON_QUESTION}" in md
    assert f"**Answer:** {answer.text}" in md
    assert f"> {citation.quote}" in md and f"paragraph {citation.chunk.paragraph}" in md


def test_follow_ups_see_the_plain_conversation(answer):
    history = pipeline_history([answer])
    assert [t.model_dump() for t in history] == [
        {"role": "user", "content": PRISON_QUESTION},
        {"role": "assistant", "content": answer.text},
    ]
    shown = chat_messages([answer])
    assert shown[1]["content"] == answer_markdown(answer, 0)


def test_healthz_reports_the_loaded_models_and_index(client, service):
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "documents": 2,
        "chunks": len(service.pipeline.retriever.index.chunks),
        "embedder": "fake-hash",
        "generator": "JudgingModel",
        "reports": [{"doc_id": d.doc_id, "title": d.title} for d in service.documents],
        "queue": {"answering": False, "waiting": 0, "max_waiting": 16, "timeout_s": 60.0},
    }
    assert {r["title"] for r in body["reports"]} >= {EVIL_TITLE}


def test_page_is_served_with_the_chat(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "<html" in response.text.lower()
    config = json.loads(client.get("/config").text)
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"rr-chat", "rr-question", "rr-sources", "rr-clear", "rr-report"} <= ids
    assert EVIL_TITLE not in response.text  # the raw markup never reaches the page unescaped


def test_a_quote_outside_its_passage_is_still_shown_highlighted(answer):
    from dataclasses import replace

    (citation,) = answer.citations
    moved = replace(citation, quote_start=citation.chunk.end + 10, quote_end=citation.chunk.end + 20)
    assert highlighted_passage(moved) == f"<mark>{escape(citation.quote)}</mark>"


def test_markers_without_a_citation_stay_plain_text(answer):
    from dataclasses import replace

    (citation,) = answer.citations
    odd = replace(answer, text=f"One [{citation.n}]. Two [9].")
    assert answer_markdown(odd, 0) == f"One [\\[{citation.n}\\]](#rr-src-0-{citation.n}). Two \\[9\\]."


def test_the_picker_lists_every_report_and_tells_same_titles_apart():
    from rag.types import Document
    from ui.chat import report_filters
    from ui.manage import report_choices

    docs = [
        Document("a-1", "x", ((0, 1),), "Annual report", country="Mongolia"),
        Document("b-2", "x", ((0, 1),), "Annual report", country="Russia"),
        Document("c-3", "x", ((0, 1),), "Country narrative"),
    ]
    assert report_choices(docs) == [
        ("Annual report (Mongolia)", "a-1"),
        ("Annual report (Russia)", "b-2"),
        ("Country narrative", "c-3"),
    ]
    assert report_filters([]) is None and report_filters(None) is None
    assert report_filters(["a-1", "c-3"]) == {"doc_id": ("a-1", "c-3")}
    assert report_filters("b-2") == {"doc_id": ("b-2",)}


def test_a_status_line_is_announced_and_escaped():
    from ui.manage import status_html

    html = status_html("<b>report.pdf</b>: embedding passage 3 of 9", 0.4)
    assert 'role="status"' in html and "<b>" not in html and "&lt;b&gt;" in html
    assert '<progress max="100" value="40"' in html
