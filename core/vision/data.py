"""Image data for the Vision lab: KMNIST (offline 10k set or the full download), OCTMNIST, and user uploads.

Pixels are scaled as the homework did (uint8 / 256). Every loader returns an `ImageDataset` with
train/val/test arrays and the class names, so training and the page never care where images came from.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from core import paths
from core.fetch import fetch_file
from core.errors import BadInputError, DataUnavailableError

IMAGE_SIDE = 28
PIXEL_SCALE = 256.0  # the homework divides uint8 pixels by 256

KMNIST_DIR_NAME = "kmnist"
KMNIST_URL = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
# Official md5 sums (rois-codh/kmnist, mirrored in datasets-mila/datasets--kmnist `md5sums`).
KMNIST_MD5 = {
    "kmnist-train-imgs.npz": "a183fbc01ed9a345513b145673d3d0bb",
    "kmnist-train-labels.npz": "b0e1d240e8afec72b50437fc3bc5908a",
    "kmnist-test-imgs.npz": "dace6de62ca8b90843cc45366337d02e",
    "kmnist-test-labels.npz": "3ae489a79983d0fe386152684e3b5412",
}
HIRAGANA_ROMAJI = {"お": "o", "き": "ki", "す": "su", "つ": "tsu", "な": "na", "は": "ha", "ま": "ma", "や": "ya", "れ": "re", "を": "wo"}

# medmnist 3.0.2's INFO["octmnist"] (the version the Makefile pins), written out because the app image leaves
# medmnist out and importing it costs seconds.
OCTMNIST_INFO = {
    "url": "https://zenodo.org/records/10519652/files/octmnist.npz?download=1",
    "MD5": "c68d92d5b585d8d81f7112f81e2d0842",
    "n_samples": {"train": 97477, "val": 10832, "test": 1000},
    "label": {"0": "choroidal neovascularization", "1": "diabetic macular edema", "2": "drusen", "3": "normal"},
    "license": "CC BY 4.0",
}

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000


@dataclass
class ImageDataset:
    name: str
    class_names: list[str]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (uint8 images (N, 28, 28), int64 labels (N,))
    source: str
    notes: str = ""
    split_seed: int | None = None
    extra: dict = field(default_factory=dict)

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.splits[split]
        return to_model_input(images), torch.as_tensor(labels, dtype=torch.long)

    def sizes(self) -> dict[str, int]:
        return {split: int(len(labels)) for split, (_, labels) in self.splits.items()}

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "sizes": self.sizes(), "split_seed": self.split_seed,
                "classes": self.class_names, "notes": self.notes, **self.extra}


def to_model_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) or (28, 28) -> float (N, 1, 28, 28) scaled by 1/256."""
    array = np.asarray(images, dtype=np.float32) / PIXEL_SCALE
    if array.ndim == 2:
        array = array[None]
    return torch.from_numpy(array).unsqueeze(1)


