"""The chat, the widget and the embeds in headless Chromium, against a server with a scripted generator."""

import re
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from rag.settings import Settings
from tests.browser.support import ask, running, static_site
from tests.fakes import EVIL_TITLE, PRISON_QUESTION, SlowJudge, fake_pipeline
from ui.app import create_app
from ui.service import AnswerService

CITATION_LINK = '#rr-chat a[href^="#rr-src-"]'
HOST_CSS = """
body { font-family: Georgia, serif; color: rgb(20, 30, 40); background: rgb(250, 245, 235); margin: 12px; }
h1 { font-size: 40px; color: rgb(120, 0, 0); }
p { line-height: 30px; }
button { background: rgb(255, 0, 0); border-radius: 0; font-size: 11px; }
* { box-sizing: content-box; }
"""
STYLE_PROBE = """() => [...document.querySelectorAll('body, h1, p, button.host, a')].map(el => {
  const s = getComputedStyle(el);
  return [el.tagName, s.fontFamily, s.color, s.backgroundColor, s.fontSize, s.lineHeight, s.margin, s.boxSizing];
})"""


# True while the passages being read are shown and the answer is not there yet.
READING_PROBE = """() => {
  const sources = document.querySelector("#rr-sources");
  const linked = document.querySelector('a[href^="#rr-src-"]');
  return sources && sources.innerText.includes("Reading these passages") && !linked;
}"""


