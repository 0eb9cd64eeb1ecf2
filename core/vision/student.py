"""A student's own homework CNN, recognised by the shapes in its state_dict whatever its layers are called.

The course skeleton names the layers conv1, conv2, fc1, fc2, fc3; students rename them (`conv1.0` inside an
nn.Sequential, `affine_transf1`), so the detector reads structure: two 4-D convolution weights and three 2-D linear
weights, each with its bias, chained by their shapes. Dropout, pooling and log-softmax store nothing, so the max-pool
and strided variants have identical tensors: a file always has both readings, and the caller picks one.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.checkpoints import architecture_of, count_trainable_parameters
from core.errors import BadInputError
from core.state_dicts import (STUDENT_SUFFIXES, Detection, StudentCheckpointError, StudentWeights, detect,
                              read_student_file, read_student_weights)
from core.vision.data import kmnist_class_names, octmnist_class_names
from core.vision.model import VARIANTS, HomeworkCNN, parameter_table, preset_config
from core.vision.protocol import RECIPES

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")  # Glassbox's names, in the order of the forward pass
PRESET_OF_KERNEL = {5: "kmnist", 3: "octmnist"}
PRESET_TITLES = {"kmnist": "Kuzushiji-MNIST", "octmnist": "OCTMNIST"}
CLASS_NAMES = {"kmnist": kmnist_class_names, "octmnist": octmnist_class_names}
DEFAULT_VARIANT = "maxpool"
MAX_TENSORS = 24  # the homework CNN has 10; a file with many more is another network, left to the other labs
AMBIGUOUS_VARIANT = ("The max-pool and strided variants have the same tensors (pooling stores no weights), so the file "
                     "cannot tell which one was trained: both readings are offered.")
ASSUMED_VARIANT = ("The file cannot tell the max-pool variant from the strided one, so it was read as max-pool "
                   "(the homework's first question); pass --variant strided for the other reading.")


@dataclass
class StudentLayer:
    """One module of the student's network: its name in their code and its parameters."""

    name: str  # e.g. "conv1.0" or "affine_transf1"
    weight: torch.Tensor
    bias: torch.Tensor | None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.shape)


@dataclass
class StudentCNN:
    """A student's checkpoint loaded as Glassbox's CNN: one (model, card) per reading of the variant."""

    filename: str
    preset: str
    detection: Detection
    readings: dict[str, tuple[HomeworkCNN, dict]]  # variant -> (model in eval mode, card)

    @property
    def class_names(self) -> list[str]:
        return next(iter(self.readings.values()))[1]["dataset"]["classes"]


def detect_student_cnn(weights: StudentWeights) -> Detection | None:
    """The Vision lab's `Detector`: the homework CNN in either preset; None when the tensors are no small CNN."""
    layers, others = _layers(weights.tensors)
    convolutions = [layer for layer in layers if layer.weight.ndim == 4]
    linears = [layer for layer in layers if layer.weight.ndim == 2]
    if not convolutions or not linears or len(weights.tensors) > MAX_TENSORS:
        return None
    preset, matched = _match(convolutions, linears, others)
    config = asdict(preset_config(preset))
    del config["variant"]  # the one thing the file cannot tell
    renamed = {f"{layer.name}.{leaf}": f"{ours}.{leaf}" for ours, layer in zip(LAYERS, matched)
               for leaf in ("weight", "bias") if layer.name != ours}
    return Detection(
        task="cnn",
        architecture=f"homework CNN, {PRESET_TITLES[preset]} preset (conv1 {config['conv1_channels']}x"
                     f"{config['conv1_kernel']}x{config['conv1_kernel']}, fc1 {matched[2].shape[1]}->{config['hidden1']}, "
                     f"{config['num_classes']} classes)",
        parameters=weights.parameter_count, config=config, variants=list(VARIANTS), renamed=renamed,
        notes=[AMBIGUOUS_VARIANT])


def _layers(tensors: dict[str, torch.Tensor]) -> tuple[list[StudentLayer], list[str]]:
    """Modules holding a 2-D or 4-D weight, in the state_dict's order, and the keys that belong to no such module."""
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        module, _, leaf = key.rpartition(".")
        modules.setdefault(module, {})[leaf] = tensor
    layers, others = [], []
    for module, leaves in modules.items():
        weight = leaves.get("weight")
        if weight is not None and weight.ndim in (2, 4) and set(leaves) <= {"weight", "bias"}:
            layers.append(StudentLayer(module, weight, leaves.get("bias")))
        else:
            others += [f"{module}.{leaf}" if module else leaf for leaf in leaves]
    return layers, others


