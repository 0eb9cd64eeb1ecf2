"""The Vision lab's homework protocol: learning-rate sweep, both variants, test, checkpoints and their cards.

Protocol (IST Homework 2, Q2): train the max-pool CNN at each learning rate of the sweep, pick the rate with
the best final validation accuracy, train the strided variant (at every rate too, for the comparison),
evaluate both on test, and write both checkpoints with every sweep curve in their cards.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from core import paths
from core.checkpoints import architecture_of, save_checkpoint
from core.train import RunSettings, fit
from core.vision.data import ImageDataset, load_dataset
from core.vision.inference import checkpoint_name
from core.vision.model import VARIANTS, HomeworkCNN, parameter_table, preset_config


@dataclass(frozen=True)
class VisionRecipe:
    """The homework's training recipe for one preset."""

    dataset: str
    optimizer: str  # "sgd" or "adam"
    epochs: int
    learning_rates: tuple[float, ...]
    batch_size: int = 8  # the homework script's default
    seed: int = 42  # the homework script's configure_seed(42)


RECIPES = {
    "octmnist": VisionRecipe(dataset="octmnist", optimizer="sgd", epochs=15, learning_rates=(0.1, 0.01, 0.001)),
    "kmnist": VisionRecipe(dataset="kmnist-10k", optimizer="adam", epochs=20, learning_rates=(0.00001, 0.0005, 0.01)),
}


def recipe_for(preset: str, dataset: str | None = None, epochs: int | None = None) -> VisionRecipe:
    """The preset's recipe, with another data set or number of epochs when given."""
    recipe = RECIPES[preset]
    return replace(recipe, dataset=dataset or recipe.dataset, epochs=epochs or recipe.epochs)


# ---- training -----------------------------------------------------------------------------------------------

def train_one(
    preset: str, variant: str, learning_rate: float, data: ImageDataset, recipe: VisionRecipe,
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


def run_sweep(
    preset: str, recipe: VisionRecipe, data: ImageDataset, device: str = "cpu",
    runs_dir: Path | None = None, quiet: bool = False,
) -> tuple[list[dict], dict[tuple[str, float], HomeworkCNN]]:
    """Both variants at every learning rate: one record per run (curves, final scores) and the trained models."""
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
    return sweep, models


def select_learning_rate(sweep: list[dict]) -> float:
    """The homework's choice: the rate whose max-pool run ends with the best validation accuracy."""
    maxpool_runs = [run for run in sweep if run["variant"] == "maxpool"]
    return max(maxpool_runs, key=lambda run: run["final_val_accuracy"])["learning_rate"]


def run_protocol(
    preset: str, recipe: VisionRecipe, device: str = "cpu", checkpoints_dir: Path | None = None,
    runs_dir: Path | None = None, quiet: bool = False,
) -> dict:
    """The whole homework protocol; writes `cnn/<preset>-maxpool` and `cnn/<preset>-strided`."""
    data = load_dataset(recipe.dataset)
    sweep, models = run_sweep(preset, recipe, data, device, runs_dir, quiet)
    best_rate = select_learning_rate(sweep)
    written = {}
    for variant in VARIANTS:
        model = models[variant, best_rate]
        name = checkpoint_name(preset, variant)
        card = build_card(model, preset, variant, recipe, data, sweep, best_rate)
        written[name] = save_checkpoint(model, card, name, checkpoints_dir)
    return {
        "selected_learning_rate": best_rate,
        "sweep": [{key: run[key] for key in ("variant", "learning_rate", "final_val_accuracy", "test_accuracy")} for run in sweep],
        "checkpoints": {name: {"test_accuracy": card["metrics"]["test_accuracy"], "sha256": card["weights"]["sha256"]}
                        for name, card in written.items()},
    }


def build_card(
    model: HomeworkCNN, preset: str, variant: str, recipe: VisionRecipe, data: ImageDataset,
    sweep: list[dict], selected_rate: float,
) -> dict:
    """The model card of one variant, from the recipe that ran, the data, the whole sweep and its test report."""
    chosen = next(run for run in sweep if run["variant"] == variant and run["learning_rate"] == selected_rate)
    metrics = {f"test_{key}": value for key, value in test_report(model, data).items()}
    metrics["val_accuracy"] = chosen["final_val_accuracy"]
    return {
        "task": "cnn",
        "title": f"Homework CNN, {variant} variant, {preset} preset",
        "architecture": architecture_of(model),
        "preset": preset,
        "variant": variant,
        "dataset": data.describe(),
        "training": {**asdict(recipe), "loss": "NLLLoss on log-softmax outputs", "selected_learning_rate": selected_rate,
                     "selection": "learning rate with the best final validation accuracy of the max-pool sweep"},
        "curves": {"train_loss": chosen["train_loss"], "val_accuracy": chosen["val_accuracy"]},
        "sweep": sweep,
        "metrics": metrics,
        "parameter_table": parameter_table(model),
    }


# What each preset's images are, in words a newcomer knows; the numbers come from the card.
DATA_IN_WORDS = {"kmnist": "handwritten cursive Japanese characters (Kuzushiji-MNIST)",
                 "octmnist": "retina OCT scans (OCTMNIST)"}


def training_data_summary(card: dict) -> str:
    """One line on what a CNN learned from, read from its card: the same words on the home page and in the lab."""
    dataset, training = card["dataset"], card["training"]
    sizes = dataset["sizes"]
    what = DATA_IN_WORDS.get(card.get("preset"), dataset["name"])
    return (f"Trained on {sizes['train']:,} real {what}, {training['epochs']} epochs; "
            f"{sizes['val']:,} more chose the learning rate and {sizes['test']:,} held out for the test.")

# ---- evaluation ---------------------------------------------------------------------------------------------

def predict(model: nn.Module, images: torch.Tensor, device: str = "cpu", batch_size: int = 1000,
            on_progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """Predicted classes; `on_progress` hears the share of images done after each batch (a page's progress bar)."""
    model.eval()
    predicted, done = [], 0
    with torch.no_grad():
        for chunk in images.split(batch_size):
            predicted.append(model(chunk.to(device)).argmax(-1).cpu())
            done += len(chunk)
            if on_progress:
                on_progress(done / len(images))
    return torch.cat(predicted)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: str = "cpu") -> float:
    return (predict(model, images, device) == labels).float().mean().item()


def confusion_matrix(true_labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    counts = np.bincount(true_labels * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).tolist()


def test_report(model: nn.Module, data: ImageDataset, split: str = "test", device: str = "cpu", limit: int | None = None,
                on_progress: Callable[[float], None] | None = None, batch_size: int = 1000) -> dict:
    """Accuracy and confusion matrix on a split (its first `limit` images only, when given)."""
    images, labels = data.tensors(split)
    images, labels = images[:limit], labels[:limit]
    predicted = predict(model, images, device, batch_size, on_progress)
    matrix = confusion_matrix(labels.numpy(), predicted.numpy(), len(data.class_names))
    return {"accuracy": (predicted == labels).float().mean().item(), "n": len(labels), "confusion_matrix": matrix}


def evaluate_on_card_data(model: nn.Module, card: dict, split: str = "test", device: str = "cpu", limit: int | None = None,
                          on_progress: Callable[[float], None] | None = None, batch_size: int = 1000) -> dict:
    """`test_report` on the data set and split seed the card names, which is where the shipped models were scored."""
    dataset = card["dataset"]
    data = load_dataset(dataset["name"], seed=dataset.get("split_seed") or 0)
    return {"dataset": data.name, **test_report(model, data, split, device, limit, on_progress, batch_size)}
