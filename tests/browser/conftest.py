"""Every test here drives headless Chromium: marked `browser`, left out of `make test-fast`."""

import pytest

from tests.browser.support import browser_page, chromium


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    with browser_page(browser) as p:
        yield p
