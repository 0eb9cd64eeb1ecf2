"""The Theory lab's computations: convolution as a matrix, self-attention on a flattened image, linear attention.

- IST 2022-23 homework 2, Q1: a valid convolution with an M×N filter on an H×W image is a sparse
  (H−M+1)(W−N+1) × HW matrix; counting parameters shows what weight sharing saves over a fully connected layer.
- Same homework, Q2: self-attention on the flattened image with 1×1 projections equal to 1 and no positional
  encoding, softmax(x xᵀ) x, sees pixel values only: permuting the pixels permutes the output the same way.
- IST 2023-24 homework 2, Q1: exp(qᵀk) approximated by φ(q)ᵀφ(k) with the McLaurin feature map of order K,
  which turns O(L²D) softmax attention into O(LMD) linear attention.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import BadInputError
from core.attention import scaled_dot_product_attention

# --- Convolution as a matrix -----------------------------------------------------------------------------------------


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


# --- Self-attention on a flattened image ----------------------------------------------------------------------------

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


IMAGE_SOURCES = ["KMNIST test image", "gradient", "checkerboard"]


def tiny_image(source: str, size: int = 8, index: int = 0) -> np.ndarray:
    """A size×size image in [0, 1): a KMNIST test image shrunk by box averaging, or a synthetic pattern."""
    if not 2 <= size <= 28:
        raise BadInputError("Image side must be between 2 and 28 pixels.")
    if source == "gradient":
        rows, columns = np.mgrid[0:size, 0:size]
        return (rows + columns) / (2 * size)
    if source == "checkerboard":
        rows, columns = np.mgrid[0:size, 0:size]
        return ((rows + columns) % 2) * 0.9
    if source != "KMNIST test image":
        raise BadInputError(f"Unknown image source '{source}'; choose one of {', '.join(IMAGE_SOURCES)}.")
    from PIL import Image

    from core.data.images import load_kmnist_10k

    images, _ = load_kmnist_10k().splits["test"]
    if not 0 <= index < len(images):
        raise BadInputError(f"Image index must be between 0 and {len(images) - 1}.")
    small = Image.fromarray(images[index]).resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=float) / 256


# --- Linear attention with the McLaurin feature map -------------------------------------------------------------------

def feature_dimension(dim: int, order: int) -> int:
    """M = Σ_{n=0..K} C(n+D−1, D−1): one feature per monomial of degree ≤ K in D variables."""
    return sum(math.comb(n + dim - 1, dim - 1) for n in range(order + 1))


@lru_cache(maxsize=64)
def _monomial_plan(dim: int, order: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each degree n = 1..K: the variable indices of every monomial (C, n) and its 1/sqrt(a!) (C,)."""
    plan = []
    for n in range(1, order + 1):
        combos = list(itertools.combinations_with_replacement(range(dim), n))
        inverse_root_factorials = [math.prod(math.factorial(c.count(i)) for i in set(c)) ** -0.5 for c in combos]
        plan.append((torch.tensor(combos), torch.tensor(inverse_root_factorials, dtype=torch.float64)))
    return plan


def mclaurin_features(x: torch.Tensor, order: int) -> torch.Tensor:
    """φ(x) with φ(q)ᵀφ(k) = Σ_{n≤K} (qᵀk)ⁿ/n!: each monomial x^a of degree ≤ K, scaled by 1/sqrt(a!).

    (qᵀk)ⁿ/n! = Σ_{|a|=n} q^a k^a / a! by the multinomial theorem, so each feature pairs with itself.
    x (..., L, D) -> (..., L, M).
    """
    features = [torch.ones_like(x[..., :1])]
    for index, scale in _monomial_plan(x.shape[-1], order):
        features.append(x[..., index].prod(dim=-1) * scale.to(x.dtype))  # (..., L, C)
    return torch.cat(features, dim=-1)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, order: int) -> torch.Tensor:
    """softmax(q kᵀ/√D) v with exp replaced by its order-K McLaurin series: O(L·M·D) instead of O(L²·D).

    q, k (..., L, D), v (..., L, Dv) -> (..., L, Dv). For odd K the series can dip below zero for very negative
    qᵀk, so a row's normalizer is not guaranteed positive; even K keeps every term ≥ 0 (1 + t + t²/2 > 0).
    """
    scale = q.shape[-1] ** -0.25  # split 1/√D between q and k, as the exact attention divides by √D
    phi_q, phi_k = mclaurin_features(q * scale, order), mclaurin_features(k * scale, order)  # (..., L, M)
    key_values = phi_k.transpose(-2, -1) @ v  # (..., M, Dv): summed once over all keys
    normalizer = phi_k.sum(dim=-2)  # (..., M)
    return (phi_q @ key_values) / (phi_q @ normalizer[..., None])  # (..., L, Dv)


