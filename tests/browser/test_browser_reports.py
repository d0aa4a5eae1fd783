"""Adding a report and rating answers, in headless Chromium, against the app `app.build` wires (fake models)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app import cli
from app.build import build
from rag.feedback import FeedbackStore, Rating
from rag.generate.models import QWEN_CODER_1_5B
from rag.index.store import load_index
from tests.browser.support import ask, browser_page, running, static_site
from tests.fakes import (
    PRISON_QUESTION,
    PRISON_QUOTE,
    REPORT_PATH,
    REPORTS,
    HashEmbedder,
    JudgingModel,
    SlowEmbedder,
    fake_settings,
)
from tests.pdfs import report_pdf

MONGOLIA_TEXT = (REPORTS / "tip-2007-mongolia.txt").read_text(encoding="utf-8")
MONGOLIA_TITLE = "Mongolia: TIP Report 2007 (PDF)"
MONGOLIA_QUESTION = "How many trafficking cases did the police in Mongolia investigate?"
MONGOLIA_FRAGMENT = "Twelve cases of trafficking"
NOTE = "The answer leaves out the prison camps' quotas."
CITATION_LINK = '#rr-chat a[href^="#rr-src-"]'
# The status region while a job runs: a progress bar and the embedding step ("embedding passage 3 of 9 (52%)").
INDEXING_PROBE = """() => {
  const s = document.querySelector('#rr-upload-status [role=status]');
  return !!s && !!s.querySelector('progress') && /embedding passage \\d+ of \\d+ \\(\\d+%\\)/.test(s.innerText);
}"""


def application(index_dir: Path, embedder=None, **values):
    """The product as `rag serve` wires it (library, feedback store, provenance), with fake models."""
    settings = fake_settings(index_dir, corpus=(REPORT_PATH,), **values)
    built = build(
        settings,
        say=lambda _m: None,
        embedder=embedder or HashEmbedder(),
        generator=JudgingModel((MONGOLIA_FRAGMENT, "logging, mining")),
    )
    return built.web(), settings


@pytest.fixture
def page(browser):
    # Room for the report panel, and the clipboard the answer JSON is copied through.
    with browser_page(browser, {"width": 1280, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]) as p:
        yield p


def open_panel(page) -> None:
    page.locator("#rr-add").get_by_text("Add or remove a report").click()
    expect(page.locator("#rr-add-report")).to_be_visible()


def news_page(app_url: str, attributes: str = "") -> str:
    """A third-party page with the widget's one line."""
    script = f"<script src='{app_url}/widget.js' {attributes} defer></script>"
    return f"<!doctype html><html><body><h1>News</h1><p>An article.</p>{script}</body></html>"


def mongolia_pdf(folder: Path) -> Path:
    path = folder / "tip-2007-mongolia.pdf"
    path.write_bytes(report_pdf(MONGOLIA_TEXT))
    return path


def focused_in(page, selector: str) -> bool:
    return page.evaluate("(sel) => !!document.activeElement && !!document.activeElement.closest(sel)", selector)


