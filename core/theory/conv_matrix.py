"""Convolution as a matrix (IST 2022-23 homework 2, Q1).

A valid convolution with an M×N filter on an H×W image is a sparse (H−M+1)(W−N+1) × HW matrix; counting
parameters shows what weight sharing saves over a fully connected layer.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import BadInputError

def convolution_matrix(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """The matrix A with A·vec(x) = vec(conv(x, kernel)) for a valid, stride-1 convolution (row-major vec).

    Row (i, j) of the output holds the kernel's entries at the columns of the pixels its window covers.
    """
    kernel_height, kernel_width = kernel.shape
    _check_sizes(height, width, kernel_height, kernel_width)
    out_height, out_width = height - kernel_height + 1, width - kernel_width + 1
    matrix = np.zeros((out_height * out_width, height * width))  # (outputs, pixels)
    for i, j in itertools.product(range(out_height), range(out_width)):
        for a, b in itertools.product(range(kernel_height), range(kernel_width)):
            matrix[i * out_width + j, (i + a) * width + (j + b)] = kernel[a, b]
    return matrix


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid, stride-1 convolution as deep learning defines it (cross-correlation), by torch's conv2d."""
    output = F.conv2d(torch.as_tensor(image, dtype=torch.float64)[None, None],
                      torch.as_tensor(kernel, dtype=torch.float64)[None, None])
    return output[0, 0].numpy()


@dataclass
class ConvolutionCheck:
    image: np.ndarray  # (H, W)
    kernel: np.ndarray  # (M, N)
    matrix: np.ndarray  # ((H-M+1)(W-N+1), HW)
    by_matrix: np.ndarray  # (H-M+1, W-N+1): reshaped A·vec(x)
    by_convolution: np.ndarray  # (H-M+1, W-N+1)

    @property
    def max_abs_difference(self) -> float:
        return float(np.abs(self.by_matrix - self.by_convolution).max())

    @property
    def nonzero_fraction(self) -> float:
        return float(np.count_nonzero(self.matrix) / self.matrix.size)


def check_convolution_matrix(height: int, width: int, kernel_height: int, kernel_width: int,
                             seed: int = 0) -> ConvolutionCheck:
    """Random image and filter; the convolution computed both ways."""
    _check_sizes(height, width, kernel_height, kernel_width)
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((height, width))
    kernel = np.round(rng.standard_normal((kernel_height, kernel_width)), 2)  # short entries read better
    matrix = convolution_matrix(kernel, height, width)
    out_shape = (height - kernel_height + 1, width - kernel_width + 1)
    return ConvolutionCheck(image, kernel, matrix, (matrix @ image.reshape(-1)).reshape(out_shape),
                            convolve(image, kernel))


def _check_sizes(height: int, width: int, kernel_height: int, kernel_width: int) -> None:
    if min(height, width, kernel_height, kernel_width) < 1:
        raise BadInputError("Image and filter sizes must be at least 1.")
    if kernel_height > height or kernel_width > width:
        raise BadInputError(f"A {kernel_height}×{kernel_width} filter does not fit in a {height}×{width} image "
                            "without padding: choose M ≤ H and N ≤ W.")


@dataclass(frozen=True)
class LayerCount:
    layer: str
    shape: str
    parameters: int


def parameter_counts(height: int, width: int, kernel_height: int, kernel_width: int, pool: int = 2,
                     classes: int = 10) -> dict[str, list[LayerCount]]:
    """Conv (one filter) + max-pool + output layer, against the same network with the conv replaced by a fully
    connected layer of the same output size (H−M+1)(W−N+1). Weights and biases are both counted."""
    _check_sizes(height, width, kernel_height, kernel_width)
    out_height, out_width = height - kernel_height + 1, width - kernel_width + 1
    pooled = (out_height // pool) * (out_width // pool)
    if pooled == 0:
        raise BadInputError(f"A {pool}×{pool} pool does not fit in the {out_height}×{out_width} feature map.")
    pool_layer = LayerCount("max-pool", f"{pool}×{pool}, stride {pool}", 0)
    output_layer = LayerCount("output", f"{pooled} → {classes}", pooled * classes + classes)
    hidden = out_height * out_width
    return {
        "conv + pool + output": [LayerCount("conv", f"one {kernel_height}×{kernel_width} filter",
                                            kernel_height * kernel_width + 1), pool_layer, output_layer],
        "fully connected + pool + output": [LayerCount("fully connected", f"{height * width} → {hidden}",
                                                       height * width * hidden + hidden), pool_layer, output_layer],
    }

