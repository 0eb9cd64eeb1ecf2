"""Linear attention with the McLaurin feature map (IST 2023-24 homework 2, Q1).

exp(qᵀk) approximated by φ(q)ᵀφ(k) with the McLaurin feature map of order K turns O(L²D) softmax attention into
O(LMD) linear attention; the timing here finds the length from which that pays on this machine.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from core.attention import scaled_dot_product_attention

# One visitor's request must stay near 1 GB and 10 s on a shared 2-core server. The feature map of L rows holds L·M
# numbers and is built from an (L, C, K) gather, so L·M·K is what is capped (D = 16, K = 6 and L = 4,096 took 74 s
# and 7.9 GB): at most 2^24 numbers, 128 MB in float64.
FEATURE_BUDGET = 2 ** 24


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


def fits_budget(length: int, dim: int, order: int) -> bool:
    """Whether linear attention of this size stays within FEATURE_BUDGET (exact attention's L² always does here)."""
    return length * feature_dimension(dim, order) * max(order, 1) <= FEATURE_BUDGET


def affordable_lengths(lengths: list[int], dim: int, order: int) -> list[int]:
    return [length for length in lengths if fits_budget(length, dim, order)]


def random_qkv(length: int, dim: int, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(length, dim, generator=generator, dtype=dtype) for _ in range(3))


def approximation_errors(length: int, dim: int, orders: list[int], seed: int = 0) -> dict[int, float]:
    """Mean absolute difference between linear and exact attention outputs, for each order K within the budget."""
    q, k, v = random_qkv(length, dim, seed)
    exact, _ = scaled_dot_product_attention(q, k, v)
    return {order: float((linear_attention(q, k, v, order) - exact).abs().mean())
            for order in orders if fits_budget(length, dim, order)}


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
