"""Shared fixtures: a real `streamlit run` on 127.0.0.1 and a headless Debian chromium driven by playwright."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from core.bench_app import CHROMIUM, CHROMIUM_FLAGS  # the browser `bench app` drives, launched the same way
from tests.helpers import ARTIFACTS, free_port, serve


@pytest.fixture(scope="session")
def app_url():
    """Start the app as `make run` does (warm, through serve.py) and wait for Streamlit's health endpoint."""
    port = free_port()
    command = [sys.executable, "serve.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with serve(command, port, "/_stcore/health", "streamlit.log", timeout_s=240, expect=b"ok") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    home = tempfile.mkdtemp(prefix="glassbox-chromium-home-")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, env={**os.environ, "HOME": home}
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A tall page (Streamlit scrolls inside its own container); a screenshot is kept after each test."""
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
