"""Does an image look like what the CNN learned from? Two honest checks, shown beside a prediction, never instead.

A softmax always sums to one, so a CNN answers confidently about a photo or a Latin letter. Three signals warn:
the input's statistics against the range of the 10,000 official KMNIST test images (a few numbers, fitted by
`fit_ranges` and written below), each model's confidence against how sure it is on held-out characters, and
whether the models agree. None proves an image is a Kuzushiji character: a Latin "A" drawn with three straight
strokes passes all three (both models call it き, 100% sure).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.vision.data import PreparedImage

INK_LEVEL = 0.5  # a pixel brighter than this (0-1 scale) counts as ink: light strokes on a dark background
COVERAGE = 0.998  # each statistic's range holds this share of the fitting images (0.1st to 99.9th percentile)
LOW_CONFIDENCE = 0.9  # each shipped model is less sure than this on ~6 in 100 held-out test characters
SMALLEST_SIDE = 8  # pixels; a smaller original has no stroke to read once enlarged to 28x28


@dataclass(frozen=True)
class Statistic:
    key: str
    words: str  # what the statistic is, for a sentence: "the share of bright (ink) pixels"


STATISTICS = [
    Statistic("ink_fraction", "share of bright (ink) pixels"),
    Statistic("mean_brightness", "mean brightness"),
    Statistic("contrast", "contrast (standard deviation of brightness)"),
    Statistic("box_fraction", "share of the image the drawing's bounding box covers"),
    Statistic("border_brightness", "brightness of the outer two-pixel frame"),
]
# fit_ranges(official KMNIST test images), rounded outwards to 3 decimals; tests/test_domain.py refits and compares.
KMNIST_RANGES = {
    "ink_fraction": (0.022, 0.428),
    "mean_brightness": (0.036, 0.423),
    "contrast": (0.129, 0.451),
    "box_fraction": (0.275, 1.000),
    "border_brightness": (0.000, 0.294),
}


def image_statistics(pixels: np.ndarray) -> dict[str, float]:
    """A few numbers that describe a 28x28 uint8 image the way the model sees it (0 dark, 1 bright)."""
    values = pixels.astype(np.float64) / 255  # (28, 28)
    rows, columns = np.nonzero(values > 0.2)
    box = ((rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1) / values.size) if rows.size else 0.0
    frame = np.concatenate([values[:2].ravel(), values[-2:].ravel(), values[2:-2, :2].ravel(), values[2:-2, -2:].ravel()])
    return {"ink_fraction": float((values > INK_LEVEL).mean()), "mean_brightness": float(values.mean()),
            "contrast": float(values.std()), "box_fraction": float(box), "border_brightness": float(frame.mean())}


def fit_ranges(images: np.ndarray, coverage: float = COVERAGE) -> dict[str, tuple[float, float]]:
    """(low, high) of each statistic over `images` (n, 28, 28): the central `coverage` share, rounded outwards."""
    table = [image_statistics(image) for image in images]
    tail = (1 - coverage) / 2 * 100
    ranges = {}
    for statistic in STATISTICS:
        column = np.array([row[statistic.key] for row in table])
        low, high = np.percentile(column, [tail, 100 - tail])
        low = 0.0 if statistic.key == "border_brightness" else low  # a darker frame than usual is no warning
        ranges[statistic.key] = (float(np.floor(low * 1000) / 1000), float(np.ceil(high * 1000) / 1000))
    return ranges


def input_warnings(image: PreparedImage, ranges: dict[str, tuple[float, float]] = KMNIST_RANGES) -> list[str]:
    """Plain sentences on how this image differs from the training characters (empty: it looks like them)."""
    width, height = image.original_size
    warnings = []
    if min(width, height) < SMALLEST_SIDE:
        warnings.append(f"The image is only {width}×{height} pixels: enlarged to 28×28 it has no stroke to read.")
    measured = image_statistics(image.pixels)
    for statistic in STATISTICS:
        low, high = ranges[statistic.key]
        value = measured[statistic.key]
        if not low <= value <= high:
            side = "below" if value < low else "above"
            warnings.append(f"Its {statistic.words} is {value:.2f}, {side} the range of {COVERAGE:.1%} of the "
                            f"10,000 KMNIST test characters ({low:.2f}–{high:.2f}).")
    return warnings


def confidence_warning(top_probability: float) -> str | None:
    """A sentence when a model is less sure than it almost always is on real Kuzushiji characters."""
    if top_probability >= LOW_CONFIDENCE:
        return None
    return (f"Only {top_probability:.0%} sure. The shipped models are under {LOW_CONFIDENCE:.0%} on about 6 in 100 "
            "held-out KMNIST characters: this image may be unusual, or not one of the 10 characters at all.")


def disagreement_warning(labels: dict[str, str]) -> str | None:
    """A sentence when the models on the page predict different classes for the same image."""
    if len(set(labels.values())) < 2:
        return None
    said = ", ".join(f"{name} says {label}" for name, label in labels.items())
    return (f"The models disagree ({said}). The two shipped models agree on about 93 in 100 held-out KMNIST "
            "characters, so disagreement hints at an unusual image.")


def summary(warnings: list[str]) -> str:
    """The input warnings as one message for a page or the Gradio tab."""
    return ("**This image does not look like the Kuzushiji characters the models learned from**, so read the "
            "prediction with care (a softmax always picks one of the 10 classes). " + " ".join(warnings))
