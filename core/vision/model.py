"""The homework CNN (IST Deep Learning, Homework 2, Q2): two conv layers and an MLP head, with two variants.

`maxpool`: conv → ReLU → 2x2 max-pool, twice. `strided` (the homework's `no_maxpool`): no pooling; the
convolutions downsample with stride 2 instead, which gives the same feature-map sizes and parameter count.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from core.checkpoints import count_trainable_parameters

VARIANTS = ("maxpool", "strided")


@dataclass(frozen=True)
class CNNConfig:
    num_classes: int
    conv1_kernel: int  # 3 (octmnist) or 5 (kmnist); 'same' padding in the max-pool variant
    hidden1: int  # first fully connected layer: 320 (octmnist) or 600 (kmnist)
    dropout: float
    variant: str = "maxpool"  # "maxpool" or "strided"
    conv1_channels: int = 8
    conv2_channels: int = 16
    hidden2: int = 120
    image_size: int = 28

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be 'maxpool' or 'strided', not {self.variant!r}")


PRESETS = {
    "octmnist": CNNConfig(num_classes=4, conv1_kernel=3, hidden1=320, dropout=0.7),
    "kmnist": CNNConfig(num_classes=10, conv1_kernel=5, hidden1=600, dropout=0.3),
}


def preset_config(preset: str, variant: str = "maxpool") -> CNNConfig:
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    return replace(PRESETS[preset], variant=variant)


class HomeworkCNN(nn.Module):
    config_class = CNNConfig

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        k = config.conv1_kernel
        if config.variant == "maxpool":
            self.conv1 = nn.Conv2d(1, config.conv1_channels, k, stride=1, padding=k // 2)
            self.conv2 = nn.Conv2d(config.conv1_channels, config.conv2_channels, 3, stride=1, padding=0)
            self.pool = nn.MaxPool2d(2, 2)
        else:
            self.conv1 = nn.Conv2d(1, config.conv1_channels, k, stride=2, padding=k // 2)
            self.conv2 = nn.Conv2d(config.conv1_channels, config.conv2_channels, 3, stride=2, padding=0)
            self.pool = nn.Identity()
        side = self.feature_map_sides()[-1]
        self.fc1 = nn.Linear(config.conv2_channels * side * side, config.hidden1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.hidden1, config.hidden2)
        self.fc3 = nn.Linear(config.hidden2, config.num_classes)

    def feature_map_sides(self) -> list[int]:
        """Side length after conv1, after its pooling, after conv2 and after its pooling."""
        side = self.config.image_size
        k = self.config.conv1_kernel
        if self.config.variant == "maxpool":
            after_conv1 = side
            after_pool1 = after_conv1 // 2
            after_conv2 = after_pool1 - 2
            return [after_conv1, after_pool1, after_conv2, after_conv2 // 2]
        after_conv1 = (side + 2 * (k // 2) - k) // 2 + 1
        after_conv2 = (after_conv1 - 3) // 2 + 1
        return [after_conv1, after_conv1, after_conv2, after_conv2]

    def forward_with_activations(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Log-probabilities and the ReLU outputs of conv1 and conv2 (what the Vision lab draws)."""
        # images: (batch, 1, 28, 28)
        conv1 = torch.relu(self.conv1(images))  # (batch, 8, 28 or 14, same)
        conv2 = torch.relu(self.conv2(self.pool(conv1)))  # (batch, 16, 12 or 6, same)
        features = self.pool(conv2).flatten(1)  # (batch, 576)
        hidden = self.dropout(torch.relu(self.fc1(features)))
        hidden = torch.relu(self.fc2(hidden))
        log_probs = torch.log_softmax(self.fc3(hidden), dim=-1)  # (batch, classes)
        return log_probs, {"conv1": conv1, "conv2": conv2}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(images)[0]


def get_number_trainable_params(model: nn.Module) -> int:
    """The homework's name for the parameter count it asked for."""
    return count_trainable_parameters(model)


def parameter_table(model: HomeworkCNN) -> list[dict]:
    """Per-layer parameter counts, plus the fully connected layer that could replace conv+pool (homework Q1c).

    The replacement maps the flattened 28x28 input straight to the same number of features that the
    convolutional part hands to fc1, so the comparison shows what weight sharing and locality save.
    """
    rows = []
    for layer_name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        layer = getattr(model, layer_name)
        weight, bias = layer.weight, layer.bias
        rows.append({
            "layer": layer_name,
            "shape": " × ".join(str(size) for size in weight.shape),
            "weights": weight.numel(),
            "biases": bias.numel(),
            "parameters": weight.numel() + bias.numel(),
        })
    config = model.config
    conv_parameters = rows[0]["parameters"] + rows[1]["parameters"]
    inputs = config.image_size * config.image_size
    outputs = model.fc1.in_features
    dense = inputs * outputs + outputs
    rows.append({
        "layer": f"fully connected {inputs} → {outputs} (would replace conv1+conv2)",
        "shape": f"{outputs} × {inputs}",
        "weights": inputs * outputs,
        "biases": outputs,
        "parameters": dense,
        "times_conv_parameters": round(dense / conv_parameters, 1),
    })
    return rows
