"""Metrics lab page: AppTest for its logic, one browser test that loads a preset as a user would."""
import pytest

from core import metrics
from core.speech import vocabulary
from tests.helpers import assert_no_exception, metric_values, run_lab, wait_for_app


def test_page_opens_on_the_speech_example_with_every_score():
    app = run_lab("metrics", timeout=60)
    assert not app.exception
    assert app.text_area(key="reference").value == metrics.SPEECH_EXAMPLE.reference
    values = metric_values(app)
    assert set(values) == {info.label for info in metrics.METRICS}
    assert values["Levenshtein distance"] == "7"
    scores = metrics.every_score(metrics.SPEECH_EXAMPLE.hypothesis, metrics.SPEECH_EXAMPLE.reference, vocabulary.encode)
    assert values["WER (jiwer)"] == f"{scores['wer']:.4f}"
    assert len(app.get("plotly_chart")) == 4
    assert any("1 transpositions" in caption.value for caption in app.caption)


def test_loading_a_preset_fills_both_boxes_and_rescores():
    app = run_lab("metrics", timeout=60)
    app.selectbox(key="example").select("reordering (preset)").run()
    assert app.text_area(key="hypothesis").value == "comparatively modern in being."
    values = metric_values(app)
    assert values["Jaccard similarity"] == "1.0000" and values["WER (jiwer)"] == "1.0000"


def test_typed_hypothesis_is_scored_and_empty_reference_is_explained():
    app = run_lab("metrics", timeout=60)
    app.text_area(key="hypothesis").input(metrics.SPEECH_EXAMPLE.reference).run()
    assert metric_values(app)["Levenshtein distance"] == "0"
    app.text_area(key="reference").input("   ").run()
    assert not app.exception
    assert "reference" in app.error[0].value


def test_a_text_too_long_to_align_gets_the_limit_not_a_stall():
    app = run_lab("metrics", timeout=60)
    app.text_area(key="hypothesis").input("ab" * metrics.MAX_ALIGNED_CHARACTERS).run(timeout=10)
    assert not app.exception
    assert f"up to {metrics.MAX_ALIGNED_CHARACTERS:,} characters" in app.error[0].value
    assert not app.get("plotly_chart")


@pytest.mark.browser
def test_user_loads_the_transposition_preset(page, app_url):
    page.goto(f"{app_url}/metrics")
    page.get_by_text("Every score, and what it ignores").wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_label("Load an example").click()
    page.get_by_role("option", name="transposition (preset)").click()
    page.get_by_text("2 transpositions").wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_label("Hypothesis").input_value() == "in bieng comparatively modren."
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 4
    assert_no_exception(page)