def stratified_split(labels: np.ndarray, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Index arrays for each split with the same share of every class, in a seeded order."""
    classes = np.unique(labels)
    total = sum(sizes.values())
    if total > len(labels):
        raise ValueError(f"Asked for {total} items but only {len(labels)} exist.")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {split: [] for split in sizes}
    for label in classes:
        members = rng.permutation(np.flatnonzero(labels == label))
        start = 0
        for split, size in sizes.items():
            share = round(size * len(members) / len(labels))
            parts[split].append(members[start:start + share])
            start += share
    return {split: rng.permutation(np.concatenate(chunks)) for split, chunks in parts.items()}


def kmnist_class_names(folder: Path | None = None) -> list[str]:
    """'お (o)', 'き (ki)', ... from the official class map (index, codepoint, char)."""
    folder = Path(folder or paths.SHARED_DATA / KMNIST_DIR_NAME)
    classmap = folder / "kmnist_classmap.csv"
    if classmap.exists():
        with open(classmap, encoding="utf-8") as handle:
            chars = [row["char"] for row in csv.DictReader(handle)]
    else:
        chars = list(HIRAGANA_ROMAJI)
    return [f"{char} ({HIRAGANA_ROMAJI.get(char, '?')})" for char in chars]


def load_kmnist_10k(folder: Path | None = None, seed: int = 0) -> ImageDataset:
    """The offline 'KMNIST-10k' set: the official 10k test images, split 8,000/1,000/1,000 by class."""
    folder = Path(folder or paths.SHARED_DATA / KMNIST_DIR_NAME)
    images_path, labels_path = folder / "kmnist-test-imgs.npz", folder / "kmnist-test-labels.npz"
    for path in (images_path, labels_path):
        if not path.exists():
            raise DataUnavailableError(
                f"KMNIST-10k needs {path}, which is missing. Set GLASSBOX_DATA to the folder that holds "
                "kmnist/, or use the full set (--dataset kmnist-full, downloads 20 MB)."
            )
        _check_md5(path, KMNIST_MD5[path.name])
    images = np.load(images_path)["arr_0"]
    labels = np.load(labels_path)["arr_0"].astype(np.int64)
    index = stratified_split(labels, {"train": 8000, "val": 1000, "test": 1000}, seed)
    return ImageDataset(
        name="kmnist-10k",
        class_names=kmnist_class_names(folder),
        splits={split: (images[rows], labels[rows]) for split, rows in index.items()},
        source="official KMNIST test set (10,000 images, 1,000 per class), CC BY-SA 4.0, ROIS-DS CODH",
        notes="Offline stand-in: the 60k KMNIST train images are not available here, so the 10k official test "
              "images are split 8,000/1,000/1,000 (stratified, seeded). Scores are not comparable to the full set.",
        split_seed=seed,
    )


def load_kmnist_full(cache_dir: Path | None = None, base_url: str = KMNIST_URL, seed: int = 42) -> ImageDataset:
    """The full official KMNIST (downloaded): 50,000/10,000 train/val from the 60k train set, 10k test."""
    cache_dir = Path(cache_dir or paths.CACHE / KMNIST_DIR_NAME)
    arrays = {name: np.load(fetch_file(base_url + name, f"md5:{md5}", cache_dir, name, "about 20 MB in all"))["arr_0"]
              for name, md5 in KMNIST_MD5.items()}
    train_images, train_labels = arrays["kmnist-train-imgs.npz"], arrays["kmnist-train-labels.npz"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(train_labels))
    val_rows, train_rows = order[:10_000], order[10_000:]
    return ImageDataset(
        name="kmnist-full",
        class_names=kmnist_class_names(),
        splits={
            "train": (train_images[train_rows], train_labels[train_rows]),
            "val": (train_images[val_rows], train_labels[val_rows]),
            "test": (arrays["kmnist-test-imgs.npz"], arrays["kmnist-test-labels.npz"].astype(np.int64)),
        },
        source=f"official KMNIST ({base_url}), CC BY-SA 4.0, ROIS-DS CODH",
        notes="50,000/10,000 train/val split of the official train set (seeded), official 10k test set, as the IST homework.",
        split_seed=seed,
    )


def load_octmnist(cache_dir: Path | None = None, url: str | None = None, md5: str | None = None) -> ImageDataset:
    """OCTMNIST (MedMNIST v2, 28x28), fetched with pooch from the address and md5 that medmnist.INFO gives."""
    info = OCTMNIST_INFO
    url, md5 = url or info["url"], md5 or info["MD5"]
    count = sum(info["n_samples"].values())
    size = f"{count:,} images of 28x28 pixels, about {count * IMAGE_SIDE * IMAGE_SIDE / 1e6:.0f} MB"
    path = fetch_file(url, f"md5:{md5}", Path(cache_dir or paths.CACHE / "medmnist"), "octmnist.npz", size)
    try:
        with np.load(path) as archive:
            splits = {
                split: (archive[f"{key}_images"], archive[f"{key}_labels"].reshape(-1).astype(np.int64))
                for split, key in (("train", "train"), ("val", "val"), ("test", "test"))
            }
    except (KeyError, ValueError, OSError) as error:
        raise DataUnavailableError(f"{path} is not a MedMNIST archive ({error}).") from error
    return ImageDataset(
        name="octmnist",
        class_names=octmnist_class_names(),
        splits=splits,
        source=f"MedMNIST v2 OCTMNIST ({url}), {info['license']}",
        notes="Official MedMNIST train/val/test split.",
    )


def octmnist_class_names() -> list[str]:
    return [OCTMNIST_INFO["label"][str(index)] for index in range(len(OCTMNIST_INFO["label"]))]


def load_dataset(name: str, seed: int = 0) -> ImageDataset:
    loaders = {"kmnist-10k": lambda: load_kmnist_10k(seed=seed), "kmnist-full": load_kmnist_full, "octmnist": load_octmnist}
    if name not in loaders:
        raise DataUnavailableError(f"Unknown image data set {name!r}; choose one of {', '.join(loaders)}.")
    return loaders[name]()


def _check_md5(path: Path, expected: str) -> None:
    actual = hashlib.md5(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DataUnavailableError(f"{path} has md5 {actual}, not the official {expected}: the file is damaged.")


@dataclass
class PreparedImage:
    """What the model sees (uint8 28x28) and what was done to get there, for the page to say."""

    pixels: np.ndarray
    original_size: tuple[int, int]
    original_mode: str
    inverted: bool


def prepare_image(data: bytes | Image.Image, invert: bool | None = None) -> PreparedImage:
    """Any image -> the 28x28 grayscale the model sees: light strokes on a dark background, as in KMNIST.

    invert=None inverts when the border is light (a dark drawing on paper); True/False forces it.
    """
    image = _open_image(data) if isinstance(data, (bytes, bytearray)) else data
    original_size, original_mode = image.size, image.mode
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode in ("I", "I;16", "I;16B", "F"):
        values = np.asarray(image, dtype=np.float64)
        span = values.max() - values.min()
        values = (values - values.min()) / span * 255 if span > 0 else np.zeros_like(values)
        image = Image.fromarray(values.astype(np.uint8))
    gray = ImageOps.pad(image.convert("L"), (IMAGE_SIDE, IMAGE_SIDE), method=Image.Resampling.LANCZOS,
                        color=_border_level(image.convert("L")))
    pixels = np.asarray(gray, dtype=np.uint8)
    if invert is None:
        invert = bool(np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).mean() > 127)
    if invert:
        pixels = 255 - pixels
    return PreparedImage(pixels=pixels, original_size=original_size, original_mode=original_mode, inverted=invert)


def _border_level(gray: Image.Image) -> int:
    array = np.asarray(gray)
    return int(np.median(np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])))


def _open_image(data: bytes) -> Image.Image:
    if not data:
        raise BadInputError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadInputError(f"The file is {len(data) / 1e6:.1f} MB; images up to {MAX_UPLOAD_BYTES // 2**20} MB are accepted.")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_UPLOAD_PIXELS:
            raise BadInputError(
                f"The image is {image.width}x{image.height} pixels; up to {MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels are accepted."
            )
        image.load()
    except BadInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise BadInputError("This file is not an image that can be read (PNG, JPEG, GIF, BMP, TIFF or WebP).") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(f"The image is damaged or truncated ({error}).") from error
    return image
