"""The chat and the widget in headless Chromium with the real packaged models.

Set REPORT_RAG_SCREENSHOTS=docs to refresh the screenshots shown in the README.
"""

import pytest
from playwright.sync_api import expect

from rag.settings import Settings
from tests.browser.support import chromium, running, screenshot_dir, static_site
from tests.fakes import REPORT_PATH
from ui.app import create_app
from ui.service import AnswerService

pytestmark = pytest.mark.browser  # and integration, as everything in this folder
QUESTION = "Has North Korea ratified the 2000 UN TIP Protocol?"
WORDS = ("not ratified", "protocol")
CITATION_LINK = '#rr-chat a[href^="#rr-src-"]'
ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>The Ledger</title><style>
body { margin: 0; font-family: Georgia, 'Times New Roman', serif; color: #222; background: #faf7f0; }
header { background: #222; color: #fff; padding: 14px 32px; font: 700 22px/1 Georgia, serif; letter-spacing: .04em; }
main { max-width: 680px; margin: 32px auto; padding: 0 24px; }
h1 { font-size: 34px; line-height: 1.2; margin: 0 0 8px; }
.byline { color: #777; font-style: italic; margin-bottom: 24px; }
p { font-size: 18px; line-height: 1.65; }
</style></head><body><header>THE LEDGER</header><main>
<h1>What the 2007 trafficking report says about North Korea</h1>
<div class="byline">Research desk</div>
<p>The State Department's annual report ranks countries by their efforts against human trafficking.
North Korea was again placed on Tier 3.</p>
<p>Readers can question the report directly with the assistant in the corner of this page; every answer
links to the passage it rests on.</p>
<p>The report covers forced labor in prison camps, trafficking across the Chinese border and workers
sent abroad under government contracts.</p>
</main>SCRIPT</body></html>"""


@pytest.fixture(scope="module")
def app_url(real_pipeline, tmp_path_factory):
    pipeline = real_pipeline(Settings(index_dir=tmp_path_factory.mktemp("index")))
    with running(create_app(AnswerService(pipeline), Settings())) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def check_cited_answer(scope) -> str:
    """Wait for the answer and click its citations: one highlights the quote that answers; returns it."""
    scope.locator(CITATION_LINK).first.wait_for(timeout=120_000)
    answer = scope.locator("#rr-chat .message.bot, #rr-chat [data-testid='bot']").last.inner_text().lower()
    for word in WORDS:
        assert word in answer
    report = REPORT_PATH.read_text(encoding="utf-8")
    quotes = []
    links = scope.locator(CITATION_LINK)
    for i in range(links.count()):
        links.nth(i).click()
        quote = scope.locator(".rr-card.rr-active mark").inner_text()
        assert quote in report
        quotes.append(quote)
    about_work = [q for q in quotes if all(w in q.lower() for w in WORDS)]
    assert about_work, quotes
    links.nth(quotes.index(about_work[0])).click()
    return about_work[0]


def test_chat_answers_with_a_highlighted_source(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    try:
        page.goto(app_url)
        box = page.locator("#rr-question textarea")
        box.fill(QUESTION)
        box.press("Enter")
        check_cited_answer(page)
        expect(page.locator(".rr-card.rr-active .rr-label")).to_have_text("Supported")
        page.wait_for_timeout(600)  # let the scroll settle before the picture
        page.screenshot(path=screenshot_dir(tmp_path) / "chat.png")
    finally:
        page.close()


def test_widget_on_a_third_party_page_with_the_real_model(browser, app_url, tmp_path):
    script = f'<script src="{app_url}/widget.js" data-title="Ask the 2007 TIP report" defer></script>'
    with static_site({"/article.html": ARTICLE.replace("SCRIPT", script)}) as site:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        try:
            page.goto(f"{site}/article.html")
            page.locator("report-rag-widget .launcher").click()
            chat = page.frame_locator("report-rag-widget iframe")
            box = chat.locator("#rr-question textarea")
            box.fill(QUESTION)
            box.press("Enter")
            chat.locator(CITATION_LINK).first.wait_for(timeout=120_000)
            page.wait_for_timeout(600)
            page.screenshot(path=screenshot_dir(tmp_path) / "widget.png")
            check_cited_answer(chat)
        finally:
            page.close()
