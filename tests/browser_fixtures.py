"""Helpers for the browser tests: the system's Chromium driven by Playwright (async API).

Every test module has these fixtures (``pytest_plugins`` in ``tests/conftest.py``):

- ``browser``: a headless Chromium (the system's ``chromium``, found on ``PATH``; Playwright's own
  browser download is not used). Fails, never skips, when Chromium is missing. While it runs,
  Playwright's ``expect`` assertions wait up to :data:`EXPECT_TIMEOUT_MS` (the machine may be busy).
- :data:`ARTIFACTS`: where browser tests put screenshots (``out/test-artifacts``, git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import REPO

ARTIFACTS = REPO / "out" / "test-artifacts"
EXPECT_TIMEOUT_MS = 30_000
PLAYWRIGHT_EXPECT_DEFAULT_MS = 5_000
# The machine's network may be closed: without the background-networking switches Chromium stalls
# on refused connections to its update and sync services.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str:
    """The system's Chromium (``chromium`` or ``chromium-browser`` on ``PATH``); fails the test if absent."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed (apt-get install chromium; .ci/run does it)")


@pytest.fixture(name="browser")
async def browser_fixture() -> AsyncIterator[Browser]:
    """A headless Chromium, closed at the end of the test."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        try:
            yield browser
        finally:
            expect.set_options(timeout=PLAYWRIGHT_EXPECT_DEFAULT_MS)
            await browser.close()
