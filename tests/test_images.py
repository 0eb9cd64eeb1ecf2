"""Image data: the KMNIST-10k split, downloads through pooch (against a local server), and user uploads."""
import hashlib
import http.server
import io
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from core import paths
from core.vision.data import load_kmnist_10k, load_octmnist, prepare_image, stratified_split
from core.errors import BadInputError, DataUnavailableError


def test_kmnist_10k_split_is_stratified_disjoint_and_seeded():
    data = load_kmnist_10k()
    assert data.sizes() == {"train": 8000, "val": 1000, "test": 1000}
    for split, per_class in (("train", 800), ("val", 100), ("test", 100)):
        assert np.bincount(data.splits[split][1], minlength=10).tolist() == [per_class] * 10
    labels = np.load(paths.SHARED_DATA / "kmnist" / "kmnist-test-labels.npz")["arr_0"]
    index = stratified_split(labels, {"train": 8000, "val": 1000, "test": 1000}, seed=0)
    assert not set(index["train"]) & set(index["test"]) and not set(index["val"]) & set(index["test"])
    assert np.array_equal(load_kmnist_10k().splits["test"][0], data.splits["test"][0])
    images, _ = data.tensors("train")
    assert images.shape == (8000, 1, 28, 28) and float(images.max()) == pytest.approx(255 / 256)
    assert data.class_names[0] == "お (o)"


@pytest.fixture
def local_server(tmp_path):
    """Serve tmp_path over HTTP on 127.0.0.1, as a stand-in for zenodo.org."""
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _small_medmnist_npz(folder):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 12), ("val", 4), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 4, (count, 1))
    path = folder / "octmnist.npz"
    np.savez_compressed(path, **arrays)
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_octmnist_downloads_through_pooch_and_checks_its_md5(local_server, tmp_path_factory):
    served, url = local_server
    path, md5 = _small_medmnist_npz(served)
    cache = tmp_path_factory.mktemp("cache")
    data = load_octmnist(cache_dir=cache, url=f"{url}/octmnist.npz", md5=md5)
    assert data.sizes() == {"train": 12, "val": 4, "test": 4}
    assert data.class_names[3] == "normal"
    assert (cache / "octmnist.npz").exists()
    with pytest.raises(DataUnavailableError, match="md5"):
        load_octmnist(cache_dir=tmp_path_factory.mktemp("other"), url=f"{url}/octmnist.npz", md5="0" * 32)


def test_unreachable_download_fails_fast_and_says_what_it_tried(tmp_path):
    with socket_that_refuses() as port:
        started = time.perf_counter()
        with pytest.raises(DataUnavailableError) as error:
            load_octmnist(cache_dir=tmp_path, url=f"http://127.0.0.1:{port}/octmnist.npz", md5="0" * 32)
    assert time.perf_counter() - started < 10
    message = str(error.value)
    assert f"127.0.0.1:{port}/octmnist.npz" in message and "109,309 images" in message and str(tmp_path) in message


class socket_that_refuses:
    """A port nothing listens on (bound, then closed), so connections are refused at once."""

    def __enter__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        return port

    def __exit__(self, *exc):
        return False


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_dark_drawing_on_white_paper_is_inverted_to_match_training():
    image = Image.new("RGB", (300, 200), "white")
    image.paste((0, 0, 0), (100, 50, 200, 150))
    prepared = prepare_image(_png(image))
    assert prepared.inverted and prepared.pixels.shape == (28, 28)
    assert prepared.pixels[14, 14] > 200 and prepared.pixels[0, 0] < 30
    assert not prepare_image(_png(image), invert=False).inverted


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "1", "CMYK", "F"])
def test_any_image_mode_becomes_28x28_uint8(mode):
    image = Image.new("L", (40, 60), 0)
    image.paste(200, (10, 10, 30, 50))
    converted = image.convert(mode) if mode not in ("I;16", "F") else Image.fromarray(
        (np.asarray(image).astype(np.uint16) * 257) if mode == "I;16" else np.asarray(image, dtype=np.float32))
    prepared = prepare_image(converted)
    assert prepared.pixels.shape == (28, 28) and prepared.pixels.dtype == np.uint8
    assert prepared.pixels.max() > 100


@pytest.mark.parametrize("payload, message", [
    (b"", "empty"),
    (b"this is a text file, not a picture", "not an image"),
    (_png(Image.new("L", (64, 64), 128))[:60], "damaged|not an image"),
])
def test_bad_uploads_get_a_clear_message(payload, message):
    with pytest.raises(BadInputError, match=message):
        prepare_image(payload)


def test_huge_images_are_refused_before_decoding():
    huge = _png(Image.new("1", (8000, 6000), 0))
    with pytest.raises(BadInputError, match="megapixels"):
        prepare_image(huge)
