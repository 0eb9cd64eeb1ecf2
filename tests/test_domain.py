"""Out-of-domain warnings in the Vision lab: shown beside a prediction for a Latin letter, a photo and a one-pixel
image, and not for a real Kuzushiji character."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core import paths
from core.vision import domain
from core.vision.data import KMNIST_DIR_NAME, PreparedImage
from tests.helpers import run_lab


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def latin_letter() -> Image.Image:
    """A dark Latin 'A' on white paper, in Pillow's own font (the same on every machine)."""
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).text((100, 100), "A", font=ImageFont.load_default(size=150), fill=0, anchor="mm")
    return image


def photo_like(side: int = 256, seed: int = 0) -> Image.Image:
    """Smooth colour gradients with correlated noise: a photo's statistics, no character in it."""
    rows, columns = np.mgrid[0:side, 0:side] / side
    noise = np.cumsum(np.cumsum(np.random.default_rng(seed).normal(0, 1, (side, side)), 0), 1)
    grey = 120 + 80 * np.sin(3 * columns + 1) * np.cos(2 * rows) + 40 * rows + 25 * (noise - noise.mean()) / noise.std()
    channels = [np.clip(grey + shift, 0, 255) for shift in (20, 0, -30)]
    return Image.fromarray(np.stack(channels, -1).astype(np.uint8), "RGB")


OUT_OF_DOMAIN = {"latin-letter.png": latin_letter, "photo.png": photo_like,
                 "one-pixel.png": lambda: Image.new("RGB", (1, 1), (200, 30, 30))}


def test_the_stored_ranges_are_those_of_the_kmnist_test_images():
    images = np.load(paths.SHARED_DATA / KMNIST_DIR_NAME / "kmnist-test-imgs.npz")["arr_0"]
    refitted = domain.fit_ranges(images)
    for key, (low, high) in domain.KMNIST_RANGES.items():
        assert refitted[key] == pytest.approx((low, high), abs=0.0015), key
    flagged = sum(bool(domain.input_warnings(PreparedImage(image, (28, 28), "L", False))) for image in images)
    assert flagged / len(images) < 0.01  # the false-alarm rate on the characters themselves


def test_confidence_and_disagreement_warnings_are_sentences_or_none():
    assert domain.confidence_warning(0.97) is None
    assert "Only 46% sure" in domain.confidence_warning(0.46)
    assert domain.disagreement_warning({"maxpool": "き (ki)", "strided": "き (ki)"}) is None
    assert "maxpool says き (ki), strided says ま (ma)" in domain.disagreement_warning(
        {"maxpool": "き (ki)", "strided": "ま (ma)"})


def upload_image(name: str, data: bytes):
    app = run_lab("vision")
    app.radio(key="image_source").set_value("Upload your own").run()
    return app.file_uploader(key="image_upload").set_value((name, data, "image/png")).run()


@pytest.mark.parametrize("name", list(OUT_OF_DOMAIN))
def test_an_image_unlike_the_training_data_gets_a_warning_beside_its_prediction(name):
    app = upload_image(name, png(OUT_OF_DOMAIN[name]()))
    assert not app.exception
    assert [metric.label for metric in app.metric][:2] == ["maxpool predicts", "strided predicts"]
    assert all(metric.value for metric in app.metric[:2])  # the prediction stays
    assert len(app.get("progress")) >= 2  # confidence as a plain bar
    assert app.warning, f"no warning for {name}"


def test_a_kmnist_test_character_gets_no_warning():
    app = run_lab("vision")
    assert [metric.label for metric in app.metric][:2] == ["maxpool predicts", "strided predicts"]
    assert not app.warning