def random_qkv(length: int, dim: int, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(length, dim, generator=generator, dtype=dtype) for _ in range(3))


def approximation_errors(length: int, dim: int, orders: list[int], seed: int = 0) -> dict[int, float]:
    """Mean absolute difference between linear and exact attention outputs, for each order K."""
    q, k, v = random_qkv(length, dim, seed)
    exact, _ = scaled_dot_product_attention(q, k, v)
    return {order: float((linear_attention(q, k, v, order) - exact).abs().mean()) for order in orders}


def attention_flops(length: int, dim: int, order: int) -> dict[str, int]:
    """Multiply-adds counted as 2 FLOPs. Exact: QKᵀ and AV (2·2L²D) + softmax (3L²).
    Linear: φ(K)ᵀV and φ(Q)·(that) (2·2LMD), the normalizer (3LM), the feature maps (2·L·M·K)."""
    features = feature_dimension(dim, order)
    return {"exact": 4 * length * length * dim + 3 * length * length,
            "linear": 4 * length * features * dim + 3 * length * features + 2 * length * features * order}


@dataclass
class TimingConfig:
    dim: int = 8
    order: int = 3
    lengths: tuple[int, ...] = tuple(2 ** n for n in range(4, 13))  # 16 ... 4096
    repeats: int = 5
    threads: int = 1  # one thread: comparable runs on a shared machine
    seed: int = 0


def _best_time(function, repeats: int) -> float:
    function()  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def crossover_length(lengths: list[int], exact: list[float], linear: list[float]) -> float | None:
    """First length where linear beats exact, interpolated on log-log axes between the two grid points around it."""
    for index, (length, exact_time, linear_time) in enumerate(zip(lengths, exact, linear)):
        if linear_time < exact_time:
            if index == 0:
                return float(length)
            gap_before = math.log(linear[index - 1] / exact[index - 1])
            gap_after = math.log(linear_time / exact_time)
            fraction = gap_before / (gap_before - gap_after)
            return float(math.exp(math.log(lengths[index - 1]) + fraction * math.log(length / lengths[index - 1])))
    return None


def attention_timing(config: TimingConfig = TimingConfig()) -> dict:
    """Measured seconds of exact vs linear attention (float32, CPU) at each length, and where they cross."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        exact_times, linear_times = [], []
        for length in config.lengths:
            q, k, v = random_qkv(length, config.dim, config.seed, dtype=torch.float32)
            exact_times.append(_best_time(lambda: scaled_dot_product_attention(q, k, v), config.repeats))
            linear_times.append(_best_time(lambda: linear_attention(q, k, v, config.order), config.repeats))
    finally:
        torch.set_num_threads(threads)
    lengths = list(config.lengths)
    flops = [attention_flops(length, config.dim, config.order) for length in lengths]
    return {
        "dim": config.dim, "order": config.order, "feature_dimension": feature_dimension(config.dim, config.order),
        "threads": config.threads, "lengths": lengths,
        "exact_seconds": exact_times, "linear_seconds": linear_times,
        "exact_flops": [f["exact"] for f in flops], "linear_flops": [f["linear"] for f in flops],
        "measured_crossover_length": crossover_length(lengths, exact_times, linear_times),
        "flops_crossover_length": crossover_length(lengths, [f["exact"] for f in flops],
                                                   [f["linear"] for f in flops]),
    }
