"""The homework's training protocol for the translator, its model card, and the choice of the model to ship.

Training runs through `core.train.fit` (resumable in runs/mt/<name>); the card records the recipe and config that
ran, the curves, the test scores of every reported beam width and the `train mt` command that reruns it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from core import checkpoints, paths
from core.checkpoints import architecture_of, save_checkpoint
from core.train import RunSettings, best_epoch, fit
from core.translation import data
from core.translation.evaluation import card_metrics, score
from core.translation.inference import LENGTH_PENALTY
from core.translation.model import Translator, TranslatorConfig

TRAIN_COMMAND = "python -m core train mt"


@dataclass
class TranslationRecipe:
    """The homework's recipe (IST DL 2022-23 HW2 Q3)."""

    epochs: int = 50
    learning_rate: float = 0.003
    batch_size: int = 64
    seed: int = 42
    limit_train: int | None = None  # only for quick smoke runs


# The `train mt` option of each recipe field: the card's command writes the recipe back with them.
RECIPE_OPTIONS = {"epochs": "--epochs", "learning_rate": "--lr", "batch_size": "--batch-size", "seed": "--seed",
                  "limit_train": "--limit-train"}


def train(
    name: str, attention: bool, recipe: TranslationRecipe, device: str = "cpu", quiet: bool = False,
    stop_after_epoch: int | None = None, encoder_per_direction: int | None = None,
) -> dict:
    """Train with the homework recipe through core.train.fit (resumable in runs/mt/<name>), then ship the checkpoint.

    `stop_after_epoch` ends this call early (a time budget) without changing the run: calling again without it
    resumes the same run up to `recipe.epochs`. The card records how many epochs were actually trained.
    """
    name = name if "/" in name else f"mt/{name}"
    pairs = {split: data.load_pairs(split) for split in data.SPLITS}
    vocabularies = data.build_vocabularies(pairs["train"])  # from the whole split, even when training on a part
    if recipe.limit_train:
        pairs["train"] = pairs["train"][: recipe.limit_train]
    config = TranslatorConfig(len(vocabularies[0]), len(vocabularies[1]), attention=attention,
                              encoder_per_direction=encoder_per_direction)
    torch.manual_seed(recipe.seed)
    model = Translator(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    settings = RunSettings(
        run_dir=paths.RUNS / name, epochs=min(recipe.epochs, stop_after_epoch or recipe.epochs), seed=recipe.seed,
        device=device, best_metric="val_error_rate", best_mode="min", description=name, quiet=quiet,
        fingerprint={"config": asdict(config), "recipe": asdict(recipe)},
    )
    history = fit(model, optimizer, *_epoch_functions(pairs, vocabularies, recipe, device), settings)
    model.eval()
    metrics, examples = card_metrics(model, *vocabularies, pairs["test"], device)
    card = build_card(name, model, recipe, history, metrics, examples, pairs, vocabularies, device)
    return save_checkpoint(model, card, name)


def _epoch_functions(pairs: dict[str, list[data.Pair]], vocabularies: tuple[data.CharVocabulary, data.CharVocabulary],
                     recipe: TranslationRecipe, device: str):
    """`fit`'s three callbacks: shuffled training batches per epoch, teacher-forced loss, validation error rate."""
    source_vocab, target_vocab = vocabularies

    def train_batches(epoch):
        generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
        return data.make_batches(pairs["train"], source_vocab, target_vocab, recipe.batch_size, generator)

    def batch_loss(model, batch):
        target_inputs, target_outputs = batch.target[:, :-1].to(device), batch.target[:, 1:].to(device)
        logits = model(batch.source.to(device), batch.source_lengths, target_inputs)  # (batch, steps, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), target_outputs.flatten(), ignore_index=data.PAD)
        return loss, len(batch.references)

    def evaluate(model):
        return {"val_error_rate": score(model, source_vocab, target_vocab, pairs["val"], device=device)["error_rate"]}

    return train_batches, batch_loss, evaluate


def build_card(
    name: str, model: Translator, recipe: TranslationRecipe, history: list[dict], metrics: dict, examples: list[dict],
    pairs: dict[str, list[data.Pair]], vocabularies: tuple[data.CharVocabulary, data.CharVocabulary], device: str,
) -> dict:
    """The model card of a finished run, written from the model, recipe, history and scores that came out of it."""
    config = model.config
    best = best_epoch(history, "val_error_rate", "min")
    return {
        "architecture": architecture_of(model),
        "title": "Character-level Spanish->English: BiLSTM encoder, LSTM decoder, "
        + ("bilinear attention" if config.attention else "no attention") + " (IST DL 2022-23 HW2 Q3)",
        "task": "Spanish -> English, character level",
        "encoder_note": _encoder_note(model),
        "dataset": {
            "name": data.DATASET_NAME,
            "source": "IST Deep Learning 2022-23 Homework 2 data (see shared/data/ist-char-mt-spa-eng/PROVENANCE.md)",
            "splits": {split: len(split_pairs) for split, split_pairs in pairs.items()},
        },
        "vocabulary": {"specials": data.SPECIALS, "source": vocabularies[0].characters,
                       "target": vocabularies[1].characters},
        "training": {
            **asdict(recipe),
            "optimizer": "Adam",
            "loss": "cross-entropy on next character, padding ignored (teacher forcing)",
            "dropout": config.dropout,
            "hidden_size": config.hidden_size,
            "epochs_completed": len(history),
            "weights_from_epoch": best["epoch"],
            "selection": "weights of the epoch with the lowest validation error rate (greedy)",
            "command": train_command(name, config, recipe),
            "device": device,
        },
        "decoding": {"length_penalty": LENGTH_PENALTY, "max_output_length": config.max_output_length},
        "curves": {key: [record[key] for record in history] for key in ("epoch", "train_loss", "val_error_rate")},
        "metrics": {**metrics, "val_error_rate": best["val_error_rate"]},
        "examples": examples,
    }


def train_command(name: str, config: TranslatorConfig, recipe: TranslationRecipe) -> str:
    """The `train mt` call that reruns this training: the checkpoint name, the model options and the whole recipe."""
    options = [f"--name {name.split('/', 1)[1]}", "--attention" if config.attention else "--no-attention"]
    if config.encoder_per_direction:
        options.append(f"--encoder-per-direction {config.encoder_per_direction}")
    options += [f"{RECIPE_OPTIONS[key]} {value}" for key, value in asdict(recipe).items() if value is not None]
    return " ".join([TRAIN_COMMAND, *options])


def _encoder_note(model: Translator) -> str:
    config = model.config
    if model.bridge is None:
        return (
            f"BiLSTM with {config.hidden_size // 2} units per direction, concatenated to {config.hidden_size}: the "
            "course skeleton's split, so encoder states and final states match the decoder size with no extra projection."
        )
    return (
        f"BiLSTM with {config.encoder_per_direction} units per direction, reduced from "
        f"{2 * config.encoder_per_direction} to {config.hidden_size} by one linear bridge shared by the encoder "
        "states and the final (h, c): the issue's '128 per direction reduced to 128' option, chosen on validation error."
    )


def publish_best(candidates: list[str], name: str) -> dict:
    """Ship, as `mt/<name>`, the candidate checkpoint with the lowest validation error (test scores never choose)."""
    loaded = {candidate: checkpoints.load_model(f"mt/{candidate}", Translator) for candidate in candidates}  # load_model checks each hash
    cards = {candidate: card for candidate, (_, card) in loaded.items()}
    best = min(cards, key=lambda candidate: cards[candidate]["metrics"]["val_error_rate"])
    model, card = loaded[best]
    card["selection"] = {
        "rule": "lowest validation error rate among the candidates",
        "candidates": {candidate: cards[candidate]["metrics"]["val_error_rate"] for candidate in candidates},
        "chosen": best,
        "command": f"{TRAIN_COMMAND} --name {name} --select-from {' '.join(candidates)}",
    }
    card.pop("created", None)
    return save_checkpoint(model, card, f"mt/{name}")
