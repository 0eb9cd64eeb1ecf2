"""Multi-head scaled dot-product attention, written out by hand, and the masks it uses.

One module serves encoder self-attention, masked decoder self-attention and cross-attention, and it always
returns its attention weights so the labs can draw them. Masks are boolean with True meaning "may attend";
they broadcast against weights of shape (batch, heads, queries, keys).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def padding_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Keys that are real frames/tokens, not padding: (batch,) lengths -> (batch, 1, 1, keys) bool."""
    max_length = int(lengths.max()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]


def causal_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Each position sees itself and the past only: (1, 1, size, size) bool, lower triangle True."""
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()[None, None]


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """AND of the masks that are given (e.g. causal and padding), None when none is."""
    present = [mask for mask in masks if mask is not None]
    if not present:
        return None
    combined = present[0]
    for mask in present[1:]:
        combined = combined & mask
    return combined


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v for any leading dims: q (..., queries, d), k/v (..., keys, d).

    Returns (output (..., queries, d_v), weights (..., queries, keys)). A query whose keys are all masked
    gets zero weights (and a zero output) rather than NaN, so padded query rows are harmless.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., queries, keys)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.nan_to_num(0.0)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Project to heads, attend, merge heads; `cache` holds keys/values across incremental decoding steps.

    Self-attention: `forward(x, mask=...)`. Cross-attention: `forward(x, source=encoder_output, mask=...)`.
    With a cache dict, self-attention appends this step's keys/values to the cached ones, and cross-attention
    projects the (fixed) source once and reuses it, which is what makes step-by-step decoding cheap.
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}.")
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        cache: dict | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (batch, queries, d_model); source (batch, keys, d_model) or None for self-attention.

        Returns (output (batch, queries, d_model), weights (batch, heads, queries, keys)).
        """
        q = self._split_heads(self.query(x))  # (batch, heads, queries, head_dim)
        if source is not None and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            keys_from = x if source is None else source
            k = self._split_heads(self.key(keys_from))  # (batch, heads, keys, head_dim)
            v = self._split_heads(self.value(keys_from))
            if cache is not None:
                if source is None and "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        output, weights = scaled_dot_product_attention(q, k, v, mask)
        return self.out(self._merge_heads(output)), weights

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, d_model = x.shape
        return x.view(batch, length, self.n_heads, d_model // self.n_heads).transpose(1, 2)

    @staticmethod
    def _merge_heads(x: torch.Tensor) -> torch.Tensor:
        batch, heads, length, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


def reorder_cache(cache: dict, order: torch.Tensor) -> None:
    """Select batch rows of every cached tensor in place (beam search keeps the surviving beams)."""
    for key, value in cache.items():
        if isinstance(value, dict):
            reorder_cache(value, order)
        elif torch.is_tensor(value):
            cache[key] = value.index_select(0, order)
