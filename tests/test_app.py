"""The app shell: navigation over the labs, the home page, and the command line's help."""
import re
import subprocess
import sys
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from core import checkpoints, paths
from core.speech import card as speech_card
from core.speech.card import training_data_summary as speech_training_data
from core.translation.evaluation import training_data_summary as translation_training_data
from core.vision.protocol import training_data_summary as vision_training_data
from tests.helpers import ARTIFACTS, assert_no_exception, run_lab, wait_for_app
from tests.screenshots import MAX_THUMBNAIL_BYTES


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


def home_captions() -> list[str]:
    app = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    return [caption.value for caption in app.caption]


@pytest.mark.parametrize("lab, task, model", [("vision", "cnn", "cnn/kmnist-maxpool"),
                                              ("translation", "mt", "mt/spa-eng-attn")])
def test_home_and_lab_say_the_same_about_what_a_model_learned_from(lab, task, model):
    """One voice about the models: the sentence comes from the card, through the lab package's own function."""
    summary = {"cnn": vision_training_data, "mt": translation_training_data}[task](checkpoints.read_card(model))
    assert summary in home_captions()
    assert summary in [caption.value for caption in run_lab(lab).caption]


def test_home_describes_the_speech_models_with_the_speech_labs_own_words():
    """The Speech lab captions each model with `column_caption`, which starts with `training_data_summary`."""
    captions = " ".join(home_captions())
    for name in checkpoints.list_checkpoints("asr"):
        card = checkpoints.read_card(name)
        assert speech_training_data(card) in captions
        assert speech_card.column_caption(card).startswith(speech_training_data(card))
    assert "real data" not in captions


def test_home_shows_a_small_picture_a_first_try_and_a_link_per_lab():
    app = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60).run()
    for lab in ["vision", "translation", "speech", "metrics", "theory"]:
        thumbnail = paths.ASSETS / "home" / f"{lab}.png"
        assert thumbnail.exists() and thumbnail.stat().st_size <= MAX_THUMBNAIL_BYTES, thumbnail
    assert len(app.get("image")) == len(app.get("page_link")) == 5
    assert sum("**Try first:**" in markdown.value for markdown in app.markdown) == 5
    assert len(app.expander) == 6  # where the models come from, and "what is this?" per lab


def test_the_served_app_was_warm_before_it_answered(app_url):
    """serve.py loads the models and transcribes the first example before Streamlit opens the port."""
    log = (ARTIFACTS / "streamlit.log").read_text()
    assert "Glassbox warm:" in log and "speech_example_s" in log
    assert log.index("Glassbox warm:") < log.index(app_url.rsplit(":", 1)[1])  # the URL Streamlit prints once it listens
