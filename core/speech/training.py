"""Training a recognizer through core.train's loop, warm starts, and the checkpoint each best epoch becomes."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file

from core.checkpoints import checkpoint_paths, load_checkpoint, read_card, save_checkpoint
from core.decoding import DecodingOptions
from core.errors import DataUnavailableError, GlassboxError
from core.speech.card import HELD_OUT_VOICES, build_card, read_init_from
from core.speech.corpus.synth import SYNTH_CORPUS
from core.speech.dataset import Batches, SpeechSet, load_speech_set, real_validation_set, training_set
from core.speech.evaluation import card_metrics, score, tune_decoding
from core.speech.features import FEATURES
from core.speech.inference import card_decoding
from core.speech.model import SpeechRecognizer, SpeechRecognizerConfig
from core.speech.recipe import (
    SpeechRecipe,
    apply_stage,
    batch_loss,
    epoch_draw,
    first_complete_epoch,
    selection_metric,
    warmup_then_linear_decay,
)
from core.train import RunSettings, best_epoch, fit

INIT_FROM_FILE = "init_from.json"  # in the run folder: the warm start's provenance, for the card
RUN_CONFIG_FILE = "config.json"  # in the run folder: the config the run was started with


def warm_start(model: SpeechRecognizer, checkpoint: str) -> dict:
    """Load a shipped checkpoint's weights into `model` (same architecture; a CTC head it lacks starts fresh).

    Returns what the new card records of its starting point: name, weights sha256, recipe and scores."""
    weights, card = load_checkpoint(checkpoint)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:
        raise GlassboxError(f"{checkpoint} does not fit this model's shapes: {str(error).splitlines()[-1].strip()}") from error
    if unexpected or [key for key in missing if not key.startswith("ctc.")]:
        raise GlassboxError(f"{checkpoint} is another architecture: missing {missing[:3]}, unexpected {unexpected[:3]}.")
    return _origin(checkpoint, card)


ENCODER_CONFIG_FIELDS = ("front_end", "n_mels", "d_model", "n_heads", "mlp_size", "encoder_layers", "max_timescale")


def warm_start_encoder(model: SpeechRecognizer, checkpoint: str) -> dict:
    """Load only a checkpoint's encoder (and its CTC head, which reads the encoder's states) into `model`, whatever
    its decoder: a fresh decoder learns to align on an encoder that already hears. The encoder configs must match."""
    weights, card = load_checkpoint(checkpoint)
    theirs = card.get("architecture", {}).get("config", {})
    differ = [f"{key} {theirs.get(key)!r} (this model {getattr(model.config, key)!r})"
              for key in ENCODER_CONFIG_FIELDS if theirs.get(key) != getattr(model.config, key)]
    if differ:
        raise GlassboxError(f"{checkpoint}'s encoder is another configuration: {', '.join(differ)}.")
    encoder, ctc = _part(weights, "encoder."), _part(weights, "ctc.")
    try:
        model.encoder.load_state_dict(encoder)  # strict: every encoder tensor, nothing else
    except RuntimeError as error:
        raise GlassboxError(f"{checkpoint}'s encoder does not fit this model's: {str(error).splitlines()[-1].strip()}") from error
    loaded = ["encoder"]
    own_ctc = model.ctc.state_dict() if model.ctc is not None else {}
    if own_ctc and ctc.keys() == own_ctc.keys() and all(ctc[key].shape == own_ctc[key].shape for key in ctc):
        model.ctc.load_state_dict(ctc)
        loaded.append("ctc")
    return _origin(checkpoint, card) | {"loaded": loaded}


def _part(weights: dict, prefix: str) -> dict:
    return {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)}


def _origin(checkpoint: str, card: dict) -> dict:
    """What a warm-started card records of its starting point: name, weights sha256, recipe and scores."""
    return {"checkpoint": checkpoint, "sha256": card["weights"]["sha256"], "title": card.get("title"),
            "how_it_was_trained": card.get("training", {}).get("how_to_resume"),
            "epochs": card.get("training", {}).get("epochs_done"), "metrics": _headline_metrics(card.get("metrics", {})),
            "init_from": card.get("training", {}).get("init_from")}  # its own starting point: the whole lineage


def _headline_metrics(metrics: dict) -> dict:
    return {set_name: {key: values[key] for key in ("cer", "wer", "damerau_levenshtein") if key in values}
            for set_name, values in metrics.items() if isinstance(values, dict)}


def resumable_config(run_dir: Path, run_config: dict, config_class) -> dict:
    """The config a resumed run is fingerprinted with: fields added to the code after the run started count as
    unchanged while they hold their defaults (so a code update does not orphan a half-trained run)."""
    stored_path = Path(run_dir) / RUN_CONFIG_FILE
    if not (Path(run_dir) / "state.json").exists() or not stored_path.exists():
        return run_config
    stored = json.loads(stored_path.read_text())
    defaults = {"config": asdict(config_class()), "recipe": asdict(SpeechRecipe()), "features": asdict(FEATURES)}
    for section, values in run_config.items():
        added = {key: value for key, value in values.items() if key not in stored.get(section, {})}
        if any(value != defaults[section].get(key) for key, value in added.items()):
            return run_config  # a real change: fit refuses the resume and says so
    return {section: {key: values[key] for key in stored.get(section, {}) if key in values}
            for section, values in run_config.items()}


def train_recognizer(name: str, config: SpeechRecognizerConfig, recipe: SpeechRecipe, corpus_root: Path, run_dir: Path,
                     device: str = "cpu", test_limit: int | None = None, quiet: bool = False) -> dict:
    """Train (or resume) through core.train.fit; after every epoch the best weights so far become the checkpoint."""
    if recipe.stages and sum(stage["epochs"] for stage in recipe.stages) != recipe.epochs:
        raise ValueError(f"The stages add up to {sum(stage['epochs'] for stage in recipe.stages)} epochs, not {recipe.epochs}.")
    run_dir = Path(run_dir)
    fresh = not (run_dir / "state.json").exists()  # a resume keeps the config and weights it started with
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = SpeechRecognizer(config)
    if recipe.init_from and recipe.init_encoder_from:
        raise GlassboxError("Warm start either the whole model (--init-from) or its encoder (--init-encoder-from), not both.")
    if fresh and (recipe.init_from or recipe.init_encoder_from):  # recorded once: the source may later be replaced
        origin = (warm_start(model, recipe.init_from) if recipe.init_from
                  else warm_start_encoder(model, recipe.init_encoder_from))
        (run_dir / INIT_FROM_FILE).write_text(json.dumps(origin, indent=1))
    train_set = training_set(recipe, corpus_root, quiet)
    val_sets = {"val": load_speech_set("synth", "val", corpus_root, quiet=quiet).subset(recipe.val_decode_limit)}
    if recipe.real_val_clips:
        val_sets["val_real"] = real_validation_set(recipe.real_val_clips, quiet)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)

    def epoch_batches(epoch: int) -> Batches:
        drawn = epoch_draw(len(train_set), recipe, epoch)
        epoch_set = train_set if drawn is None else train_set.select(drawn)
        return epoch_set.batches(recipe.batch_size, shuffle_seed=recipe.seed * 1000 + epoch, epoch=epoch)

    fit(model, optimizer, epoch_batches, lambda trained, batch: batch_loss(trained, batch, recipe),
        lambda trained: _validation_record(trained, train_set, val_sets, recipe),
        _run_settings(name, config, recipe, run_dir, device, quiet, fresh),
        scheduler=warmup_then_linear_decay(optimizer, len(epoch_batches(0)), recipe),
        on_epoch_end=lambda record: (record["epoch"] > first_complete_epoch(recipe)
                                     and export_checkpoint(name, run_dir, corpus_root, evaluate=False, quiet=True)),
        on_epoch_start=lambda trained, epoch: apply_stage(trained, recipe, epoch))
    return export_checkpoint(name, run_dir, corpus_root, evaluate=True, test_limit=test_limit, quiet=quiet)


def _validation_record(model: SpeechRecognizer, train_set: SpeechSet, val_sets: dict[str, SpeechSet],
                       recipe: SpeechRecipe) -> dict:
    # The corpus may grow between resumed sessions (synthesis runs beside training): log what this epoch saw.
    record = {"train_clips": len(train_set)}  # the pool; the card derives how many of them the epoch drew
    for prefix, dataset in val_sets.items():
        metrics = score(model, dataset, recipe)
        record.update({f"{prefix}_{key}": value for key, value in metrics.items() if isinstance(value, float)})
    return record


def _run_settings(name: str, config: SpeechRecognizerConfig, recipe: SpeechRecipe, run_dir: Path, device: str,
                  quiet: bool, fresh: bool) -> RunSettings:
    """core.train's settings, fingerprinted with the config the run started with (written to the run folder)."""
    run_config = {"config": asdict(config), "recipe": asdict(recipe), "features": asdict(FEATURES)}
    if fresh:
        (run_dir / RUN_CONFIG_FILE).write_text(json.dumps(run_config, indent=1))
    return RunSettings(run_dir=run_dir, epochs=recipe.epochs, seed=recipe.seed, device=device,
                       clip_grad_norm=recipe.clip_grad_norm, best_metric=selection_metric(recipe),
                       best_from_epoch=first_complete_epoch(recipe), scheduler_steps_per_batch=True,
                       description=f"asr/{name}", quiet=quiet,
                       fingerprint=resumable_config(run_dir, run_config, type(config)))