def host_page(base: str, script: str = "") -> str:
    return (
        f"<!doctype html><html><head><title>News</title><style>{HOST_CSS}</style></head><body>"
        "<h1>Local news</h1><p>An article about reports.</p><button class='host'>Subscribe</button>"
        f"<a href='#top'>Top</a>{script}</body></html>"
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return AnswerService(fake_pipeline(tmp_path_factory.mktemp("browser")))


@pytest.fixture(scope="module")
def app_url(service):
    with running(create_app(service, Settings())) as url:
        yield url


@pytest.fixture(scope="module")
def site(app_url, service):
    doc_id = next(d.doc_id for d in service.documents if d.title.startswith("U.S."))
    one_line = (
        f'<script src="{app_url}/widget.js" data-title="Ask the TIP report" data-color="#7a1f5c" '
        f'data-report="{doc_id}" defer></script>'
    )
    pages = {
        "/plain.html": host_page(app_url),
        "/widget.html": host_page(app_url, one_line),
        "/left-open.html": host_page(
            app_url, f'<script src="{app_url}/widget.js" data-position="bottom-left" data-open="true" defer></script>'
        ),
        "/iframe.html": host_page(app_url, f'<iframe src="{app_url}/" width="900" height="800"></iframe>'),
        "/component.html": host_page(
            app_url,
            f'<script type="module" src="{app_url}/gradio.js"></script><gradio-app src="{app_url}/"></gradio-app>',
        ),
    }
    with static_site(pages) as url:
        yield url


def test_widget_on_a_third_party_page_answers_with_a_clickable_citation(page, site, service):
    expected = service.answer(PRISON_QUESTION).citations[0]
    page.goto(f"{site}/widget.html")
    launcher = page.locator("report-rag-widget .launcher")
    assert launcher.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(122, 31, 92)"
    assert page.locator("report-rag-widget iframe").count() == 0  # the chat loads on first open
    launcher.click()
    assert page.locator("report-rag-widget .bar span").inner_text() == "Ask the TIP report"
    chat = page.frame_locator("report-rag-widget iframe")
    expect(chat.locator("#rr-report .token")).to_have_text([expected.chunk.title])  # data-report picked it
    ask(chat, PRISON_QUESTION)
    link = chat.locator(CITATION_LINK).first
    link.wait_for()
    assert link.inner_text() == f"[{expected.n}]"
    link.click()
    active = chat.locator(f".rr-card.rr-active#rr-src-0-{expected.n}")
    assert active.locator("mark").inner_text() == expected.quote
    assert "Supported" in active.inner_text() and f"paragraph {expected.chunk.paragraph}" in active.inner_text()


def test_markup_in_questions_and_reports_never_runs(page, app_url):
    page.goto(app_url)
    header = page.locator("#rr-header")
    header.wait_for()
    assert EVIL_TITLE in header.inner_text()
    question = f'<img src=x onerror="window.__pwned = 3"><script>window.__pwned = 4</script> {PRISON_QUESTION}'
    ask(page, question)
    expect(page.locator("#rr-sources")).to_contain_text("Sources for")  # the answer is complete
    assert question in page.locator("#rr-sources .rr-question").inner_text()
    user_message = page.locator("#rr-chat .message.user, #rr-chat [data-testid='user']").first
    assert '<img src=x onerror="window.__pwned = 3">' in user_message.inner_text()
    injected = "#rr-chat img[src='x'], #rr-header img[src='x'], #rr-sources img[src='x'], #rr-chat script"
    assert page.locator(injected).count() == 0
    page.wait_for_timeout(500)  # an onerror handler would have fired by now
    assert page.evaluate("() => window.__pwned") is None


def test_host_page_styles_are_unchanged_by_the_widget(page, site):
    page.goto(f"{site}/plain.html")
    before = page.evaluate(STYLE_PROBE)
    page.goto(f"{site}/widget.html")
    page.locator("report-rag-widget .launcher").click()
    page.frame_locator("report-rag-widget iframe").locator("#rr-question textarea").wait_for()
    after = page.evaluate(STYLE_PROBE)
    assert after == before
    assert page.evaluate("() => document.styleSheets.length") == 1  # only the page's own sheet
    launcher = page.locator("report-rag-widget .launcher")
    # The page's `button` rule does not reach the widget's button either.
    assert launcher.evaluate("el => getComputedStyle(el).borderRadius") == "50%"
    assert launcher.evaluate("el => getComputedStyle(el).boxSizing") == "border-box"


def test_plain_iframe_and_web_component_embeds_work(page, site, service):
    page.goto(f"{site}/iframe.html")
    frame = page.frame_locator("iframe")
    ask(frame, PRISON_QUESTION)
    frame.locator(CITATION_LINK).first.wait_for()

    page.goto(f"{site}/component.html")
    app = page.locator("gradio-app")
    ask(app, PRISON_QUESTION)
    app.locator(CITATION_LINK).first.click()
    first = service.answer(PRISON_QUESTION).citations[0]
    assert app.locator(".rr-card.rr-active mark").inner_text() == first.quote


def test_chat_fits_a_phone_screen(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(app_url)
        ask(page, PRISON_QUESTION)
        page.locator(CITATION_LINK).first.wait_for()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        chat_box = page.locator("#rr-chat").bounding_box()
        sources_box = page.locator("#rr-sources").bounding_box()
        assert chat_box and sources_box and sources_box["y"] >= chat_box["y"] + chat_box["height"]  # stacked
    finally:
        context.close()


def test_clear_chat_and_examples(page, app_url):
    page.goto(app_url)
    example = page.locator("#rr-chat").get_by_text(re.compile("prison camp inmates"))
    example.first.click()
    page.locator(CITATION_LINK).first.wait_for()
    assert "Sources for" in page.locator("#rr-sources").inner_text()
    page.locator("#rr-export").get_by_text("Copy or export this answer").click()
    expect(page.locator("#rr-md")).to_contain_text("**Answer:** The report says: “")
    expect(page.locator("#rr-md")).to_contain_text("logging, mining, and tending crops.” [2]")
    expect(page.locator("#rr-json")).to_contain_text('"quote_start"')
    page.locator("#rr-clear").click()
    page.locator(CITATION_LINK).first.wait_for(state="detached")
    assert "Sources appear here" in page.locator("#rr-sources").inner_text()


def test_widget_position_and_initial_state_come_from_data_attributes(page, site):
    page.goto(f"{site}/left-open.html")
    panel = page.locator("report-rag-widget .panel")
    expect(panel).to_be_visible()  # data-open="true"
    page.frame_locator("report-rag-widget iframe").locator("#rr-question textarea").wait_for()
    launcher = page.locator("report-rag-widget .launcher").bounding_box()
    assert launcher and launcher["x"] < 100  # data-position="bottom-left"
    assert page.locator("report-rag-widget .bar span").inner_text() == "Ask the report"  # the default title
    page.locator("report-rag-widget .close").click()
    expect(panel).to_be_hidden()


def test_too_long_question_is_refused_with_the_limit_and_kept(page, app_url):
    page.goto(app_url)
    long_question = "Why " * 600
    box = page.locator("#rr-question textarea")
    box.fill(long_question)
    box.press("Enter")
    expect(page.locator(".toast-body").first).to_contain_text("the limit is 2000")
    assert box.input_value() == long_question  # nothing typed is lost
    assert page.locator("#rr-chat .message").count() == 0


def test_report_filter_limits_the_sources_to_the_chosen_report(page, app_url):
    page.goto(app_url)
    page.locator("#rr-report input").click()
    page.get_by_role("option", name=EVIL_TITLE).click()
    ask(page, PRISON_QUESTION)
    page.locator(CITATION_LINK).first.wait_for()
    sources = page.locator("#rr-sources")
    expect(sources).to_contain_text("about tunnels")  # the quote from the chosen report
    assert EVIL_TITLE in sources.inner_text() and "<script>" in sources.inner_text()  # its markup shown as text
    assert "U.S. Department of State" not in sources.inner_text()
    assert page.evaluate("() => window.__pwned") is None


def test_the_sources_are_shown_before_the_answer_is_decided(browser, tmp_path):
    pipeline = replace(fake_pipeline(tmp_path), generator=SlowJudge(seconds=1.0))
    context = browser.new_context()
    page = context.new_page()
    try:
        with running(create_app(AnswerService(pipeline), Settings())) as url:
            page.goto(url)
            ask(page, PRISON_QUESTION)
            page.wait_for_function(READING_PROBE, timeout=20_000)
            page.locator(CITATION_LINK).first.wait_for(timeout=20_000)
            expect(page.locator("#rr-sources")).not_to_contain_text("Reading these passages")
    finally:
        context.close()


def test_follow_up_keeps_the_conversation_and_older_citations_stay_clickable(page, app_url, service):
    page.goto(app_url)
    ask(page, PRISON_QUESTION)
    expect(page.locator(CITATION_LINK)).to_have_count(2)  # two quoted sentences: the judge found both answer
    ask(page, "And what else do they endure there?")
    expect(page.locator("#rr-sources .rr-turn[data-turn='1']")).to_be_visible()
    assert PRISON_QUESTION in service.pipeline.generator.last_user_message  # the history reached the pipeline
    first = page.locator('#rr-chat a[href^="#rr-src-0-"]').first
    first.click()
    expect(page.locator("#rr-sources .rr-turn[data-turn='0']")).to_be_visible()
    expect(page.locator("#rr-sources .rr-turn[data-turn='1']")).to_be_hidden()
    href = first.get_attribute("href") or ""
    expect(page.locator(f"{href}.rr-active mark")).to_have_text(service.answer(PRISON_QUESTION).citations[0].quote)


FETCH_PROBE = """async (url) => {
  try { await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}); return "read"; }
  catch (err) { return "blocked"; }
}"""


def test_origins_outside_the_allow_list_can_neither_frame_nor_call_it(browser, service):
    closed = create_app(service, Settings(allowed_origins=("https://only.example",)))
    context = browser.new_context()
    page = context.new_page()
    try:
        with running(closed) as app, static_site({"/": host_page(app, f'<iframe src="{app}/"></iframe>')}) as site:
            page.goto(f"{site}/")
            assert page.evaluate(FETCH_PROBE, f"{app}/api/ask") == "blocked"
            page.wait_for_timeout(2000)
            assert page.frame_locator("iframe").locator("#rr-question").count() == 0
            # The same chat opened directly (its own origin) works.
            page.goto(f"{app}/")
            page.locator("#rr-question textarea").wait_for()
            assert page.evaluate(FETCH_PROBE, f"{app}/api/ask") == "read"
    finally:
        context.close()
