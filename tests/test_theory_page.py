"""Theory lab page: AppTest for its logic, one browser test that changes the image as a user would."""
import pytest
from playwright.sync_api import expect

from tests.helpers import assert_no_exception, metric_values, run_lab, wait_for_app


def test_default_page_verifies_both_identities_and_times_attention_on_request():
    app = run_lab("theory", timeout=180)
    assert not app.exception and not app.error
    values = metric_values(app)
    assert float(values["max |A·vec(x) − conv(x)|"]) < 1e-9
    assert float(values["max |attention(Px) − P·attention(x)|"]) < 1e-9
    assert values["Feature dimension M = Σₙ C(n+D−1, D−1)"] == "165"
    assert "Measured crossover length L" not in values  # the timing is a demonstration on request, not every visit
    assert len(app.get("plotly_chart")) == 8
    timing_button = next(button for button in app.button if button.label.startswith("Measure time"))
    timing_button.click().run(timeout=120)
    assert "Measured crossover length L" in metric_values(app)
    assert len(app.get("plotly_chart")) == 9


def test_filter_larger_than_image_shows_an_error_and_the_rest_still_runs():
    app = run_lab("theory", timeout=180)
    inputs = {element.label: element for element in app.number_input}
    inputs["M (filter rows)"].set_value(6).run()
    assert "does not fit" in app.error[0].value
    assert not app.exception
    assert "max |attention(Px) − P·attention(x)|" in metric_values(app)


def test_lower_order_means_fewer_features_and_a_larger_error():
    app = run_lab("theory", timeout=180)
    before = float(metric_values(app)["Mean error at K = 3"])
    sliders = {element.label: element for element in app.slider}
    sliders["K (McLaurin order)"].set_value(1).run()
    values = metric_values(app)
    assert values["Feature dimension M = Σₙ C(n+D−1, D−1)"] == "9"
    assert float(values["Mean error at K = 1"]) > before


def test_the_largest_settings_stay_within_the_budget_and_say_so():
    app = run_lab("theory", timeout=180)
    sliders = {element.label: element for element in app.slider}
    sliders["D (query/key dimension)"].set_value(16)
    sliders["K (McLaurin order)"].set_value(6)
    selects = {element.label: element for element in app.select_slider}
    selects["L for the error"].set_value(1024)
    selects["longest L timed"].set_value(4096).run(timeout=60)
    assert not app.exception
    assert metric_values(app)["Mean error at K = 6"] == "over budget"
    assert any("timing stops at L" in info.value for info in app.info) or not any(
        button.label.startswith("Measure time") for button in app.button)


@pytest.mark.browser
def test_user_switches_to_a_gradient_image(page, app_url):
    page.goto(f"{app_url}/theory")
    page.get_by_text("Mean error at K = 3").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    page.get_by_role("combobox", name="Image").click()
    page.get_by_role("option", name="gradient").click()
    expect(page.get_by_label("KMNIST test index")).to_be_disabled(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert page.get_by_role("combobox", name="Image").input_value() == "gradient"
    # Elements of the previous run linger while the new one draws: wait for the page to settle.
    expect(page.get_by_text("Permuting first or after gives the same")).to_have_count(1, timeout=60_000)  # its title wraps for phones
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(8, timeout=60_000)
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(4, timeout=60_000)
    assert_no_exception(page)