def export_checkpoint(name: str, run_dir: Path, corpus_root: Path = SYNTH_CORPUS, evaluate: bool = True,
                      test_limit: int | None = None, quiet: bool = False) -> dict:
    """Write checkpoints/asr/<name> from the run's best epoch so far; with `evaluate`, tune its decoding and score it
    on the test data, otherwise keep the scores and decoding of a card of the same epoch."""
    run_dir = Path(run_dir)
    state_path, best_path = run_dir / "state.json", run_dir / "best.safetensors"
    if not state_path.exists() or not best_path.exists():
        raise DataUnavailableError(f"No finished epoch in {run_dir} yet: train first with `python -m core train asr`.")
    history = json.loads(state_path.read_text())["history"]
    started_with = json.loads((run_dir / RUN_CONFIG_FILE).read_text())
    recipe = SpeechRecipe(**started_with["recipe"])
    complete = history[first_complete_epoch(recipe):]
    if not complete:
        raise DataUnavailableError(f"{run_dir} has not reached the stage where its encoder blocks run yet: train on.")
    best = best_epoch(complete, selection_metric(recipe))
    model = SpeechRecognizer(SpeechRecognizerConfig(**started_with["config"]))
    model.load_state_dict(load_file(str(best_path)))
    model.eval()
    defaults = DecodingOptions()
    decoding = {"ctc_weight": defaults.ctc_weight, "max_chunk_seconds": defaults.max_chunk_seconds}
    previous = {} if evaluate else _previous_card(name)
    same_weights = previous.get("metrics") and previous.get("training", {}).get("best_epoch") == best["epoch"]
    if evaluate:  # the weights first, so that the chunk length is chosen decoding as the checkpoint will
        decoding = tune_decoding(model, recipe, corpus_root, quiet)
    elif same_weights:  # their scores, and the decoding they were scored with
        decoding = previous.get("decoding") or decoding
    card = build_card(name, model, recipe, history, best, corpus_root, run_dir, read_init_from(run_dir / INIT_FROM_FILE),
                      decoding)
    if evaluate:
        card["metrics"] = card_metrics(model, recipe, card_decoding(card), corpus_root, HELD_OUT_VOICES, test_limit, quiet)
    elif same_weights:
        card["metrics"] = previous["metrics"]
    return save_checkpoint(model, card, f"asr/{name}")


def _previous_card(name: str) -> dict:
    """The shipped card this export replaces ({} for a first export)."""
    _, card_path = checkpoint_paths(f"asr/{name}")
    return read_card(f"asr/{name}") if card_path.exists() else {}
