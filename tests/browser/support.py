"""Servers and a browser for the web tests: the app on a free port, third-party pages on another."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench.processes import free_port

CHROMIUM = Path("/usr/bin/chromium")
# axe-core, pinned in tests/browser/package.json; `make browser` installs it (npm ci).
AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
# Gradio fades updated outputs in: colours read mid-fade are not the page's, so finite animations and
# transitions end first (5 s at most; spinners run forever and are not waited for).
AXE_RUN = """async (context) => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const ending = document.getAnimations().filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  const settled = Promise.all(ending.map((a) => a.finished.catch(() => null)));
  await Promise.race([settled, new Promise((done) => setTimeout(done, 5000))]);
  return (await axe.run(context || document, { iframes: false })).violations;
}"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def static_site(pages: Mapping[str, str]) -> Iterator[str]:
    """A third-party site on its own port serving `pages` (path -> HTML); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: REPORT_RAG_SCREENSHOTS when set (to refresh docs/), else `default`."""
    return Path(os.environ.get("REPORT_RAG_SCREENSHOTS") or default)


def axe_violations(scope: Any, context: Any = None) -> list[str]:
    """The serious and critical axe-core violations in a Playwright page or frame, one readable entry each.

    `context` narrows the check (an axe context, e.g. "report-rag-widget"; open shadow roots are
    included). Frames are not followed: check an iframe by passing its Frame. One entry reads
    `color-contrast (serious): Elements must meet minimum color contrast ratio thresholds [https://...]`
    followed by a line per failing node: `  #rr-send: Fix any of the following: Element has
    insufficient color contrast of 3.1 (foreground color: #ffffff, background color: #3b82f6, ...)`.
    """
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `make browser` installs it (npm ci --prefix tests/browser)")
    # Evaluated, not added as a <script>: it works in cross-origin frames and under any page CSP.
    if not scope.evaluate("() => typeof window.axe !== 'undefined'"):
        scope.evaluate(AXE_JS.read_text(encoding="utf-8") + "\nvoid 0")
    violations = scope.evaluate(AXE_RUN, context)
    return [_describe(v) for v in violations if v["impact"] in BLOCKING_IMPACTS]


def _describe(violation: Mapping[str, Any]) -> str:
    """One axe violation: the rule, its impact and help, then each failing node and how to fix it."""
    lines = [f"{violation['id']} ({violation['impact']}): {violation['help']} [{violation['helpUrl']}]"]
    for node in violation["nodes"]:
        # A step into a shadow root is a list of selectors; joined with spaces, Playwright finds it as is.
        where = " >> ".join(" ".join(step) if isinstance(step, list) else step for step in node["target"])
        lines.append(f"  {where}: {' '.join(node.get('failureSummary', '').split())}")
    return "\n".join(lines)


@contextmanager
def browser_page(browser: Any, viewport: Mapping[str, int] | None = None, **context: Any) -> Iterator[Any]:
    """A page in a fresh browser context (1200x900 unless told), waiting up to 30 s for anything."""
    ctx = browser.new_context(viewport=dict(viewport or {"width": 1200, "height": 900}), **context)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        ctx.close()


def ask(scope: Any, question: str) -> None:
    """Type a question in the chat (a page or a frame) and send it."""
    box = scope.locator("#rr-question textarea")
    box.fill(question)
    box.press("Enter")
