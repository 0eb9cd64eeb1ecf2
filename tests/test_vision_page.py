"""The Vision lab page: AppTest for its logic, and a real browser clicking through it."""
import io

import pytest
from PIL import Image

from core.vision.inference import load_examples
from tests.helpers import assert_no_exception, run_lab, wait_for_app


def _run():
    return run_lab("vision")


def test_both_variants_predict_the_example_side_by_side():
    app = _run()
    assert not app.exception
    labels = [metric.label for metric in app.metric]
    assert "maxpool predicts" in labels and "strided predicts" in labels
    assert any(metric.label == "maxpool: test accuracy" for metric in app.metric)


def test_choosing_another_example_changes_the_input():
    app = _run()
    last = load_examples("kmnist")[-1]
    app.selectbox[0].select_index(len(app.selectbox[0].options) - 1).run()
    assert not app.exception
    assert app.selectbox[0].value["file"] == last["file"]
    assert [metric.label for metric in app.metric][:2] == ["maxpool predicts", "strided predicts"]


@pytest.mark.parametrize("payload, message", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image", "not an image"),
])
def test_bad_uploads_show_a_message_not_a_traceback(payload, message):
    app = _run()
    app.radio(key="image_source").set_value("Upload your own").run()
    app.file_uploader(key="image_upload").set_value(("upload.bin", payload, "application/octet-stream")).run()
    assert not app.exception
    assert any(message in error.value for error in app.error)
    assert not app.metric  # nothing was classified


def test_an_uploaded_photo_like_image_is_classified():
    image = Image.new("RGB", (640, 480), "white")
    image.paste((20, 20, 20), (250, 100, 390, 380))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    app = _run()
    app.radio(key="image_source").set_value("Upload your own").run()
    app.file_uploader(key="image_upload").set_value(("photo.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not app.exception and not app.error
    assert [metric.label for metric in app.metric][:2] == ["maxpool predicts", "strided predicts"]


def test_octmnist_without_checkpoints_explains_how_to_get_them():
    app = _run()
    app.get("button_group")[0].set_value("octmnist").run()
    assert not app.exception
    assert any("not available" in warning.value for warning in app.warning)
    assert any("python -m core train cnn --preset octmnist" in markdown.value for markdown in app.markdown)


@pytest.mark.browser
def test_browser_user_clicks_through_the_vision_lab(app_url, page, tmp_path):
    page.goto(f"{app_url}/vision")
    wait_for_app(page, "strided predicts")
    assert_no_exception(page)
    assert page.get_by_text("maxpool predicts").is_visible()
    assert page.get_by_text("strided predicts").is_visible()
    assert page.locator(".js-plotly-plot").count() >= 3

    page.get_by_role("tab", name="Learning-rate sweep").click()
    assert page.get_by_text("Selected learning rate").is_visible()
    page.get_by_role("tab", name="Test results").click()
    assert page.get_by_text("maxpool: test accuracy").is_visible()

    page.get_by_text("Upload your own").click()
    wait_for_app(page, "Upload an image to classify it")
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("definitely not a picture")
    image_uploader = page.locator('[data-testid="stFileUploader"]', has_text="Any image")
    image_uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(not_an_image))
    page.get_by_text("This image cannot be used").wait_for(timeout=60_000)
    assert_no_exception(page)