def tab_to(page, selector: str, limit: int = 15) -> int:
    """Press Tab until the focus is inside `selector`; how many presses it took (fails past `limit`)."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if focused_in(page, selector):
            return presses
    where = page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{limit} Tabs never reached {selector}; the focus is on {where}")


def test_a_pdf_added_through_the_page_is_indexed_with_progress_picked_and_cited(page, tmp_path, monkeypatch):
    embedder = SlowEmbedder(delay=0.0)  # slowed once the page is open
    app, _settings = application(tmp_path / "idx", embedder)
    # One passage per embedding call, each taking a while, so that the page has progress to show.
    monkeypatch.setattr("rag.index.store.EMBED_STEP", 1)
    embedder.delay = 0.25
    with running(app) as url:
        page.goto(url)
        open_panel(page)
        page.locator("#rr-upload input[type=file]").set_input_files(mongolia_pdf(tmp_path))
        expect(page.locator("#rr-upload")).to_contain_text("tip-2007-mongolia.pdf")
        page.locator("#rr-meta-title input").fill(MONGOLIA_TITLE)
        page.locator("#rr-add-report").click()

        page.wait_for_function(INDEXING_PROBE, timeout=30_000)
        status = page.locator("#rr-upload-status [role=status]")
        expect(status).to_contain_text(f"Added {MONGOLIA_TITLE}.", timeout=60_000)
        expect(page.locator("#rr-header")).to_contain_text(MONGOLIA_TITLE)  # the header lists it too
        assert status.locator("progress").count() == 0
        embedder.delay = 0.0
        # The next file added must not take this one's title.
        expect(page.locator("#rr-meta-title input")).to_have_value("")
        expect(page.locator("#rr-upload")).not_to_contain_text("tip-2007-mongolia.pdf")

        # The new report is listed in the picker and chosen there (the only one chosen).
        picker = page.locator("#rr-report")
        expect(picker.locator(".token")).to_have_count(1)
        expect(picker.locator(".token")).to_contain_text(MONGOLIA_TITLE)
        picker.locator("input").click()
        expect(page.get_by_role("option", name=MONGOLIA_TITLE)).to_be_visible()
        expect(page.get_by_role("option", name=re.compile("North Korea"))).to_be_visible()
        page.locator("#rr-question textarea").click()  # closes the list

        ask(page, MONGOLIA_QUESTION)
        page.locator(CITATION_LINK).first.wait_for()
        card = page.locator("#rr-sources .rr-card").first
        expect(card.locator(".rr-title")).to_have_text(MONGOLIA_TITLE)
        expect(card.locator(".rr-para")).to_have_text(re.compile(r"^page \d+, paragraph \d+$"))
        expect(card.locator("mark")).to_contain_text(MONGOLIA_FRAGMENT)
        assert "North Korea" not in page.locator("#rr-sources").inner_text()


def test_wrong_with_a_note_is_kept_across_a_restart_and_exported(page, tmp_path, capsys):
    index_dir = tmp_path / "idx"
    app, settings = application(index_dir)
    with running(app) as url:
        page.goto(url)
        ask(page, PRISON_QUESTION)
        page.locator(CITATION_LINK).first.wait_for()
        expect(page.locator("#rr-note")).to_be_hidden()
        page.locator("#rr-chat").get_by_role("button", name="Dislike").last.click()
        expect(page.locator("#rr-feedback-status")).to_contain_text("answer 1 rated “wrong”")
        note = page.locator("#rr-note textarea")
        expect(note).to_be_visible()
        note.fill(NOTE)
        page.locator("#rr-send-note").click()
        expect(page.locator("#rr-feedback-status")).to_contain_text("Note saved with your rating")
        expect(note).to_have_value("")
        # The answer JSON as a reader copies it from the page (the editor shows only the lines in view).
        page.locator("#rr-export").get_by_text("Copy or export this answer").click()
        page.locator("#rr-json").get_by_role("button", name="Copy", exact=True).click()
        shown = json.loads(page.evaluate("() => navigator.clipboard.readText()"))

    # A restart: a new app over the same index folder and feedback file.
    restarted, _same = application(index_dir)
    with running(restarted) as url:
        page.goto(url)
        page.locator("#rr-question textarea").wait_for()
        [record] = FeedbackStore(settings.feedback_path).rows()
    assert record.rating is Rating.WRONG
    assert record.note == NOTE
    assert record.question == PRISON_QUESTION
    assert record.answer == shown  # the whole answer JSON, as the page showed it
    assert PRISON_QUOTE in record.answer["answer"] and record.answer["citations"]
    assert record.provenance["index_build"] == load_index(index_dir).path.name
    assert record.provenance["generator_sha256"] == QWEN_CODER_1_5B.sha256
    assert record.provenance["embedder"] == "fake-hash"

    out = tmp_path / "wrong.jsonl"
    argv = ["feedback", "export", "--out", str(out), "--rating", "wrong", "--index-dir", str(index_dir)]
    assert cli.main(argv) == 0
    assert "wrote 1 feedback row(s) (rated wrong)" in capsys.readouterr().out
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert (row["question"], row["note"], row["rating"]) == (PRISON_QUESTION, NOTE, "wrong")
    assert row["given_answer"] == record.answer["answer"]


def test_the_widget_on_a_third_party_page_offers_no_upload_but_takes_ratings(page, tmp_path):
    app, _settings = application(tmp_path / "idx")
    with running(app) as url, static_site({"/news.html": news_page(url)}) as site:
        page.goto(f"{site}/news.html")
        page.locator("report-rag-widget .launcher").click()
        chat = page.frame_locator("report-rag-widget iframe")
        expect(page.locator("report-rag-widget iframe")).to_have_attribute("src", re.compile(r"[?&]embed=1"))
        chat.locator("#rr-question textarea").wait_for()
        expect(chat.locator("#rr-report")).to_be_visible()  # the page has loaded its reports
        expect(chat.locator("#rr-add")).to_be_hidden()
        expect(chat.locator("input[type=file]")).to_have_count(0)
        expect(chat.get_by_text("Add report")).to_have_count(0)
        ask(chat, PRISON_QUESTION)
        chat.locator(CITATION_LINK).first.wait_for()
        expect(chat.locator("#rr-chat").get_by_role("button", name="Dislike")).to_be_visible()
        expect(chat.locator("#rr-chat").get_by_role("button", name="Like", exact=True)).to_be_visible()
        expect(chat.locator("#rr-add")).to_be_hidden()


def test_the_widget_offers_no_upload_even_before_its_page_has_loaded(page, tmp_path):
    app, _settings = application(tmp_path / "idx")
    with running(app) as url, static_site({"/news.html": news_page(url, "data-open='true'")}) as site:
        # The chat's load event (which reads ?embed=1) held back, as on a slow or rate-limited server.
        page.route(re.compile(r"/gradio_api/queue/join"), lambda route: route.abort())
        page.goto(f"{site}/news.html")
        chat = page.frame_locator("report-rag-widget iframe")
        chat.locator("#rr-question textarea").wait_for()
        page.wait_for_timeout(1000)
        expect(chat.locator("#rr-add")).to_be_hidden()
        expect(chat.locator("input[type=file]")).to_have_count(0)


def test_a_server_on_a_public_address_without_a_token_refuses_uploads_on_the_page(page, tmp_path):
    # Bound (by its settings) to every address; the test still serves it on 127.0.0.1.
    app, settings = application(tmp_path / "idx", host="0.0.0.0")
    with running(app) as url:
        page.goto(url)
        open_panel(page)
        expect(page.locator("#rr-token input")).to_be_visible()  # the "Admin token" field
        page.locator("#rr-upload input[type=file]").set_input_files(mongolia_pdf(tmp_path))
        expect(page.locator("#rr-upload")).to_contain_text("tip-2007-mongolia.pdf")
        page.locator("#rr-add-report").click()
        status = page.locator("#rr-upload-status [role=status]")
        expect(status).to_contain_text("RAG_ADMIN_TOKEN")
        expect(status).to_contain_text("turned off on a server bound to 0.0.0.0")
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())
    assert len(load_index(settings.index_dir).documents) == 1


def test_the_upload_panel_and_the_note_work_from_the_keyboard(page, tmp_path):
    app, _settings = application(tmp_path / "idx")
    # Playwright turns file-chooser interception on asynchronously when the first listener comes;
    # one added now has it on long before the key press that opens the chooser.
    page.on("filechooser", lambda _chooser: None)
    with running(app) as url:
        page.goto(url)
        expect(page.locator("#rr-add")).to_be_visible()  # shown by the page's load event
        page.locator("#rr-clear").focus()
        tab_to(page, "#rr-add button.label-wrap")
        page.keyboard.press("Enter")
        expect(page.locator("#rr-add-report")).to_be_visible()

        tab_to(page, "#rr-upload button.upload-container")
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Enter")
        chooser.value.set_files(mongolia_pdf(tmp_path))
        expect(page.locator("#rr-upload")).to_contain_text("tip-2007-mongolia.pdf")

        tab_to(page, "#rr-meta-title input")
        page.keyboard.type(MONGOLIA_TITLE)
        tab_to(page, "#rr-meta-country input")
        page.keyboard.type("Mongolia")
        tab_to(page, "#rr-add-report")
        page.keyboard.press("Space")
        expect(page.locator("#rr-upload-status")).to_contain_text(f"Added {MONGOLIA_TITLE}.", timeout=60_000)
        expect(page.locator("#rr-report .token")).to_contain_text(MONGOLIA_TITLE)

        page.locator("#rr-question textarea").focus()
        page.keyboard.type(MONGOLIA_QUESTION)
        page.keyboard.press("Enter")
        page.locator(CITATION_LINK).first.wait_for()
        dislike = page.locator("#rr-chat").get_by_role("button", name="Dislike").last
        dislike.focus()
        assert focused_in(page, "#rr-chat button[aria-label='Dislike']")
        page.keyboard.press("Enter")
        expect(page.locator("#rr-feedback-status")).to_contain_text("rated “wrong”")

        tab_to(page, "#rr-note textarea", limit=25)
        page.keyboard.type(NOTE)
        tab_to(page, "#rr-send-note")
        page.keyboard.press("Enter")
        expect(page.locator("#rr-feedback-status")).to_contain_text("Note saved with your rating")

        # Back in the panel: choose the report to remove and remove it, from the keyboard.
        page.locator("#rr-add-report").focus()
        tab_to(page, "#rr-remove-pick input")
        page.keyboard.type("Mongolia")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        expect(page.locator("#rr-remove-pick input")).to_have_value(MONGOLIA_TITLE)
        tab_to(page, "#rr-remove")
        page.keyboard.press("Enter")
        expect(page.locator("#rr-upload-status")).to_contain_text(f"Removed {MONGOLIA_TITLE}.")
        expect(page.locator("#rr-report .token")).to_have_count(0)
