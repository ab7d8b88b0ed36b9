"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``,
headless, ``--no-sandbox``) against a Moorage server started for the module.

Screenshots go to ``test-artifacts/portal/`` at the top of the checkout (override with
``MOORAGE_TEST_ARTIFACTS``), kept after the run as the suite's artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.common.servers import Server, start_moorage

CHROMIUM = os.environ.get("MOORAGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MOORAGE_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts" / "portal"))

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - playwright is a test dependency
    sync_playwright = None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None or not shutil.which(CHROMIUM):
        pytest.skip(f"playwright or {CHROMIUM} missing (apt install chromium; pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_moorage(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()