def _match(convolutions: list[StudentLayer], linears: list[StudentLayer], others: list[str]) -> tuple[str, list[StudentLayer]]:
    """The preset and the student's layers in Glassbox's order; the first layer that does not fit raises."""
    if others:
        raise _misfit(f"{others[0]} belongs to no convolution or linear layer; the homework CNN has only conv1, conv2, "
                      "fc1, fc2 and fc3 (no batch norm or other layers).")
    if len(convolutions) != 2 or len(linears) != 3:
        names = ", ".join(layer.name for layer in convolutions + linears)
        raise _misfit(f"{len(convolutions)} convolutions and {len(linears)} linear layers ({names}); the homework CNN "
                      "has two convolutions (conv1, conv2) and three linear layers (fc1, fc2, fc3).")
    matched = _chained(convolutions) + _chained(linears)
    conv1 = matched[0]
    preset = PRESET_OF_KERNEL.get(conv1.shape[-1])
    if preset is None or conv1.shape[-2] != conv1.shape[-1]:
        raise _misfit(f"conv1 ({conv1.name}.weight) has shape {conv1.shape}; expected (8, 1, 5, 5) for the "
                      "Kuzushiji-MNIST preset or (8, 1, 3, 3) for OCTMNIST.")
    expected = {key: tuple(tensor.shape) for key, tensor in HomeworkCNN(preset_config(preset)).state_dict().items()}
    for ours, layer in zip(LAYERS, matched):
        where = f"{ours} ({layer.name})" if layer.name != ours else ours
        if layer.shape != expected[f"{ours}.weight"]:
            raise _misfit(f"{where} has a weight of shape {layer.shape}; the {PRESET_TITLES[preset]} preset (conv1 "
                          f"kernel {conv1.shape[-1]}) expects {expected[f'{ours}.weight']}.")
        if layer.bias is None or tuple(layer.bias.shape) != expected[f"{ours}.bias"]:
            found = "no bias" if layer.bias is None else f"a bias of shape {tuple(layer.bias.shape)}"
            raise _misfit(f"{where} has {found}; the homework's {ours} has a bias of shape {expected[f'{ours}.bias']}.")
    return preset, matched


def _chained(layers: list[StudentLayer]) -> list[StudentLayer]:
    """The layers in an order where each one's outputs are the next one's inputs (the state_dict's order if it is)."""
    for order in itertools.permutations(layers):
        if all(before.shape[0] == after.shape[1] for before, after in zip(order, order[1:])):
            return list(order)
    return layers


def _misfit(reason: str) -> StudentCheckpointError:
    return StudentCheckpointError(f"These look like a CNN but not the homework's: {reason}")


def load_student_cnn(weights: StudentWeights, filename: str) -> StudentCNN:
    """Both readings of a student's homework CNN, loaded strictly into Glassbox's model under Glassbox's names."""
    detection = detect(weights, [detect_student_cnn], filename)[0]
    preset = PRESET_OF_KERNEL[detection.config["conv1_kernel"]]
    state_dict = {detection.renamed.get(key, key): tensor for key, tensor in weights.tensors.items()}
    readings = {}
    for variant in detection.variants:
        model = HomeworkCNN(preset_config(preset, variant))
        model.load_state_dict(state_dict, strict=True)  # the detector checked every name and shape
        readings[variant] = model.eval(), _card(model, preset, variant, filename)
    return StudentCNN(filename, preset, detection, readings)


def read_student_cnn(source: Path | bytes, filename: str | None = None) -> StudentCNN:
    """A student's file (a path, or an upload's bytes and name) as their homework CNN."""
    if isinstance(source, Path):
        return load_student_cnn(read_student_file(source), source.name)
    return load_student_cnn(read_student_weights(source, filename or "upload"), filename or "upload")


def _card(model: HomeworkCNN, preset: str, variant: str, filename: str) -> dict:
    """What the lab's functions read from a model card, for a model that came without one."""
    return {
        "task": "cnn", "name": filename, "title": f"{filename} ({variant} reading)", "preset": preset, "variant": variant,
        "architecture": architecture_of(model),
        "dataset": {"name": RECIPES[preset].dataset, "classes": CLASS_NAMES[preset]()},
        "trainable_parameters": count_trainable_parameters(model),
        "parameter_table": parameter_table(model),
    }


def student_file(model: str) -> Path | None:
    """The path when `model` names a student's file, not a shipped checkpoint or a Glassbox file beside its card."""
    path = Path(model)
    if path.suffix in STUDENT_SUFFIXES and path.is_file() and not path.with_suffix(".json").is_file():
        return path
    return None


def chosen_variant(variant: str | None) -> tuple[str, str | None]:
    """The reading to use and, when it was assumed rather than chosen, the sentence that says so."""
    if variant is None:
        return DEFAULT_VARIANT, ASSUMED_VARIANT
    if variant not in VARIANTS:
        raise BadInputError(f"--variant must be one of {', '.join(VARIANTS)}, not {variant!r}.")
    return variant, None
