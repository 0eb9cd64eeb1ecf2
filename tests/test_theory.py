"""core.theory: the convolution-matrix identity, attention on an image, and the McLaurin linear attention."""
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.__main__ import main
from core.attention import scaled_dot_product_attention
from core.errors import BadInputError, DataUnavailableError
from core.theory import conv_matrix, image_attention, linear_attention
from core.vision.data import load_kmnist_10k


@settings(max_examples=60, deadline=None)
@given(height=st.integers(1, 9), width=st.integers(1, 9), data=st.data())
def test_convolution_matrix_times_vec_x_is_the_convolution(height, width, data):
    kernel_height = data.draw(st.integers(1, height))
    kernel_width = data.draw(st.integers(1, width))
    seed = data.draw(st.integers(0, 99))
    check = conv_matrix.check_convolution_matrix(height, width, kernel_height, kernel_width, seed)
    assert check.matrix.shape == ((height - kernel_height + 1) * (width - kernel_width + 1), height * width)
    np.testing.assert_allclose(check.by_matrix, check.by_convolution, atol=1e-12)
    # Every row holds the filter's M·N entries once each, and nothing else.
    assert (np.count_nonzero(check.matrix, axis=1) <= kernel_height * kernel_width).all()
    np.testing.assert_allclose(check.matrix.sum(axis=1), check.kernel.sum(), atol=1e-12)


def test_convolution_matrix_rows_hold_the_filter_at_each_window():
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    matrix = conv_matrix.convolution_matrix(kernel, 3, 3)
    assert matrix.shape == (4, 9)
    np.testing.assert_array_equal(matrix[0], [1, 2, 0, 3, 4, 0, 0, 0, 0])
    np.testing.assert_array_equal(matrix[3], [0, 0, 0, 0, 1, 2, 0, 3, 4])


def test_filter_larger_than_image_is_a_user_error():
    with pytest.raises(BadInputError, match="does not fit"):
        conv_matrix.check_convolution_matrix(3, 3, 4, 2)


def test_parameter_counts_conv_vs_fully_connected():
    counts = conv_matrix.parameter_counts(28, 28, 5, 5, pool=2, classes=10)
    conv, fully_connected = (sum(layer.parameters for layer in network) for network in counts.values())
    assert conv == 5 * 5 + 1 + 12 * 12 * 10 + 10
    assert fully_connected == 784 * 576 + 576 + 12 * 12 * 10 + 10


def test_image_attention_rows_are_distributions_and_equal_pixels_get_equal_outputs():
    image = image_attention.pattern_image("checkerboard", 6)
    attention = image_attention.image_self_attention(image)
    assert attention.weights.shape == (36, 36)
    np.testing.assert_allclose(attention.weights.sum(axis=1), 1.0)
    # Only two pixel values: only two distinct outputs, wherever the pixels are.
    assert len(np.unique(np.round(attention.output, 12))) == 2
    x = image.reshape(-1)
    expected = np.exp(np.outer(x, x)) / np.exp(np.outer(x, x)).sum(1, keepdims=True) @ x
    np.testing.assert_allclose(attention.output.reshape(-1), expected)


@settings(max_examples=25, deadline=None)
@given(side=st.integers(2, 8), seed=st.integers(0, 1000))
def test_permuting_pixels_permutes_the_output(side, seed):
    image = np.random.default_rng(seed).random((side, side))
    check = image_attention.permutation_check(image, seed)
    assert check.max_abs_difference < 1e-12


def test_kmnist_image_is_shrunk_to_the_chosen_side():
    try:
        images, _ = load_kmnist_10k().splits["test"]
    except DataUnavailableError as error:
        pytest.skip(str(error))
    image = image_attention.shrink_image(images[0], 8)
    assert image.shape == (8, 8) and 0 <= image.min() and image.max() < 1 and image.std() > 0.05


def test_unknown_pattern_and_impossible_sides_are_user_errors():
    with pytest.raises(BadInputError, match="Unknown image pattern"):
        image_attention.pattern_image("spiral", 8)
    with pytest.raises(BadInputError, match="between 2 and 28"):
        image_attention.shrink_image(np.zeros((28, 28)), 40)


@pytest.mark.parametrize("dim,order,expected", [(8, 3, 165), (1, 4, 5), (2, 2, 6), (64, 0, 1)])
def test_feature_dimension(dim, order, expected):
    assert linear_attention.feature_dimension(dim, order) == expected


@settings(max_examples=30, deadline=None)
@given(dim=st.integers(1, 5), order=st.integers(0, 4), seed=st.integers(0, 10_000))
def test_mclaurin_features_reproduce_the_truncated_exponential(dim, order, seed):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(4, dim, generator=generator, dtype=torch.float64), torch.randn(3, dim, generator=generator,
                                                                                       dtype=torch.float64)
    features_q, features_k = linear_attention.mclaurin_features(q, order), linear_attention.mclaurin_features(k, order)
    assert features_q.shape[-1] == linear_attention.feature_dimension(dim, order)
    series = sum((q @ k.T) ** n / math.factorial(n) for n in range(order + 1))
    torch.testing.assert_close(features_q @ features_k.T, series)


@settings(max_examples=20, deadline=None)
@given(length=st.integers(8, 64), dim=st.integers(2, 8), seed=st.integers(0, 10_000))
def test_linear_attention_error_decreases_with_the_order(length, dim, seed):
    errors = linear_attention.approximation_errors(length, dim, [0, 2, 4, 6], seed)
    assert errors[0] > errors[2] > errors[4] > errors[6]
    assert errors[6] < errors[0] / 3


def test_the_budget_leaves_out_what_would_take_gigabytes():
    assert linear_attention.fits_budget(4096, 8, 3)
    assert not linear_attention.fits_budget(4096, 16, 6)  # 74 s and 7.9 GB before the budget
    assert set(linear_attention.approximation_errors(1024, 16, list(range(7)))) == {0, 1, 2, 3}
    assert linear_attention.affordable_lengths([256, 1024, 4096], 16, 6) == []


def test_high_order_linear_attention_matches_exact_softmax_attention():
    q, k, v = linear_attention.random_qkv(32, 4, seed=3)
    exact, _ = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(linear_attention.linear_attention(q, k, v, order=12), exact, atol=1e-4, rtol=1e-3)


def test_crossover_is_interpolated_between_grid_points():
    assert linear_attention.crossover_length([10, 100], [1.0, 10.0], [2.0, 5.0]) == pytest.approx(10 ** 1.5)
    assert linear_attention.crossover_length([10, 100], [1.0, 2.0], [3.0, 4.0]) is None


def test_attention_timing_reports_both_curves_and_flops():
    result = linear_attention.attention_timing(linear_attention.TimingConfig(dim=4, order=2, lengths=(16, 32), repeats=1))
    assert result["feature_dimension"] == 15
    assert len(result["exact_seconds"]) == len(result["linear_seconds"]) == 2
    assert result["exact_flops"][1] == 4 * 32 * 32 * 4 + 3 * 32 * 32


def test_bench_attention_command_prints_json(capsys):
    assert main(["bench", "attention", "--lengths", "16,32", "--repeats", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lengths"] == [16, 32] and result["feature_dimension"] == 165
