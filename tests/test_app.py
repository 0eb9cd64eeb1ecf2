"""The app shell: navigation over the labs, the home page, and the command line's help."""
import re
import subprocess
import sys
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from core import paths
from tests.helpers import assert_no_exception, wait_for_app


def test_home_page_describes_every_lab_in_the_navigation():
    app = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    titles = re.findall(r'st\.Page\([^)]*title="([^"]+)"', (paths.REPO_ROOT / "app.py").read_text())
    assert "Vision lab" in titles
    home_text = " ".join(header.value for header in app.subheader)
    for title in titles:
        assert title == "Home" or title in home_text, f"the home page says nothing about {title}"


def test_the_served_app_neither_watches_files_nor_shows_tracebacks():
    config = tomllib.loads((paths.REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize("verb", [[], ["train", "cnn"], ["evaluate"], ["classify"]])
def test_every_verb_has_help(verb):
    result = subprocess.run([sys.executable, "-m", "core", *verb, "--help"], cwd=paths.REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: python -m core" in result.stdout


def test_evaluating_a_missing_model_is_a_clear_error_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "core", "evaluate", "cnn/no-such-model"], cwd=paths.REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "No model card for 'cnn/no-such-model'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.browser
def test_browser_home_links_to_the_vision_lab(app_url, page):
    page.goto(app_url)
    wait_for_app(page, "Glassbox")
    assert_no_exception(page)
    page.get_by_role("link", name="Open the Vision lab").click()
    wait_for_app(page, "strided predicts")
    assert page.url.rstrip("/").endswith("/vision")
    assert_no_exception(page)


@pytest.mark.browser
def test_browser_a_lab_opened_by_its_own_address_keeps_the_app_navigation(app_url, page):
    """Regression: with a pages/ folder beside app.py, Streamlit's legacy mode served /metrics without app.py."""
    page.goto(f"{app_url}/metrics")
    wait_for_app(page, "Metrics lab")
    navigation = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Vision lab" in navigation and "Speech lab" in navigation
    assert "app" not in navigation.split()
