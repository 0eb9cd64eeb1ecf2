"""Neural networks, each built from a config dataclass so a model card can rebuild it.

`build_model` turns a card's `architecture` entry ({"class": ..., "config": {...}}) back into a module.
Each model module adds its class to MODEL_CLASSES when it defines one.
"""
from __future__ import annotations

import dataclasses
import importlib

import torch

# class name -> module that defines it (imported on demand, so loading a CNN does not import the speech models).
MODEL_MODULES = {
    "HomeworkCNN": "core.models.cnn",
    "SpeechRecognizer": "core.models.asr",
    "Translator": "core.models.mt",
}


def architecture_of(model: torch.nn.Module) -> dict:
    """The card entry that rebuilds `model`: its class name and its config as plain JSON."""
    return {"class": type(model).__name__, "config": dataclasses.asdict(model.config)}


def build_model(architecture: dict) -> torch.nn.Module:
    class_name = architecture["class"]
    if class_name not in MODEL_MODULES:
        raise ValueError(f"Unknown model class '{class_name}'; known: {', '.join(sorted(MODEL_MODULES))}.")
    model_class = getattr(importlib.import_module(MODEL_MODULES[class_name]), class_name)
    config = model_class.config_class(**architecture["config"])
    return model_class(config)
