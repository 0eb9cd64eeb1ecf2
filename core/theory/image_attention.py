"""Self-attention on a flattened image (IST 2022-23 homework 2, Q2).

With 1×1 projections equal to 1 and no positional encoding, softmax(x xᵀ) x sees pixel values only: permuting
the pixels permutes the output the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from core.attention import scaled_dot_product_attention
from core.errors import BadInputError

@dataclass
class ImageAttention:
    image: np.ndarray  # (H, W)
    weights: np.ndarray  # (HW, HW): softmax(x xᵀ), row = query pixel
    output: np.ndarray  # (H, W): softmax(x xᵀ) x, reshaped


def image_self_attention(image: np.ndarray) -> ImageAttention:
    """q = k = v = vec(x) (one channel, 1×1 projections equal to 1, no positional encoding), so d = 1 and √d = 1."""
    pixels = torch.as_tensor(image, dtype=torch.float64).reshape(-1, 1)  # (HW, 1)
    output, weights = scaled_dot_product_attention(pixels, pixels, pixels)
    return ImageAttention(np.asarray(image, dtype=float), weights.numpy(), output.numpy().reshape(image.shape))


@dataclass
class PermutationCheck:
    permutation: np.ndarray  # (HW,): pixel k of the permuted image is pixel permutation[k] of the original
    permuted_image: np.ndarray  # (H, W)
    permuted_output: np.ndarray  # (H, W): attention output on the permuted image
    output_then_permuted: np.ndarray  # (H, W): the original output, permuted the same way

    @property
    def max_abs_difference(self) -> float:
        return float(np.abs(self.permuted_output - self.output_then_permuted).max())


def permutation_check(image: np.ndarray, seed: int = 0) -> PermutationCheck:
    """Attention(P x) against P·Attention(x): equal, because nothing in the layer knows where a pixel was."""
    permutation = np.random.default_rng(seed).permutation(image.size)
    permuted_image = image.reshape(-1)[permutation].reshape(image.shape)
    original = image_self_attention(image).output.reshape(-1)
    return PermutationCheck(permutation, permuted_image, image_self_attention(permuted_image).output,
                            original[permutation].reshape(image.shape))


PATTERNS = ["gradient", "checkerboard"]


def pattern_image(pattern: str, size: int = 8) -> np.ndarray:
    """A size×size synthetic image in [0, 1)."""
    _check_side(size)
    rows, columns = np.mgrid[0:size, 0:size]
    if pattern == "gradient":
        return (rows + columns) / (2 * size)
    if pattern == "checkerboard":
        return ((rows + columns) % 2) * 0.9
    raise BadInputError(f"Unknown image pattern '{pattern}'; choose one of {', '.join(PATTERNS)}.")


def shrink_image(image: np.ndarray, size: int = 8) -> np.ndarray:
    """A uint8 image (a KMNIST character, say) box-averaged to size×size, in [0, 1) as the homework scales pixels."""
    _check_side(size)
    small = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=float) / 256


def _check_side(size: int) -> None:
    if not 2 <= size <= 28:
        raise BadInputError("Image side must be between 2 and 28 pixels.")
