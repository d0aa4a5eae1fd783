"""Accessibility in headless Chromium: axe-core finds nothing serious, and the keyboard reaches everything."""

import pytest
from playwright.sync_api import expect

from app.build import build
from tests.browser.support import axe_violations, running, static_site
from tests.fakes import PRISON_QUESTION, REPORT_PATH, HashEmbedder, JudgingModel, fake_settings

CITATION_LINK = '#rr-chat a[href^="#rr-src-"]'
# What has focus in the widget's shadow root: "launcher", "close", "iframe", or None when focus is elsewhere.
WIDGET_FOCUS = """() => {
  const host = document.querySelector("report-rag-widget");
  const el = document.activeElement === host ? host.shadowRoot.activeElement : null;
  return el ? el.className || el.tagName.toLowerCase() : null;
}"""
# The focused element of a document: its id, or its tag and the id of the nearest ancestor with one.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || !document.hasFocus()) return null;
  const owner = el.id ? el : el.parentElement && el.parentElement.closest("[id]");
  return el.id || `${el.tagName.toLowerCase()} in #${owner ? owner.id : "?"}`;
}"""


def widget_page(app_url: str, colour: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><title>News</title></head><body><main><h1>Local news</h1>'
        "<p>An article about reports.</p><a href='#top'>Top</a></main>"
        f'<script src="{app_url}/widget.js" data-color="{colour}" defer></script></body></html>'
    )


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    # The whole product as `rag serve` builds it: the report panel and the rating controls included.
    settings = fake_settings(tmp_path_factory.mktemp("a11y") / "idx", corpus=(REPORT_PATH,))
    generator = JudgingModel("logging, mining")
    with running(build(settings, say=lambda _m: None, embedder=HashEmbedder(), generator=generator).web()) as url:
        yield url


@pytest.fixture(scope="module")
def site(app_url):
    # The default colour, and a light one the widget must write dark text on.
    pages = {"/widget.html": widget_page(app_url, "#1f5f8b"), "/gold.html": widget_page(app_url, "gold")}
    with static_site(pages) as url:
        yield url


def no_violations(found: list[str]) -> str:
    return "axe-core found serious or critical violations:\n" + "\n".join(found)


def test_chat_page_has_no_serious_violations_loaded_and_after_an_answer(page, app_url):
    page.goto(app_url)
    page.locator("#rr-question textarea").wait_for()
    found = axe_violations(page)
    assert not found, no_violations(found)

    box = page.locator("#rr-question textarea")
    box.fill(PRISON_QUESTION)
    box.press("Enter")
    page.locator(CITATION_LINK).first.wait_for()
    expect(page.locator("#rr-sources")).to_contain_text("Sources for")
    found = axe_violations(page)
    assert not found, no_violations(found)

    # The report panel opened, and an answer rated "wrong" with its note box showing.
    page.get_by_text("Add or remove a report").click()
    page.locator("#rr-add-report").wait_for()
    page.get_by_role("button", name="Dislike").first.click()
    page.locator("#rr-note textarea").wait_for()
    found = axe_violations(page)
    assert not found, no_violations(found)


@pytest.mark.parametrize("colour", ["widget", "gold"])
def test_open_widget_and_its_chat_have_no_serious_violations(page, site, colour):
    page.goto(f"{site}/{colour}.html")
    page.locator("report-rag-widget .launcher").click()
    frame = page.locator("report-rag-widget iframe").element_handle().content_frame()
    frame.locator("#rr-question textarea").wait_for()
    found = axe_violations(page, "report-rag-widget") + axe_violations(frame)
    assert not found, no_violations(found)


def test_tab_from_the_top_of_the_chat_reaches_the_question_box_then_the_ask_button(page, app_url):
    page.goto(app_url)
    page.locator("#rr-question textarea").wait_for()
    page.mouse.click(2, 2)  # the top-left corner: Tab starts from the top of the page, not the autofocused box
    assert page.evaluate(FOCUSED) is None
    visited = []
    for _ in range(40):
        page.keyboard.press("Tab")
        visited.append(page.evaluate(FOCUSED))
        if visited[-1] == "textarea in #rr-question":
            break
    assert visited[-1] == "textarea in #rr-question", f"Tab never reached the question box: {visited}"
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED) == "rr-send"


def test_widget_opens_and_closes_by_keyboard_and_gives_focus_back_to_the_launcher(page, site):
    page.goto(f"{site}/widget.html")
    launcher = page.locator("report-rag-widget .launcher")
    launcher.wait_for()
    page.keyboard.press("Tab")  # the page's own link first, then the widget
    assert page.evaluate("() => document.activeElement.textContent") == "Top"
    page.keyboard.press("Tab")
    assert page.evaluate(WIDGET_FOCUS) == "launcher"

    page.keyboard.press("Enter")  # opening puts the caret in the chat's question box
    expect(launcher).to_have_attribute("aria-expanded", "true")
    frame = page.locator("report-rag-widget iframe").element_handle().content_frame()
    frame.wait_for_function(f"() => ({FOCUSED})() === 'textarea in #rr-question'")
    assert page.evaluate(WIDGET_FOCUS) == "iframe"
    page.keyboard.type("Who")
    expect(frame.locator("#rr-question textarea")).to_have_value("Who")

    page.keyboard.press("Escape")  # pressed inside the chat's frame
    expect(page.locator("report-rag-widget .panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert page.evaluate(WIDGET_FOCUS) == "launcher"

    page.keyboard.press("Enter")
    frame.wait_for_function(f"() => ({FOCUSED})() === 'textarea in #rr-question'")
    for _ in range(40):  # back out of the chat to the panel's close button
        page.keyboard.press("Shift+Tab")
        if page.evaluate(WIDGET_FOCUS) != "iframe":
            break
    assert page.evaluate(WIDGET_FOCUS) == "close"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(WIDGET_FOCUS) == "launcher"
    page.keyboard.press("Tab")
    assert page.evaluate(WIDGET_FOCUS) == "close"
    page.keyboard.press("Tab")  # into the chat, in page order
    assert page.evaluate(WIDGET_FOCUS) == "iframe"
    assert frame.evaluate(FOCUSED) is not None
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(WIDGET_FOCUS) == "close"

    page.keyboard.press("Enter")
    expect(page.locator("report-rag-widget .panel")).to_be_hidden()
    assert page.evaluate(WIDGET_FOCUS) == "launcher"
