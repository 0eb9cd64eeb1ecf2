"""The Vision lab's work: the homework's training protocol, evaluation and classification of one image.

Protocol (IST Homework 2, Q2): train the max-pool CNN at each learning rate of the sweep, pick the rate with
the best final validation accuracy, train the strided variant (at every rate too, for the comparison),
evaluate both on test, and write both checkpoints with every sweep curve in their cards.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import paths
from core import checkpoints
from core.checkpoints import architecture_of, save_checkpoint
from core.data.images import ImageDataset, PreparedImage, load_dataset, prepare_image, to_model_input
from core.models.cnn import HomeworkCNN, parameter_table, preset_config
from core.train import RunSettings, fit

VARIANTS = ("maxpool", "strided")


@dataclass(frozen=True)
class SweepRecipe:
    """The homework's training recipe for one preset."""

    dataset: str
    optimizer: str  # "sgd" or "adam"
    epochs: int
    learning_rates: tuple[float, ...]
    batch_size: int = 8  # the homework script's default
    seed: int = 42  # the homework script's configure_seed(42)


RECIPES = {
    "octmnist": SweepRecipe(dataset="octmnist", optimizer="sgd", epochs=15, learning_rates=(0.1, 0.01, 0.001)),
    "kmnist": SweepRecipe(dataset="kmnist-10k", optimizer="adam", epochs=20, learning_rates=(0.00001, 0.0005, 0.01)),
}


def checkpoint_name(preset: str, variant: str) -> str:
    return f"cnn/{preset}-{variant}"


def train_one(
    preset: str, variant: str, learning_rate: float, data: ImageDataset, recipe: SweepRecipe,
    device: str = "cpu", runs_dir: Path | None = None, quiet: bool = False,
) -> tuple[HomeworkCNN, list[dict]]:
    """Train one model of the sweep (resumable: its run folder keeps a state per epoch)."""
    torch.manual_seed(recipe.seed)
    model = HomeworkCNN(preset_config(preset, variant))
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    optimizer = optimizers[recipe.optimizer](model.parameters(), lr=learning_rate)
    train_x, train_y = data.tensors("train")
    val_x, val_y = data.tensors("val")
    loss_function = nn.NLLLoss()

    def train_batches(epoch: int):
        order = torch.randperm(len(train_y))
        return [(train_x[rows], train_y[rows]) for rows in order.split(recipe.batch_size)]

    def batch_loss(model, batch):
        images, labels = (tensor.to(device) for tensor in batch)
        return loss_function(model(images), labels), len(labels)

    def evaluate(model):
        return {"val_accuracy": accuracy(model, val_x, val_y, device)}

    run_dir = Path(runs_dir or paths.RUNS) / "cnn" / data.name / f"{preset}-{variant}-lr{learning_rate:g}"
    settings = RunSettings(
        run_dir=run_dir, epochs=recipe.epochs, seed=recipe.seed, device=device, quiet=quiet,
        description=f"{variant} lr={learning_rate:g}",
        fingerprint={"preset": preset, "variant": variant, "lr": learning_rate, "recipe": asdict(recipe), "data": data.name},
    )
    history = fit(model, optimizer, train_batches, batch_loss, evaluate, settings)
    return model.cpu().eval(), history


def predict(model: nn.Module, images: torch.Tensor, device: str = "cpu", batch_size: int = 1000) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(chunk.to(device)).argmax(-1).cpu() for chunk in images.split(batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: str = "cpu") -> float:
    return (predict(model, images, device) == labels).float().mean().item()


