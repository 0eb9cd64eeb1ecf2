"""Translation lab page: AppTest for its logic with the shipped checkpoints, one browser test as a user would use it."""
import pytest
from playwright.sync_api import expect

from core.translation.data import example_pairs
from core.translation.inference import load_translator
from tests.helpers import assert_no_exception, run_lab, wait_for_app


def run_page():
    return run_lab("translation", timeout=90)


def translations(app) -> list[str]:
    return [metric.value for metric in app.metric]


def test_page_opens_on_a_test_sentence_with_both_models_and_all_figures():
    app = run_page()
    assert not app.exception
    first = example_pairs(8)[0]
    assert app.text_input(key="spanish").value == first.spanish
    assert [metric.label for metric in app.metric] == ["greedy", "beam 4", "greedy", "beam 4"]
    attention_model = load_translator("mt/spa-eng-attn")
    assert translations(app)[2] == attention_model.translate(first.spanish).translation
    assert len(app.get("plotly_chart")) == 2  # attention heatmap and training curves
    table = app.dataframe[0].value
    assert {"student report (AfonsoAlemao), with attention", "Glassbox, with attention"} <= set(table["model"])
    assert len(table) == 6 + 6  # ours: 2 models x 3 decodings; six student reports


def test_clicking_an_example_translates_it():
    app = run_page()
    example = example_pairs(8)[5]
    app.button(key="example-5").click().run()
    assert app.text_input(key="spanish").value == example.spanish
    plain = load_translator("mt/spa-eng-noattn")
    assert translations(app)[0] == plain.translate(example.spanish).translation


def test_typed_sentence_reports_normalisation_and_unknown_characters():
    app = run_page()
    app.text_input(key="spanish").input("¿Dónde está mi libro 2?").run()
    assert not app.exception
    assert "`donde esta mi libro 2 ?`" in app.info[0].value and "'ó' -> 'o'" in app.info[0].value
    assert "leading ␣ where '¿' or '¡' stands" in app.info[0].value  # why the heatmap's first column is a space
    assert "'2'" in app.warning[0].value and "<unk>" in app.warning[0].value
    assert len(translations(app)) == 4


def test_each_example_shows_its_reference_beside_the_outputs():
    app = run_page()
    for index in (0, 5):
        app.button(key=f"example-{index}").click().run()
        example = example_pairs(8)[index]
        shown = [markdown.value for markdown in app.markdown if markdown.value.startswith("**Reference**")]
        assert shown == [f"**Reference** (a person's translation, from the test split): `{example.english}`"]


def test_a_question_with_or_without_its_marks_translates_the_same():
    app = run_page()
    app.text_input(key="spanish").input("¿Dónde está la estación?").run()
    accented = translations(app)
    app.text_input(key="spanish").input("donde esta la estacion ?").run()
    assert translations(app) == accented


def test_too_long_text_is_refused_in_words_not_cut_silently():
    app = run_page()
    assert app.text_input(key="spanish").proto.max_chars == 0  # no silent cut in the browser
    app.text_input(key="spanish").input("hola " * 50).run()
    assert not app.exception
    assert "more than the 50 these models can read" in app.error[0].value
    assert translations(app) == []


def test_empty_input_shows_an_error_not_a_traceback():
    app = run_page()
    app.text_input(key="spanish").input("   ").run()
    assert not app.exception
    assert "nothing to translate" in app.error[0].value
    assert translations(app) == []


def test_step_slider_and_beam_width_drive_the_heatmap():
    app = run_page()
    app.slider[0].set_value(6).run()  # beam width
    assert [metric.label for metric in app.metric] == ["greedy", "beam 6", "greedy", "beam 6"]
    app.radio(key="heatmap_decoding").set_value("beam 6").run()
    steps = app.slider(key="step")
    assert steps.max == len(load_translator("mt/spa-eng-attn").translate(app.text_input(key="spanish").value, 6).output_tokens)
    steps.set_value(steps.max).run()
    assert any("writing **<eos>**" in markdown.value for markdown in app.markdown)


def test_single_model_choice_hides_the_other():
    app = run_page()
    app.multiselect[0].set_value(["mt/spa-eng-noattn"]).run()
    assert len(app.metric) == 2
    assert any("Add the model with attention" in info.value for info in app.info)


@pytest.mark.browser
def test_user_translates_a_sentence_and_inspects_attention(page, app_url):
    page.goto(f"{app_url}/translation")
    page.get_by_text("Where the attention model looked").wait_for(timeout=90_000)
    wait_for_app(page)
    example = example_pairs(8)[2]
    page.get_by_role("button", name=example.spanish, exact=True).click()
    box = page.get_by_label("Spanish", exact=True)
    expect(box).to_have_value(example.spanish, timeout=60_000)
    wait_for_app(page)
    box.fill("")
    box.press("Enter")
    page.get_by_text("nothing to translate").wait_for(timeout=60_000)
    assert_no_exception(page)
    box.fill("¿Tengo 3 perros?")
    box.press("Enter")
    page.get_by_text("never saw these characters").wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(4, timeout=30_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=30_000)
