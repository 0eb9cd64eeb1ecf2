"""Screenshots of the running app: the home page's lab thumbnails (assets/home/) and whole pages for review.

    python -m tests.screenshots thumbnails          # regenerate assets/home/*.png from a fresh `streamlit run`
    python -m tests.screenshots pages NAME          # test-artifacts/NAME-{desktop,phone}-{page}.png

Each thumbnail is one chart of a lab's most telling view, cut from the page at 1400 px, shrunk to THUMBNAIL_WIDTH
and stored as a palette PNG (well under MAX_THUMBNAIL_BYTES), so the home page needs no network and no model run.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile

from PIL import Image
from playwright.sync_api import sync_playwright

from tests.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import ARTIFACTS, REPO, free_port, serve, wait_for_app

THUMBNAILS = REPO / "assets" / "home"
THUMBNAIL_WIDTH = 480
MAX_THUMBNAIL_BYTES = 60_000
DESKTOP, PHONE = {"width": 1400, "height": 1800}, {"width": 390, "height": 3200}
TALL = 3  # lab pages are shot this many times as tall: Streamlit scrolls inside its own container
MAX_ASPECT = 0.6  # a thumbnail is at most this high for its width: a tall chart is cut to its top
CHART = '[data-testid="stPlotlyChart"]'
# lab -> (address, text the page shows when done, CSS selector of the telling view, index among matches)
VIEWS = {
    "vision": ("vision", "strided predicts", CHART, 1),  # max-pool's activation maps
    "translation": ("translation", "Where the attention model looked", CHART, 0),  # the attention heatmap
    "speech": ("speech", "Cross-attention", CHART, 5),  # cross-attention under the spectrogram
    "metrics": ("metrics", "Alignment", CHART, 2),  # the character alignment
    "theory": ("theory", "Convolution as a matrix", CHART, 0),  # the convolution matrix
}
PAGES = {"home": ("", "Glassbox"), "vision": ("vision", "strided predicts"),
         "translation": ("translation", "Where the attention model looked"), "metrics": ("metrics", "Alignment"),
         "theory": ("theory", "Convolution as a matrix")}


def shrink_to_png(screenshot: bytes, width: int = THUMBNAIL_WIDTH, colours: int = 96) -> bytes:
    """A screenshot scaled to `width` and quantised to a palette: small enough to ship in the repository."""
    image = Image.open(io.BytesIO(screenshot)).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, round(image.width * MAX_ASPECT))))
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.quantize(colours, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


def open_page(browser, url: str, viewport: dict, done_text: str):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(url)
    wait_for_app(page, done_text, timeout_ms=240_000)
    return context, page


def write_thumbnails(browser, base_url: str, labs: list[str]) -> None:
    THUMBNAILS.mkdir(parents=True, exist_ok=True)
    for lab in labs:
        address, done_text, selector, index = VIEWS[lab]
        context, page = open_page(browser, f"{base_url}/{address}", DESKTOP, done_text)
        view = page.locator(selector).nth(index)
        view.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)  # plotly draws after the element appears
        png = shrink_to_png(view.screenshot())
        (THUMBNAILS / f"{lab}.png").write_bytes(png)
        print(f"{THUMBNAILS / f'{lab}.png'}: {len(png):,} bytes")
        context.close()


def write_pages(browser, base_url: str, name: str, pages: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for page_name in pages:
        address, done_text = PAGES[page_name]
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            if page_name != "home":
                viewport = {**viewport, "height": viewport["height"] * TALL}
            context, page = open_page(browser, f"{base_url}/{address}", viewport, done_text)
            path = ARTIFACTS / f"{name}-{device}-{page_name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(path)
            context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["thumbnails", "pages"])
    parser.add_argument("name", nargs="?", default="after", help="file name prefix for `pages`")
    parser.add_argument("--only", nargs="*", help="labs (thumbnails) or pages to shoot; default all")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
               "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    home = tempfile.mkdtemp(prefix="glassbox-chromium-home-")
    with serve(command, port, "/_stcore/health", "screenshots-streamlit.log", expect=b"ok") as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                                             env={**os.environ, "HOME": home})
        if args.what == "thumbnails":
            write_thumbnails(browser, url, args.only or list(VIEWS))
        else:
            write_pages(browser, url, args.name, args.only or list(PAGES))
        browser.close()


if __name__ == "__main__":
    main()
