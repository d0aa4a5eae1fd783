"""Every test here drives headless Chromium: marked `browser`, left out of `make test-fast`."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
