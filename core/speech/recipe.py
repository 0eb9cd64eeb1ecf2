"""How a recognizer is trained: the recipe, its loss, its learning-rate shape, its stages and each epoch's draw.

Recipe (the IST 2023-24 homework): AdamW lr 1e-3, 2 warm-up epochs then linear decay to 1%, cross-entropy with
label smoothing 0.1 under teacher forcing, seed 42, 15 epochs. Deviations, each because of the 2-core CPU:
the learning rate moves every batch along the same warm-up/decay shape (the homework stepped it per epoch, so
its whole first epoch ran at lr 1e-5), batches are bucketed by length (no padding to 2,754 frames), the
loss skips `@` padding (the homework counted it; its losses are therefore not comparable one to one), and
training steps run under bfloat16 autocast (`--fp32` turns it off).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch

from core.speech import vocabulary


@dataclass
class SpeechRecipe:
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: int = 2
    final_lr_factor: float = 0.01
    label_smoothing: float = 0.1
    ignore_padding: bool = True
    clip_grad_norm: float = 1.0
    seed: int = 42
    val_decode_limit: int = 256  # validation clips decoded each epoch for the similarity curves
    limit_train: int | None = None  # the first N clips of each training source only (smoke runs)
    corpora: list[str] = field(default_factory=lambda: ["original"])  # synthetic voice sets, "name" or "name:repeats"
    real_speech_repeats: int = 0  # real training speech (corpus.real_speech.training_clips), this many times per epoch
    augment: str = "none"  # a corpus.augment.AUGMENT_PRESETS name, drawn per clip and epoch
    ctc_loss_weight: float = 0.0  # joint CTC-attention: loss = (1 - w) * decoder loss + w * encoder CTC loss (needs ctc_head)
    stages: list[dict] | None = None  # staged training (Speech-Transformer): see TrainStage; None trains end to end
    init_from: str | None = None  # warm start from a shipped checkpoint's weights (e.g. "asr/lj-transformer")
    init_encoder_from: str | None = None  # warm start only the encoder (and CTC head): another decoder starts aligned
    clips_per_epoch: int | None = None  # each epoch a seeded draw of this many training clips: equal compute per recipe
    real_val_clips: int = 0  # real training clips held out to choose the epoch on real speech (val_real_* curves)
    bf16: bool = True  # bfloat16 autocast for training steps: 1.9x faster on this CPU (AVX512-BF16); weights stay fp32


def corpus_and_repeats(entry: str) -> tuple[str, int]:
    """A recipe's corpus entry, "kokoro" or "kokoro:8": the voice set and how many times an epoch's pool holds it
    (a small corpus of new voices would otherwise be a sliver of a pool of 13,100-clip corpora)."""
    name, _, repeats = entry.partition(":")
    if repeats and not (repeats.isdigit() and int(repeats) > 0):
        raise ValueError(f"'{entry}': repeats after ':' must be a whole number above 0, e.g. kokoro:8.")
    return name, int(repeats or 1)


# The recipe fields `python -m core train asr` sets, by the option that sets each: the CLI declares these options and
# `train_command` writes them back, so a card's command line always rebuilds its recipe.
RECIPE_OPTIONS = {"epochs": "--epochs", "batch_size": "--batch-size", "learning_rate": "--learning-rate",
                  "warmup_epochs": "--warmup-epochs", "limit_train": "--limit-train", "corpora": "--corpora",
                  "real_speech_repeats": "--real-speech-repeats", "augment": "--augment",
                  "ctc_loss_weight": "--ctc-loss-weight", "init_from": "--init-from",
                  "init_encoder_from": "--init-encoder-from",
                  "clips_per_epoch": "--clips-per-epoch", "real_val_clips": "--real-val-clips"}
assert set(RECIPE_OPTIONS) <= {recipe_field.name for recipe_field in fields(SpeechRecipe)}


def train_command(name: str, config, recipe: SpeechRecipe) -> str:
    """The `python -m core train asr` command line that (re)builds this run: the architecture, then every recipe
    option that differs from its default."""
    if config.front_end == "conv-lstm":
        staging = "--staging end-to-end" if not recipe.stages else f"--part1-epochs {recipe.stages[0]['epochs']}"
        model = f"--architecture speech-transformer {staging}"
    else:
        model = f"--decoder {config.decoder} --encoder-layers {config.encoder_layers}"
    defaults = SpeechRecipe()
    options = [f"{option} {_option_value(getattr(recipe, key))}" for key, option in RECIPE_OPTIONS.items()
               if getattr(recipe, key) != getattr(defaults, key)]
    return " ".join(["python -m core train asr", model, f"--name {name}", *options]
                    + ([] if recipe.bf16 else ["--fp32"]) + ["--threads 1"])


def _option_value(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class TrainStage:
    """A stretch of epochs of staged training (CMU 11-785 HW4P2): which encoder blocks run and which parameters learn.

    Part I trains the CNN-LSTM front end with the decoder, the attention blocks of the encoder switched off; Part II
    switches them on, first training only them (everything else frozen), then everything.
    """

    name: str
    epochs: int
    encoder_blocks: bool  # the encoder's attention blocks run
    trains: str  # "all" or "encoder_blocks"


def staged_schedule(epochs: int, part1: int, frozen: int = 3) -> list[dict]:
    """Part I for `part1` epochs, Part II with the rest frozen for `frozen` epochs, then everything to `epochs`."""
    if part1 + frozen >= epochs:
        raise ValueError(f"{epochs} epochs leave nothing for the unfrozen stage after {part1} + {frozen}.")
    return [asdict(TrainStage("part 1: front end + decoder", part1, False, "all")),
            asdict(TrainStage("part 2: encoder blocks only", frozen, True, "encoder_blocks")),
            asdict(TrainStage("part 2: everything", epochs - part1 - frozen, True, "all"))]


def stage_at(recipe: SpeechRecipe, epoch: int) -> TrainStage | None:
    """The stage that epoch (0-based) belongs to, or None for end-to-end training."""
    if not recipe.stages:
        return None
    done = 0
    for stage in map(lambda values: TrainStage(**values), recipe.stages):
        done += stage.epochs
        if epoch < done:
            return stage
    raise ValueError(f"The stages cover {done} epochs; epoch {epoch + 1} is outside them.")


def apply_stage(model, recipe: SpeechRecipe, epoch: int) -> None:
    """Set the encoder's active blocks and the trainable parameters for `epoch` (no-op without stages)."""
    stage = stage_at(recipe, epoch)
    if stage is None:
        return
    model.encoder.active_layers = None if stage.encoder_blocks else 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(stage.trains == "all" or name.startswith("encoder.blocks."))


