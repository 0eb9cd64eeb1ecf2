"""The homework CNN: exact parameter counts, shapes of both variants, and the per-layer table."""
import pytest
import torch

from core.checkpoints import architecture_of, build_model
from core.vision.model import HomeworkCNN, get_number_trainable_params, parameter_table, preset_config


@pytest.mark.parametrize("preset, expected", [("octmnist", 224_892), ("kmnist", 420_906)])
@pytest.mark.parametrize("variant", ["maxpool", "strided"])
def test_parameter_counts_match_the_homework(preset, variant, expected):
    assert get_number_trainable_params(HomeworkCNN(preset_config(preset, variant))) == expected


@pytest.mark.parametrize("variant, conv1_side, conv2_side", [("maxpool", 28, 12), ("strided", 14, 6)])
def test_activation_shapes(variant, conv1_side, conv2_side):
    model = HomeworkCNN(preset_config("kmnist", variant)).eval()
    log_probs, activations = model.forward_with_activations(torch.rand(3, 1, 28, 28))
    assert log_probs.shape == (3, 10)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3), atol=1e-5)
    assert activations["conv1"].shape == (3, 8, conv1_side, conv1_side)
    assert activations["conv2"].shape == (3, 16, conv2_side, conv2_side)
    assert (activations["conv1"] >= 0).all()  # after ReLU


def test_parameter_table_adds_up_and_compares_with_a_dense_layer():
    model = HomeworkCNN(preset_config("kmnist"))
    table = parameter_table(model)
    assert sum(row["parameters"] for row in table[:5]) == 420_906
    dense = table[-1]
    assert dense["parameters"] == 784 * 576 + 576
    assert dense["times_conv_parameters"] > 100


def test_architecture_round_trip_rebuilds_the_same_model():
    model = HomeworkCNN(preset_config("octmnist", "strided"))
    rebuilt = build_model(architecture_of(model), HomeworkCNN)
    assert rebuilt.config == model.config
    assert isinstance(rebuilt.pool, torch.nn.Identity)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        preset_config("kmnist", "avgpool")
