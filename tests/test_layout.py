"""The first ten minutes on a desktop (1400 px) and a phone (390 px): every label whole, no sideways scrolling, wide
enough heatmaps, the score table readable, and nothing fetched from outside the app."""
import pytest

from core.checkpoints import list_checkpoints
from tests.helpers import ARTIFACTS, assert_no_exception, wait_for_app

PAGES = {"": "Try first", "vision": "strided predicts", "translation": "Where the attention model looked",
         "metrics": "Why they disagree", "theory": "Softmax attention vs its linear approximation",
         "speech": "Where each decoder listened"}
VIEWPORTS = {"desktop": {"width": 1400, "height": 2600}, "phone": {"width": 390, "height": 6000}}
HEATMAP_PAGES = {"vision", "translation", "metrics", "theory", "speech"}

# Labels of the main controls and metrics whose text is cut off (ellipsis or hidden overflow), if any.
CUT_LABELS = """() => [...document.querySelectorAll(
    '[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] div,'
    + ' [data-testid="stButtonGroup"] button p, [data-testid="stBaseButton-secondary"] p, [data-testid="stExpander"] summary p')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0)
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""
# Widths of the shown plotly charts that draw a heatmap (those in a closed tab have none).
HEATMAP_WIDTHS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
  .filter(chart => chart.querySelector('.hm, .heatmaplayer image, g.hm'))
  .map(chart => chart.getBoundingClientRect().width).filter(width => width > 0)"""
SIDEWAYS = """() => { const main = document.querySelector('[data-testid="stMain"]');
  return main.scrollWidth - main.clientWidth; }"""


@pytest.fixture
def device_page(browser, request, app_url):
    """A page at the parametrized viewport that records every request leaving 127.0.0.1."""
    viewport = VIEWPORTS[request.node.callspec.params["device"]]
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.outside = []
    page.on("request", lambda call: page.outside.append(call.url)
            if not call.url.startswith((app_url, "data:", "blob:")) else None)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("device", list(VIEWPORTS))
@pytest.mark.parametrize("address", list(PAGES))
def test_a_newcomer_can_read_every_page_on_a_desktop_and_a_phone(device_page, app_url, address, device):
    device_page.goto(f"{app_url}/{address}")
    wait_for_app(device_page, PAGES[address], timeout_ms=180_000)
    device_page.wait_for_timeout(1500)  # plotly draws after its element appears
    assert_no_exception(device_page)
    assert device_page.evaluate(CUT_LABELS) == []
    assert device_page.evaluate(SIDEWAYS) <= 1, "the page scrolls sideways"
    if address in HEATMAP_PAGES:
        widths = device_page.evaluate(HEATMAP_WIDTHS)
        assert widths and min(widths) >= 320, widths
    if address == "metrics":
        table = device_page.locator('[data-testid="stPlotlyChart"]', has_text="each metric's ranking")
        box, window = table.bounding_box(), device_page.viewport_size
        assert box["x"] >= 0 and box["x"] + box["width"] <= window["width"]
        assert table.get_by_text("1.000").count() >= 4  # the score cells' numbers are drawn, not cut
        assert table.get_by_text("18", exact=True).count() == 1  # an edit count as a whole number
    if address == "speech":  # the model chooser names every model whole (a multiselect's chips had cut the last)
        for name in list_checkpoints("asr"):  # ... and wraps them on a phone rather than scroll them out of sight
            pill = device_page.locator('[data-testid="stButtonGroup"] button', has_text=f"({name.split('/')[1]})")
            assert pill.count() == 1 and pill.bounding_box()["x"] + pill.bounding_box()["width"] <= VIEWPORTS[device]["width"]
    assert device_page.outside == [], f"fetched from outside the app: {device_page.outside[:5]}"
