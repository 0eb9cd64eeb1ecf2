"""The hand-written attention: same numbers as the textbook formula and torch's, masks that really mask, a cache
that changes nothing but speed."""
import math

import torch

from core.attention import (
    MultiHeadAttention,
    causal_mask,
    combine_masks,
    padding_mask,
    scaled_dot_product_attention,
)


def test_scaled_dot_product_matches_formula_and_torch():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    output, weights = scaled_dot_product_attention(q, k, v)
    expected_weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    assert torch.allclose(weights, expected_weights, atol=1e-6)
    assert torch.allclose(output, torch.nn.functional.scaled_dot_product_attention(q, k, v), atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5))


def test_padding_mask_zeroes_padded_keys():
    lengths = torch.tensor([3, 5])
    mask = padding_mask(lengths, 5)
    assert mask.shape == (2, 1, 1, 5)
    assert mask[0, 0, 0].tolist() == [True, True, True, False, False]
    q, k, v = torch.randn(2, 1, 4, 6), torch.randn(2, 1, 5, 6), torch.randn(2, 1, 5, 6)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(weights[0, :, :, 3:] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1, 4))
    # Changing a padded key/value must not change the output of the short sequence.
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 3:] += 100
    v2[0, :, 3:] -= 100
    assert torch.allclose(scaled_dot_product_attention(q, k, v, mask)[0][0], scaled_dot_product_attention(q, k2, v2, mask)[0][0])


def test_causal_mask_blocks_the_future():
    mask = causal_mask(4)
    assert mask.shape == (1, 1, 4, 4)
    assert mask[0, 0].int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    q = k = v = torch.randn(1, 2, 4, 8)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(weights.triu(1) == 0)
    assert torch.allclose(weights[..., 0, 0], torch.ones(1, 2))
    combined = combine_masks(mask, padding_mask(torch.tensor([2]), 4))
    assert combined[0, 0, 3].tolist() == [True, True, False, False]
    assert combine_masks(None, None) is None


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4)
    output, weights = scaled_dot_product_attention(q, k, v, torch.zeros(1, 1, 1, 3, dtype=torch.bool))
    assert not torch.isnan(output).any() and torch.all(weights == 0)


def test_multi_head_shapes_and_weights():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=12, n_heads=3)
    x, source = torch.randn(2, 5, 12), torch.randn(2, 9, 12)
    output, weights = attention(x, source=source)
    assert output.shape == (2, 5, 12) and weights.shape == (2, 3, 5, 9)
    output, weights = attention(x, mask=causal_mask(5))
    assert weights.shape == (2, 3, 5, 5) and torch.all(weights.triu(1) == 0)


def test_cache_gives_the_same_outputs_as_the_full_prefix():
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, n_heads=2).eval()
    x, source = torch.randn(2, 6, 8), torch.randn(2, 4, 8)
    full_self, _ = attention(x, mask=causal_mask(6))
    full_cross, full_cross_weights = attention(x, source=source)
    self_cache, cross_cache = {}, {}
    for step in range(6):
        out_self, _ = attention(x[:, step : step + 1], cache=self_cache)
        out_cross, cross_weights = attention(x[:, step : step + 1], source=source, cache=cross_cache)
        assert torch.allclose(out_self, full_self[:, step : step + 1], atol=1e-5)
        assert torch.allclose(out_cross, full_cross[:, step : step + 1], atol=1e-5)
        assert torch.allclose(cross_weights, full_cross_weights[:, :, step : step + 1], atol=1e-6)
    assert self_cache["k"].shape == (2, 2, 6, 4)
    assert cross_cache["k"].shape == (2, 2, 4, 4)
