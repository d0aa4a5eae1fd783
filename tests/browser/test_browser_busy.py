"""A visitor arriving while the server is busy is told so in the chat, keeps the question, and can resend it."""

import threading
from dataclasses import replace

import httpx
from playwright.sync_api import expect

from rag.settings import Settings
from tests.browser.support import chromium, running
from tests.fakes import PRISON_QUESTION, HeldGenerator, fake_pipeline
from ui.app import create_app
from ui.service import AnswerService


def test_a_busy_server_says_so_in_the_chat_and_the_question_can_be_sent_again(tmp_path):
    generator = HeldGenerator("Yes")
    service = AnswerService(replace(fake_pipeline(tmp_path), generator=generator), max_waiting=0)
    with running(create_app(service, Settings())) as url, chromium() as browser:
        holder = threading.Thread(
            target=lambda: httpx.post(f"{url}/api/ask", json={"question": PRISON_QUESTION}, timeout=60), daemon=True
        )
        holder.start()
        assert generator.started.wait(20)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(url)
            box = page.locator("#rr-question textarea")
            box.fill(PRISON_QUESTION)
            box.press("Enter")
            expect(page.locator("#rr-chat")).to_contain_text("The server is busy")
            expect(box).to_have_value(PRISON_QUESTION)

            generator.gate.set()
            holder.join(30)
            page.locator("#rr-send").click()
            page.locator('#rr-chat a[href^="#rr-src-"]').first.wait_for()
            expect(page.locator("#rr-chat")).not_to_contain_text("The server is busy")
        finally:
            generator.gate.set()
            page.context.close()