def first_complete_epoch(recipe: SpeechRecipe) -> int:
    """Epochs trained before the model runs all its parts: earlier epochs cannot be the checkpoint that ships."""
    done = 0
    for stage in map(lambda values: TrainStage(**values), recipe.stages or []):
        if stage.encoder_blocks:
            return done
        done += stage.epochs
    return 0


def selection_metric(recipe: SpeechRecipe) -> str:
    """The validation score that picks the epoch to ship: on held-out real speech when the run keeps some."""
    return "val_real_damerau_levenshtein" if recipe.real_val_clips else "val_damerau_levenshtein"


def clips_in_epoch(pool: int, recipe: SpeechRecipe) -> int:
    """How many of the `pool` training clips one epoch trains on: all, or the recipe's cap."""
    return min(recipe.clips_per_epoch, pool) if recipe.clips_per_epoch else pool


def epoch_draw(size: int, recipe: SpeechRecipe, epoch: int) -> list[int] | None:
    """The clips epoch `epoch` trains on when the recipe caps an epoch (None: all of them), fixed by seed and epoch."""
    if clips_in_epoch(size, recipe) == size:
        return None
    generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
    return torch.randperm(size, generator=generator)[: recipe.clips_per_epoch].sort().values.tolist()


SPECIAL_TOKENS = {vocabulary.START, vocabulary.STOP, vocabulary.PAD}


def batch_loss(model, batch: dict, recipe: SpeechRecipe) -> tuple[torch.Tensor, int]:
    """Teacher forcing: predict tokens[1:] from tokens[:-1]; mean cross-entropy per predicted token, mixed with the
    encoder's CTC loss when the recipe asks for joint CTC-attention training.

    Training steps run under bfloat16 autocast when the recipe asks; scoring (model.eval()) stays in float32.
    """
    device = next(model.parameters()).device
    tokens = batch["tokens"].to(device)
    joint = recipe.ctc_loss_weight > 0 and model.training
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.bf16 and model.training):
        logits, _, *encoded = model(batch["features"].to(device), batch["lengths"].to(device), tokens[:, :-1], with_memory=joint)
    targets = tokens[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=vocabulary.PAD if recipe.ignore_padding else -100,
        label_smoothing=recipe.label_smoothing,
    )
    if joint:
        memory, memory_lengths = encoded[0]
        characters = [[token for token in row if token not in SPECIAL_TOKENS] for row in tokens.tolist()]
        loss = (1 - recipe.ctc_loss_weight) * loss + recipe.ctc_loss_weight * model.ctc_loss(memory, memory_lengths, characters)
    return loss, len(batch["indices"])


def warmup_then_linear_decay(optimizer, batches_per_epoch: int, recipe: SpeechRecipe):
    """The homework's LR shape (0.01 → 1 over the warm-up epochs, then 1 → 0.01 by the end), stepped per batch
    (train with `RunSettings(scheduler_steps_per_batch=True)`)."""
    warmup = max(1, recipe.warmup_epochs * batches_per_epoch)
    total = max(warmup + 1, recipe.epochs * batches_per_epoch)
    low = recipe.final_lr_factor

    def factor(step: int) -> float:
        if step < warmup:
            return low + (1 - low) * step / warmup
        return max(low, 1 - (1 - low) * (step - warmup) / (total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
