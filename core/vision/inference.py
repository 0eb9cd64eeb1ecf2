"""How one image becomes a prediction: shipped checkpoints, classification with activations, example images."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core import checkpoints, paths
from core.vision.data import ImageDataset, PreparedImage, to_model_input
from core.vision.model import HomeworkCNN


def checkpoint_name(preset: str, variant: str) -> str:
    return f"cnn/{preset}-{variant}"


def load_model(name: str, device: str = "cpu", root: Path | None = None) -> tuple[HomeworkCNN, dict]:
    """A shipped (or trained) checkpoint of this lab, hash-checked, in eval mode, with its card."""
    return checkpoints.load_model(name, HomeworkCNN, root, device)


@dataclass
class Classification:
    class_names: list[str]
    probabilities: np.ndarray  # (classes,)
    activations: dict[str, np.ndarray]  # "conv1": (8, H, W), "conv2": (16, H, W)
    image: PreparedImage

    @property
    def label(self) -> str:
        return self.class_names[int(self.probabilities.argmax())]


def classify(model: HomeworkCNN, card: dict, image: PreparedImage) -> Classification:
    with torch.no_grad():
        log_probs, activations = model.forward_with_activations(to_model_input(image.pixels))
    return Classification(
        class_names=card["dataset"]["classes"],
        probabilities=log_probs.exp()[0].numpy(),
        activations={name: value[0].numpy() for name, value in activations.items()},
        image=image,
    )


def examples_folder(preset: str) -> Path:
    return paths.ASSETS / "vision" / preset


def export_examples(data: ImageDataset, out_dir: Path, per_class: int = 3, split: str = "test") -> list[dict]:
    """Write a few held-out images per class as PNGs plus `examples.json`, for the page to offer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images, labels = data.splits[split]
    examples = []
    for label, class_name in enumerate(data.class_names):
        for rank, row in enumerate(np.flatnonzero(labels == label)[:per_class]):
            file_name = f"{data.name}-{split}-{int(row):05d}.png"
            Image.fromarray(images[row]).save(out_dir / file_name)
            examples.append({"file": file_name, "label": label, "class_name": class_name, "split": split,
                             "row": int(row), "title": f"{class_name} #{rank + 1}"})
    (out_dir / "examples.json").write_text(json.dumps({"dataset": data.describe(), "examples": examples},
                                                      indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return examples


def load_examples(preset: str) -> list[dict]:
    """Example images shipped in assets/vision/<preset>/ (empty when none are shipped)."""
    index = examples_folder(preset) / "examples.json"
    if not index.exists():
        return []
    examples = json.loads(index.read_text(encoding="utf-8"))["examples"]
    for example in examples:
        example["path"] = index.parent / example["file"]
    return examples