def confusion_matrix(true_labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    counts = np.bincount(true_labels * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).tolist()


def test_report(model: nn.Module, data: ImageDataset, split: str = "test", device: str = "cpu", limit: int | None = None) -> dict:
    """Accuracy and confusion matrix on a split (its first `limit` images only, when given)."""
    images, labels = data.tensors(split)
    images, labels = images[:limit], labels[:limit]
    predicted = predict(model, images, device)
    matrix = confusion_matrix(labels.numpy(), predicted.numpy(), len(data.class_names))
    return {"accuracy": (predicted == labels).float().mean().item(), "n": len(labels), "confusion_matrix": matrix}


def run_protocol(
    preset: str, dataset: str | None = None, epochs: int | None = None, device: str = "cpu",
    checkpoints_dir: Path | None = None, runs_dir: Path | None = None, quiet: bool = False,
) -> dict:
    """The whole homework protocol; writes `cnn/<preset>-maxpool` and `cnn/<preset>-strided`."""
    recipe = RECIPES[preset]
    recipe = replace(recipe, dataset=dataset or recipe.dataset, epochs=epochs or recipe.epochs)
    data = load_dataset(recipe.dataset)
    sweep, models = [], {}
    for variant in VARIANTS:
        for learning_rate in recipe.learning_rates:
            model, history = train_one(preset, variant, learning_rate, data, recipe, device, runs_dir, quiet)
            models[variant, learning_rate] = model
            sweep.append({
                "variant": variant, "learning_rate": learning_rate,
                "train_loss": [record["train_loss"] for record in history],
                "val_accuracy": [record["val_accuracy"] for record in history],
                "final_val_accuracy": history[-1]["val_accuracy"],
                "test_accuracy": test_report(model, data)["accuracy"],
            })
    maxpool_runs = [run for run in sweep if run["variant"] == "maxpool"]
    best_rate = max(maxpool_runs, key=lambda run: run["final_val_accuracy"])["learning_rate"]

    written = {}
    for variant in VARIANTS:
        model = models[variant, best_rate]
        chosen = next(run for run in sweep if run["variant"] == variant and run["learning_rate"] == best_rate)
        card = {
            "task": "cnn",
            "title": f"Homework CNN, {variant} variant, {preset} preset",
            "architecture": architecture_of(model),
            "preset": preset,
            "variant": variant,
            "dataset": data.describe(),
            "training": {**asdict(recipe), "loss": "NLLLoss on log-softmax outputs", "selected_learning_rate": best_rate,
                         "selection": "learning rate with the best final validation accuracy of the max-pool sweep"},
            "curves": {"train_loss": chosen["train_loss"], "val_accuracy": chosen["val_accuracy"]},
            "sweep": sweep,
            "metrics": {f"test_{key}": value for key, value in test_report(model, data).items()},
            "parameter_table": parameter_table(model),
        }
        card["metrics"]["val_accuracy"] = chosen["final_val_accuracy"]
        name = checkpoint_name(preset, variant)
        written[name] = save_checkpoint(model, card, name, checkpoints_dir)
    return {
        "selected_learning_rate": best_rate,
        "sweep": [{key: run[key] for key in ("variant", "learning_rate", "final_val_accuracy", "test_accuracy")} for run in sweep],
        "checkpoints": {name: {"test_accuracy": card["metrics"]["test_accuracy"], "sha256": card["weights"]["sha256"]}
                        for name, card in written.items()},
    }


@dataclass
class Classification:
    class_names: list[str]
    probabilities: np.ndarray  # (classes,)
    activations: dict[str, np.ndarray]  # "conv1": (8, H, W), "conv2": (16, H, W)
    image: PreparedImage

    @property
    def label(self) -> str:
        return self.class_names[int(self.probabilities.argmax())]



def load_model(name: str, device: str = "cpu", root: Path | None = None) -> tuple[HomeworkCNN, dict]:
    """A shipped (or trained) checkpoint of this lab, hash-checked, in eval mode, with its card."""
    return checkpoints.load_model(name, HomeworkCNN, root, device)


def classify(model: HomeworkCNN, card: dict, image: PreparedImage) -> Classification:
    with torch.no_grad():
        log_probs, activations = model.forward_with_activations(to_model_input(image.pixels))
    return Classification(
        class_names=card["dataset"]["classes"],
        probabilities=log_probs.exp()[0].numpy(),
        activations={name: value[0].numpy() for name, value in activations.items()},
        image=image,
    )


def export_examples(data: ImageDataset, out_dir: Path, per_class: int = 3, split: str = "test") -> list[dict]:
    """Write a few held-out images per class as PNGs plus `examples.json`, for the page to offer."""
    from PIL import Image

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
    index = paths.ASSETS / "vision" / preset / "examples.json"
    if not index.exists():
        return []
    examples = json.loads(index.read_text(encoding="utf-8"))["examples"]
    for example in examples:
        example["path"] = index.parent / example["file"]
    return examples


# ---- command line -------------------------------------------------------------------------------------------

def register(commands) -> None:
    train = commands.task("train", "cnn", "Run the CNN homework protocol: learning-rate sweep, both variants, test.", _train_cli)
    train.add_argument("--preset", choices=sorted(RECIPES), default="kmnist", help="homework preset (default: kmnist)")
    train.add_argument("--dataset", choices=["kmnist-10k", "kmnist-full", "octmnist"], default=None,
                       help="data set (default: the preset's; kmnist-10k works offline)")
    train.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (for quick trials)")
    train.add_argument("--checkpoints-dir", type=Path, default=None, help="where to write checkpoints (default: checkpoints/)")
    train.add_argument("--runs-dir", type=Path, default=None, help="where resumable run states go (default: runs/)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    classify_parser = commands.verb("classify", "Classify an image file with a shipped CNN.", _classify_cli)
    classify_parser.add_argument("image", type=Path, help="any image file (shown to the model as 28x28 grayscale)")
    classify_parser.add_argument("--model", default="cnn/kmnist-maxpool", help="checkpoint (default: cnn/kmnist-maxpool)")
    classify_parser.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                                 help="make strokes light on dark as in training (default: auto)")
    commands.evaluators["cnn"] = _evaluate_cli

    examples = commands.task("data", "vision-examples", "Write held-out example images for the Vision lab page.", _examples_cli)
    examples.add_argument("--preset", choices=sorted(RECIPES), default="kmnist")
    examples.add_argument("--per-class", type=int, default=3)
    examples.add_argument("--out", type=Path, default=None, help="folder (default: assets/vision/<preset>)")


def _train_cli(args: argparse.Namespace) -> dict:
    return run_protocol(args.preset, args.dataset, args.epochs, args.device, args.checkpoints_dir, args.runs_dir, args.quiet)


def _evaluate_cli(args: argparse.Namespace) -> dict:
    model, card = load_model(args.model, device=args.device)
    data = load_dataset(card["dataset"]["name"], seed=card["dataset"].get("split_seed") or 0)
    report = test_report(model, data, args.split, args.device, limit=args.limit)
    print(f"{args.model} on {data.name} {args.split}: accuracy {report['accuracy']:.4f} (n={report['n']})", file=sys.stderr)
    return {"accuracy": report["accuracy"], "n": report["n"]}


def _examples_cli(args: argparse.Namespace) -> dict:
    data = load_dataset(RECIPES[args.preset].dataset)
    out_dir = args.out or paths.ASSETS / "vision" / args.preset
    return {"written": len(export_examples(data, out_dir, args.per_class)), "folder": str(out_dir)}


def _classify_cli(args: argparse.Namespace) -> dict:
    from core.errors import BadInputError

    if not args.image.exists():
        raise BadInputError(f"{args.image} does not exist.")
    model, card = load_model(args.model, device="cpu")
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    result = classify(model, card, prepare_image(args.image.read_bytes(), invert=invert))
    return {
        "model": args.model,
        "label": result.label,
        "class_index": int(result.probabilities.argmax()),
        "probabilities": {name: float(p) for name, p in zip(result.class_names, result.probabilities)},
        "inverted": result.image.inverted,
    }
