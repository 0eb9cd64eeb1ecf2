"""Training, scoring and transcription for the speech recognizers (the CLI in core/speech.py is a thin layer on this).

Recipe (the IST 2023-24 homework): AdamW lr 1e-3, 2 warm-up epochs then linear decay to 1%, cross-entropy with
label smoothing 0.1 under teacher forcing, seed 42, 15 epochs. Deviations, each because of the 2-core CPU:
the learning rate moves every batch along the same warm-up/decay shape (the homework stepped it per epoch, so
its whole first epoch ran at lr 1e-5), batches are bucketed by length (no padding to 2,754 frames), the
loss skips `@` padding (the homework counted it; its losses are therefore not comparable one to one), and
training steps run under bfloat16 autocast (`--fp32` turns it off).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core import paths
from core.data import asr_text
from core.data.audio import (
    FEATURES,
    FeatureCache,
    bucket_batches,
    load_audio,
    log_mel,
    pad_features,
)
from core.data.ljspeech import SHARED_LJSPEECH, Utterance, load_split, real_clips
from core.data.synth import CORPUS_FOLDERS, SYNTH_CORPUS
from core.decoding import search
from core.errors import DataUnavailableError, GlassboxError
from core.metrics import (
    cosine_similarity,
    damerau_levenshtein_similarity,
    jaccard_similarity,
    levenshtein_distance,
)

MAX_DECODE_STEPS = asr_text.MAX_CHARACTERS + 1  # 97 characters and `>`


@dataclass
class TrainRecipe:
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
    corpora: list[str] = field(default_factory=lambda: ["original"])  # synthetic voice sets (core.data.synth.CORPUS_FOLDERS)
    real_speech_repeats: int = 0  # real training speech (core.data.real_speech.training_clips), this many times per epoch
    augment: str = "none"  # a core.data.augment.AUGMENT_PRESETS name, drawn per clip and epoch
    ctc_weight: float = 0.0  # joint CTC-attention: loss = (1 - w) * decoder loss + w * encoder CTC loss (needs ctc_head)
    stages: list[dict] | None = None  # staged training (Speech-Transformer): see TrainStage; None trains end to end
    init_from: str | None = None  # warm start from a shipped checkpoint's weights (e.g. "asr/lj-transformer")
    clips_per_epoch: int | None = None  # each epoch a seeded draw of this many training clips: equal compute per recipe
    real_val_clips: int = 0  # real training clips held out to choose the epoch on real speech (val_real_* curves)
    bf16: bool = True  # bfloat16 autocast for training steps: 1.9x faster on this CPU (AVX512-BF16); weights stay fp32


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


def stage_at(recipe: TrainRecipe, epoch: int) -> TrainStage | None:
    """The stage that epoch (0-based) belongs to, or None for end-to-end training."""
    if not recipe.stages:
        return None
    done = 0
    for stage in map(lambda values: TrainStage(**values), recipe.stages):
        done += stage.epochs
        if epoch < done:
            return stage
    raise ValueError(f"The stages cover {done} epochs; epoch {epoch + 1} is outside them.")


def apply_stage(model, recipe: TrainRecipe, epoch: int) -> None:
    """Set the encoder's active blocks and the trainable parameters for `epoch` (no-op without stages)."""
    stage = stage_at(recipe, epoch)
    if stage is None:
        return
    model.encoder.active_layers = None if stage.encoder_blocks else 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(stage.trains == "all" or name.startswith("encoder.blocks."))


def selection_metric(recipe: TrainRecipe) -> str:
    """The validation score that picks the epoch to ship: on held-out real speech when the run keeps some."""
    return "val_real_damerau_levenshtein" if recipe.real_val_clips else "val_damerau_levenshtein"


def clips_in_epoch(pool: int, recipe: TrainRecipe) -> int:
    """How many of the `pool` training clips one epoch trains on: all, or the recipe's cap."""
    return min(recipe.clips_per_epoch, pool) if recipe.clips_per_epoch else pool


def epoch_draw(size: int, recipe: TrainRecipe, epoch: int) -> list[int] | None:
    """The clips epoch `epoch` trains on when the recipe caps an epoch (None: all of them), fixed by seed and epoch."""
    if clips_in_epoch(size, recipe) == size:
        return None
    generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
    return torch.randperm(size, generator=generator)[: recipe.clips_per_epoch].sort().values.tolist()


def load_model(name: str, device: str = "cpu", root: Path | None = None):
    """A recognizer checkpoint, hash-checked, in eval mode, with its card."""
    from core.checkpoints import load_model as load_checked
    from core.models.asr import SpeechRecognizer

    return load_checked(name, SpeechRecognizer, root, device)


def warm_start(model, checkpoint: str) -> dict:
    """Load a shipped checkpoint's weights into `model` (same architecture; a CTC head it lacks starts fresh).

    Returns what the new card records of its starting point: name, weights sha256, recipe and scores."""
    from core.checkpoints import load_checkpoint

    weights, card = load_checkpoint(checkpoint)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:
        raise GlassboxError(f"{checkpoint} does not fit this model's shapes: {str(error).splitlines()[-1].strip()}") from error
    if unexpected or [key for key in missing if not key.startswith("ctc.")]:
        raise GlassboxError(f"{checkpoint} is another architecture: missing {missing[:3]}, unexpected {unexpected[:3]}.")
    return {"checkpoint": checkpoint, "sha256": card["weights"]["sha256"], "title": card.get("title"),
            "how_it_was_trained": card.get("training", {}).get("how_to_resume"),
            "epochs": card.get("training", {}).get("epochs_done"), "metrics": _headline_metrics(card.get("metrics", {})),
            "init_from": card.get("training", {}).get("init_from")}  # its own starting point: the whole lineage


INIT_FROM_FILE = "init_from.json"  # in the run folder: the warm start's provenance, for the card


def _headline_metrics(metrics: dict) -> dict:
    return {set_name: {key: values[key] for key in ("cer", "wer", "damerau_levenshtein") if key in values}
            for set_name, values in metrics.items() if isinstance(values, dict)}


def first_complete_epoch(recipe: TrainRecipe) -> int:
    """Epochs trained before the model runs all its parts: earlier epochs cannot be the checkpoint that ships."""
    done = 0
    for stage in map(lambda values: TrainStage(**values), recipe.stages or []):
        if stage.encoder_blocks:
            return done
        done += stage.epochs
    return 0


class SpeechSet:
    """Utterances with their log-mel features (float16 in memory) and token ids, ready to batch."""

    def __init__(self, utterances: list[Utterance], corpus_root: Path, quiet: bool = False, description: str = "features"):
        if not utterances:
            raise DataUnavailableError(
                f"No audio found in {corpus_root}. Synthesize the corpus first: `python -m core data synth-ljspeech`."
            )
        cache = FeatureCache(corpus_root)
        self.utterances = utterances
        self.features = [
            cache.get(u.id, u.audio_path).half()
            for u in tqdm(utterances, desc=description, file=sys.stderr, disable=quiet, leave=False)
        ]
        self.tokens = [asr_text.encode(u.text) for u in utterances]
        self.augment, self.augment_seed = None, 0

    def __len__(self) -> int:
        return len(self.utterances)

    @classmethod
    def _of(cls, utterances, features, tokens, augment=None, augment_seed: int = 0) -> "SpeechSet":
        """A set over features already in memory (no cache reads)."""
        made = object.__new__(cls)
        made.utterances, made.features, made.tokens = list(utterances), list(features), list(tokens)
        made.augment, made.augment_seed = augment, augment_seed
        return made

    @staticmethod
    def concat(parts: list["SpeechSet"]) -> "SpeechSet":
        """One set of several corpora's clips (each keeps the features of its own cache)."""
        return SpeechSet._of([u for part in parts for u in part.utterances], [f for part in parts for f in part.features],
                             [t for part in parts for t in part.tokens])

    def with_augmentation(self, config, seed: int) -> "SpeechSet":
        """This set, augmented on the fly in `batch` (draws fixed by seed, epoch and position: resumable)."""
        self.augment, self.augment_seed = config, seed
        return self

    def batch(self, indices: list[int], epoch: int = 0) -> dict:
        clips = self._augmented(indices, epoch) if self.augment else [self.features[index].float() for index in indices]
        features, lengths = pad_features(clips)
        return {
            "features": features,  # (batch, frames, n_mels)
            "lengths": lengths,  # (batch,)
            "tokens": asr_text.pad_targets([self.tokens[index] for index in indices]),  # (batch, steps)
            "indices": indices,
        }

    def _augmented(self, indices: list[int], epoch: int) -> list[torch.Tensor]:
        """Waveform effects (reading the audio again; the batch's other clips make babble) then SpecAugment."""
        from core.data.augment import augment_waveform, clip_rng, spec_augment

        config = self.augment
        audios = [load_audio(self.utterances[index].audio_path) for index in indices] if config.touches_waveform else None
        clips = []
        for position, index in enumerate(indices):
            # The index tells repeated copies of one clip apart, so each copy gets its own draw.
            rng = clip_rng(self.augment_seed, epoch, f"{self.utterances[index].id}:{index}")
            if audios is None:
                features = self.features[index].float()
            else:
                others = [audio for other, audio in enumerate(audios) if other != position][:6]
                features = log_mel(augment_waveform(audios[position], rng, config, others))
            clips.append(spec_augment(features, rng, config))
        return clips

    def select(self, indices) -> "SpeechSet":
        """The clips at `indices` (repeats allowed), sharing this set's features (no recomputation)."""
        return SpeechSet._of([self.utterances[i] for i in indices], [self.features[i] for i in indices],
                             [self.tokens[i] for i in indices], self.augment, self.augment_seed)

    def subset(self, count: int) -> "SpeechSet":
        return self.select(range(min(count, len(self))))

    def batches(self, batch_size: int, shuffle_seed: int | None = None, epoch: int = 0) -> "Batches":
        lengths = [item.shape[0] for item in self.features]
        return Batches(self, bucket_batches(lengths, batch_size, shuffle_seed), epoch)


class Batches:
    """An epoch's batches, collated lazily, with a length for the progress bar."""

    def __init__(self, dataset: SpeechSet, index_batches: list[list[int]], epoch: int = 0):
        self.dataset, self.index_batches, self.epoch = dataset, index_batches, epoch

    def __len__(self) -> int:
        return len(self.index_batches)

    def __iter__(self):
        return (self.dataset.batch(indices, self.epoch) for indices in self.index_batches)


def batch_loss(model, batch: dict, recipe: TrainRecipe) -> tuple[torch.Tensor, int]:
    """Teacher forcing: predict tokens[1:] from tokens[:-1]; mean cross-entropy per predicted token, mixed with the
    encoder's CTC loss when the recipe asks for joint CTC-attention training.

    Training steps run under bfloat16 autocast when the recipe asks; scoring (model.eval()) stays in float32.
    """
    device = next(model.parameters()).device
    tokens = batch["tokens"].to(device)
    joint = recipe.ctc_weight > 0 and model.training
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.bf16 and model.training):
        logits, _, *encoded = model(batch["features"].to(device), batch["lengths"].to(device), tokens[:, :-1], with_memory=joint)
    targets = tokens[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=asr_text.PAD if recipe.ignore_padding else -100,
        label_smoothing=recipe.label_smoothing,
    )
    if joint:
        memory, memory_lengths = encoded[0]
        characters = [[token for token in row if token not in SPECIAL_TOKENS] for row in tokens.tolist()]
        loss = (1 - recipe.ctc_weight) * loss + recipe.ctc_weight * model.ctc_loss(memory, memory_lengths, characters)
    return loss, len(batch["indices"])


SPECIAL_TOKENS = {asr_text.START, asr_text.STOP, asr_text.PAD}


def warmup_then_linear_decay(optimizer, batches_per_epoch: int, recipe: TrainRecipe):
    """The homework's LR shape (0.01 → 1 over the warm-up epochs, then 1 → 0.01 by the end), stepped per batch."""
    warmup = max(1, recipe.warmup_epochs * batches_per_epoch)
    total = max(warmup + 1, recipe.epochs * batches_per_epoch)
    low = recipe.final_lr_factor

    def factor(step: int) -> float:
        if step < warmup:
            return low + (1 - low) * step / warmup
        return max(low, 1 - (1 - low) * (step - warmup) / (total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scheduler.step_every_batch = True
    return scheduler


@torch.no_grad()
def transcribe_batch(model, features: torch.Tensor, lengths: torch.Tensor, beam: int = 1, ctc_weight: float | None = None) -> list:
    """Decode a padded batch; returns core.decoding Hypothesis objects (tokens without `<`/`>`, attention).

    `ctc_weight` overrides the model's own joint CTC-attention decoding weight (config.decode_ctc_weight)."""
    device = next(model.parameters()).device
    decoder = model.step_decoder(features.to(device), lengths.to(device), ctc_weight=ctc_weight)
    return search(decoder, len(lengths), asr_text.START, asr_text.STOP, MAX_DECODE_STEPS, beam_width=beam)


@torch.no_grad()
def score(model, dataset: SpeechSet, recipe: TrainRecipe | None = None, beam: int = 1, limit: int | None = None,
          batch_size: int = 16, quiet: bool = True, description: str = "scoring", ctc_weight: float | None = None) -> dict:
    """Loss, the homework's similarities (on token ids `<` … first `>`, mean per clip), corpus CER and WER, the
    11-785 statement's mean Levenshtein distance per clip, and decoding seconds per clip.

    Returns the metrics and, under "transcripts", (id, reference, hypothesis) for every scored clip.
    """
    recipe = recipe or TrainRecipe()
    model.eval()
    total_loss, total_items = 0.0, 0
    sums = {"jaccard": 0.0, "cosine": 0.0, "damerau_levenshtein": 0.0}
    references, hypotheses, transcripts = [], [], []
    decoding_seconds, decoding_cpu_seconds, distances = 0.0, 0.0, 0
    batches = dataset.subset(limit).batches(batch_size) if limit else dataset.batches(batch_size)
    for batch in tqdm(batches, desc=description, file=sys.stderr, disable=quiet, leave=False):
        loss, items = batch_loss(model, batch, recipe)
        total_loss += float(loss) * items
        total_items += items
        started, cpu_started = time.perf_counter(), time.process_time()
        decoded = transcribe_batch(model, batch["features"], batch["lengths"], beam, ctc_weight)
        decoding_seconds += time.perf_counter() - started
        decoding_cpu_seconds += time.process_time() - cpu_started
        for row, hypothesis in zip(batch["indices"], decoded):
            ending = [asr_text.STOP] if hypothesis.finished else []
            predicted = asr_text.homework_sequence([asr_text.START] + hypothesis.tokens + ending)
            target = dataset.tokens[row]
            sums["jaccard"] += jaccard_similarity(predicted, target)
            sums["cosine"] += cosine_similarity(predicted, target)
            sums["damerau_levenshtein"] += damerau_levenshtein_similarity(predicted, target)
            reference, text = asr_text.decode(target), asr_text.decode(hypothesis.tokens)
            references.append(reference)
            hypotheses.append(text)
            distances += levenshtein_distance(text, reference)
            transcripts.append((dataset.utterances[row].id, reference, text))
    count = max(len(references), 1)
    return {
        "clips": len(references),
        "loss": total_loss / max(total_items, 1),
        **{name: value / count for name, value in sums.items()},
        **corpus_error_rates(hypotheses, references),
        "levenshtein": distances / count,
        "seconds_per_clip": decoding_seconds / count,  # search only (batched), features and loss excluded
        "cpu_seconds_per_clip": decoding_cpu_seconds / count,  # the same in CPU time: comparable on a busy machine
        "transcripts": transcripts,
    }


def corpus_error_rates(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus CER and WER (total edits / total reference length, jiwer), over clips with a non-empty reference."""
    import jiwer

    pairs = [(h, r) for h, r in zip(hypotheses, references) if r.strip()]
    if not pairs:
        return {"cer": float("nan"), "wer": float("nan")}
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    return {"cer": jiwer.cer(refs, hyps), "wer": jiwer.wer(refs, hyps)}


def load_speech_set(data: str, split: str, corpus_root: Path = SYNTH_CORPUS, quiet: bool = False, limit: int | None = None,
                    voice: str | None = None) -> SpeechSet:
    """`data` "synth": a split of the synthesized corpus (optionally one voice); "real": the 100 real LJ clips."""
    if data == "real":
        utterances, root = real_clips(), SHARED_LJSPEECH
    else:
        utterances, root = load_split(corpus_root, split), corpus_root
        if voice is not None:
            utterances = [u for u in utterances if u.voice == voice]
    return SpeechSet(utterances[:limit], root, quiet=quiet, description=f"{data} {split} features")


def transcribe_audio(model, audio_source, beam: int = 1, max_chunk_seconds: float | None = None) -> dict:
    """Transcribe one recording of any length the loader accepts; long audio is split on silence into chunks.

    The decoders write at most 97 characters, so longer audio is cut at its pauses into chunks of at most
    `max_chunk_seconds` (the model's tuned `decode_chunk_seconds` unless given), transcribed as one batch, and joined.
    """
    max_chunk_seconds = max_chunk_seconds or model.config.decode_chunk_seconds
    started = time.perf_counter()
    audio = load_audio(audio_source)
    duration = len(audio) / FEATURES.sample_rate
    chunks = split_on_silence(audio, max_chunk_seconds)
    features, lengths = pad_features([log_mel(chunk) for chunk in chunks])
    hypotheses = transcribe_batch(model, features, lengths, beam)
    result = {
        "text": " ".join(asr_text.decode(h.tokens) for h in hypotheses).strip(),
        "duration_s": round(duration, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "chunks": len(chunks),
    }
    if len(chunks) > 1:
        result["note"] = f"The audio is longer than {max_chunk_seconds:g} s, so it was split at pauses into {len(chunks)} chunks."
    return result


def split_on_silence(audio, max_seconds: float, sample_rate: int = FEATURES.sample_rate) -> list:
    """Chunks of at most `max_seconds`, cut in the quietest places (see `silence_chunk_spans`)."""
    return [audio[start:end] for start, end in silence_chunk_spans(audio, max_seconds, sample_rate)]


def silence_chunk_spans(audio, max_seconds: float, sample_rate: int = FEATURES.sample_rate) -> list[tuple[int, int]]:
    """(start, end) sample spans of at most `max_seconds`, cut in the quietest places (librosa's non-silent
    intervals, merged greedily); spans rather than arrays, so the Speech lab can place each chunk in time."""
    limit = int(max_seconds * sample_rate)
    if len(audio) <= limit:
        return [(0, len(audio))]
    import librosa

    intervals = librosa.effects.split(audio, top_db=35, frame_length=1024, hop_length=256)
    spans, start, end = [], None, None
    for interval_start, interval_end in intervals:
        interval_start, interval_end = int(interval_start), int(interval_end)
        while interval_end - interval_start > limit:  # one long stretch with no pause: cut it hard
            if start is not None:
                spans.append((start, end))
                start = None
            spans.append((interval_start, interval_start + limit))
            interval_start += limit
        if start is None:
            start, end = interval_start, interval_end
        elif interval_end - start <= limit:
            end = interval_end
        else:
            spans.append((start, end))
            start, end = interval_start, interval_end
    if start is not None:
        spans.append((start, end))
    return [(start, end) for start, end in spans if end - start > sample_rate // 10] or [(0, min(len(audio), limit))]


def recipe_dict(recipe: TrainRecipe) -> dict:
    return asdict(recipe)


def training_set(recipe: TrainRecipe, corpus_root: Path = SYNTH_CORPUS, quiet: bool = False) -> SpeechSet:
    """The train split of each synthetic voice set in the recipe, plus the real training speech repeated
    `real_speech_repeats` times; checked against the evaluation clips, and augmented if the recipe says so."""
    from core.data.augment import AUGMENT_PRESETS
    from core.data.real_speech import assert_no_evaluation_leak, training_clips, validation_clips

    unknown = [name for name in recipe.corpora if name not in CORPUS_FOLDERS]
    if unknown or recipe.augment not in AUGMENT_PRESETS:
        raise GlassboxError(f"Unknown corpus {unknown} or augmentation '{recipe.augment}'; corpora: "
                            f"{', '.join(CORPUS_FOLDERS)}; augmentations: {', '.join(AUGMENT_PRESETS)}.")
    parts = [load_speech_set("synth", "train", corpus_root if name == "original" else CORPUS_FOLDERS[name], quiet=quiet,
                             limit=recipe.limit_train)
             for name in recipe.corpora]
    if recipe.real_speech_repeats > 0:
        held_out = {u.id for u in validation_clips(recipe.real_val_clips)} if recipe.real_val_clips else set()
        clips = [u for u in training_clips() if u.id not in held_out][: recipe.limit_train]
        real = SpeechSet(clips, paths.SHARED_DATA, quiet=quiet, description="real training speech")
        parts.append(real.select(list(range(len(real))) * recipe.real_speech_repeats))
    combined = SpeechSet.concat(parts)
    assert_no_evaluation_leak(combined.utterances)
    if recipe.augment != "none":
        combined.with_augmentation(AUGMENT_PRESETS[recipe.augment](), recipe.seed)
    return combined


def resumable_config(run_dir: Path, run_config: dict, config_class) -> dict:
    """The config a resumed run is fingerprinted with: fields added to the code after the run started count as
    unchanged while they hold their defaults (so a code update does not orphan a half-trained run)."""
    stored_path = Path(run_dir) / "config.json"
    if not (Path(run_dir) / "state.json").exists() or not stored_path.exists():
        return run_config
    stored = json.loads(stored_path.read_text())
    defaults = {"config": asdict(config_class()), "recipe": asdict(TrainRecipe()), "features": asdict(FEATURES)}
    for section, values in run_config.items():
        added = {key: value for key, value in values.items() if key not in stored.get(section, {})}
        if any(value != defaults[section].get(key) for key, value in added.items()):
            return run_config  # a real change: fit refuses the resume and says so
    return {section: {key: values[key] for key in stored.get(section, {}) if key in values}
            for section, values in run_config.items()}


def train_recognizer(name: str, config, recipe: TrainRecipe, corpus_root: Path, run_dir: Path, device: str = "cpu",
                     test_limit: int | None = None, quiet: bool = False) -> dict:
    """Train (or resume) through core.train.fit; after every epoch the best weights so far become the checkpoint."""
    from core.data.real_speech import validation_clips
    from core.models.asr import SpeechRecognizer
    from core.train import RunSettings, fit

    if recipe.stages and sum(stage["epochs"] for stage in recipe.stages) != recipe.epochs:
        raise ValueError(f"The stages add up to {sum(stage['epochs'] for stage in recipe.stages)} epochs, not {recipe.epochs}.")
    fresh = not (Path(run_dir) / "state.json").exists()  # a resume keeps the config and weights it started with
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = SpeechRecognizer(config)
    if recipe.init_from and fresh:  # recorded once: the checkpoint may later be replaced by this run's own
        origin = warm_start(model, recipe.init_from)
        (Path(run_dir) / INIT_FROM_FILE).write_text(json.dumps(origin, indent=1))
    train_set = training_set(recipe, corpus_root, quiet)
    val_sets = {"val": load_speech_set("synth", "val", corpus_root, quiet=quiet).subset(recipe.val_decode_limit)}
    if recipe.real_val_clips:
        val_sets["val_real"] = SpeechSet(validation_clips(recipe.real_val_clips), paths.SHARED_DATA, quiet=quiet,
                                         description="real validation speech")
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)

    def epoch_batches(epoch: int) -> Batches:
        drawn = epoch_draw(len(train_set), recipe, epoch)
        epoch_set = train_set if drawn is None else train_set.select(drawn)
        return epoch_set.batches(recipe.batch_size, shuffle_seed=recipe.seed * 1000 + epoch, epoch=epoch)

    scheduler = warmup_then_linear_decay(optimizer, len(epoch_batches(0)), recipe)

    def evaluate(trained) -> dict:
        # The corpus may grow between resumed sessions (synthesis runs beside training): log what this epoch saw.
        record = {"train_clips": len(train_set)}  # the pool; the card derives how many of them the epoch drew
        for prefix, dataset in val_sets.items():
            metrics = score(trained, dataset, recipe)
            record.update({f"{prefix}_{key}": value for key, value in metrics.items() if isinstance(value, float)})
        return record

    run_config = {"config": asdict(config), "recipe": asdict(recipe), "features": asdict(FEATURES)}
    if fresh:
        (Path(run_dir) / "config.json").write_text(json.dumps(run_config, indent=1))
    run_config = resumable_config(run_dir, run_config, type(config))
    settings = RunSettings(
        run_dir=run_dir,
        epochs=recipe.epochs,
        seed=recipe.seed,
        device=device,
        clip_grad_norm=recipe.clip_grad_norm,
        best_metric=selection_metric(recipe),
        best_from_epoch=first_complete_epoch(recipe),
        description=f"asr/{name}",
        quiet=quiet,
        fingerprint=run_config,
    )
    fit(
        model,
        optimizer,
        epoch_batches,
        lambda trained, batch: batch_loss(trained, batch, recipe),
        evaluate,
        settings,
        scheduler=scheduler,
        on_epoch_end=lambda record: (record["epoch"] > first_complete_epoch(recipe)
                                     and export_checkpoint(name, run_dir, corpus_root, evaluate=False, quiet=True)),
        on_epoch_start=lambda trained, epoch: apply_stage(trained, recipe, epoch),
    )
    return export_checkpoint(name, run_dir, corpus_root, evaluate=True, test_limit=test_limit, quiet=quiet)


SIZE_NOTES = {
    "conv": "Homework sizes (hidden 200, 2 heads, MLP 400) with 2 encoder blocks, as the homework notebook trained: "
            "about 1.4 M parameters, a CPU epoch over 9,825 clips takes minutes, not hours.",
    "conv-lstm": "d_model 192, 4 heads, MLP 512, 2 encoder and 2 decoder blocks (2.1 M parameters): the CNN front end "
                 "quarters the frame rate, which pays for the LSTM and the second decoder block, so an epoch costs "
                 "about what the homework models cost on the CPU (see core.models.asr.speech_transformer_config).",
}


def model_title(config) -> str:
    """What a person calls this recognizer: the homework encoder with its decoder, or the Speech-Transformer."""
    if config.front_end == "conv-lstm":
        return (f"Speech-Transformer (CNN-LSTM front end, {config.encoder_layers} encoder + "
                f"{config.decoder_layers} decoder blocks)")
    return f"Audio encoder + {'LSTM' if config.decoder == 'lstm' else 'transformer'} decoder"


def training_data_summary(card: dict) -> str:
    """One line on what a recognizer heard in training, from its card: voices, real speech, augmentation, warm start."""
    dataset, training = card.get("dataset", {}), card.get("training", {})
    voices = [voice for voice in dataset.get("voices", []) if voice not in dataset.get("held_out_of_train", [])]
    parts = [f"{len(voices)} synthetic voices" if voices else "synthetic voices"]
    real = dataset.get("real_training_speech")
    if real:
        parts.append(f"{real['training']['minutes']:.0f} min of real speech ({real['training']['clips']:,} clips, "
                     f"{real['repeats_per_epoch']}× per epoch)")
    if dataset.get("augmentation"):
        parts.append(f"augmented ({dataset['augmentation']['preset']})")
    origin = training.get("init_from")
    epochs = f"{training.get('epochs_done', '?')} epochs"
    if origin:
        epochs += f", warm-started from {origin['checkpoint']} ({origin.get('epochs', '?')} epochs)"
    while origin and origin.get("init_from"):  # a warm start of a warm start: name every step back to the first
        origin = origin["init_from"]
        epochs += f", itself warm-started from {origin['checkpoint']} ({origin.get('epochs', '?')} epochs)"
    return "Trained on " + ", ".join(parts) + f"; {epochs}."


def decoding_summary(card: dict) -> str | None:
    """One line on how a recognizer decodes when its card chose joint CTC-attention decoding (None: attention only)."""
    decoding = card.get("decoding") or {}
    if not decoding.get("ctc_weight"):
        return None
    return (f"Decodes jointly with its CTC head: each character's score mixes in the CTC prefix score with weight "
            f"{decoding['ctc_weight']:g}, chosen on real validation clips; the attention maps are the decoder's own.")


def train_command(name: str, config, recipe: TrainRecipe) -> str:
    """The `python -m core train asr` command line that (re)builds this run."""
    if config.front_end == "conv-lstm":
        staging = "--staging end-to-end" if not recipe.stages else f"--part1-epochs {recipe.stages[0]['epochs']}"
        model = f"--architecture speech-transformer {staging}"
    else:
        model = f"--decoder {config.decoder} --encoder-layers {config.encoder_layers}"
    return (f"python -m core train asr {model} --name {name} --epochs {recipe.epochs} --batch-size {recipe.batch_size}"
            + (f" --limit-train {recipe.limit_train}" if recipe.limit_train else "")
            + (f" --ctc-weight {recipe.ctc_weight}" if recipe.ctc_weight else "")
            + (f" --corpora {' '.join(recipe.corpora)}" if recipe.corpora != ["original"] else "")
            + (f" --real-speech-repeats {recipe.real_speech_repeats}" if recipe.real_speech_repeats else "")
            + (f" --augment {recipe.augment}" if recipe.augment != "none" else "")
            + (f" --init-from {recipe.init_from}" if recipe.init_from else "")
            + (f" --clips-per-epoch {recipe.clips_per_epoch}" if recipe.clips_per_epoch else "")
            + (f" --real-val-clips {recipe.real_val_clips}" if recipe.real_val_clips else "")
            + (f" --learning-rate {recipe.learning_rate:g}" if recipe.learning_rate != TrainRecipe.learning_rate else "")
            + (f" --warmup-epochs {recipe.warmup_epochs}" if recipe.warmup_epochs != TrainRecipe.warmup_epochs else "")
            + ("" if recipe.bf16 else " --fp32") + " --threads 1")


def export_checkpoint(name: str, run_dir: Path, corpus_root: Path = SYNTH_CORPUS, evaluate: bool = True,
                      test_limit: int | None = None, quiet: bool = False) -> dict:
    """Write checkpoints/asr/<name> from the run's best epoch so far; with `evaluate`, score it on the test data."""
    from safetensors.torch import load_file

    from core.checkpoints import save_checkpoint
    from core.data.ljspeech import HOMEWORK_SPLITS, read_voices
    from core.data.synth import VOICES, VOICES_BY_NAME, voice_card
    from core.checkpoints import architecture_of
    from core.models.asr import SpeechRecognizer, SpeechRecognizerConfig
    from core.train import best_epoch

    state_path, best_path = Path(run_dir) / "state.json", Path(run_dir) / "best.safetensors"
    if not state_path.exists() or not best_path.exists():
        raise DataUnavailableError(f"No finished epoch in {run_dir} yet: train first with `python -m core train asr`.")
    state = json.loads(state_path.read_text())
    history = state["history"]
    recipe_seen = _fingerprint_config(run_dir)
    recipe = TrainRecipe(**recipe_seen["recipe"])
    complete = history[first_complete_epoch(recipe):]
    if not complete:
        raise DataUnavailableError(f"{run_dir} has not reached the stage where its encoder blocks run yet: train on.")
    best = best_epoch(complete, selection_metric(recipe))
    model = SpeechRecognizer(SpeechRecognizerConfig(**recipe_seen["config"]))
    model.load_state_dict(load_file(str(best_path)))
    model.eval()
    decoding = None
    if evaluate:  # the weights first, so that the chunk length is chosen decoding as the checkpoint will
        decoding = ((tune_decoding(model, recipe, quiet) or {"ctc_weight": model.config.decode_ctc_weight})
                    | tune_chunk_seconds(model, recipe, corpus_root))
    held_out = [voice.name for voice in VOICES if voice.held_out]
    roots = [corpus_root if name == "original" else CORPUS_FOLDERS[name] for name in recipe.corpora]
    voices_used = sorted({voice for root in roots for voice in read_voices(root).values()})
    card = {
        "architecture": architecture_of(model),
        "task": "asr",
        "title": model_title(model.config) + ", LJ Speech texts (synthetic voices"
                 + (" + real speech)" if recipe.real_speech_repeats else ")"),
        "dataset": {
            "name": "LJ Speech 1.1 transcripts spoken by Debian TTS voices (synth-ljspeech)",
            "source": "metadata.csv of LJ Speech 1.1 (public domain); audio synthesized by `python -m core data synth-ljspeech`",
            "splits": {split: stop - start for split, (start, stop) in HOMEWORK_SPLITS.items()},
            "training_pool_per_epoch": [record.get("train_clips") for record in history],
            "train_clips_per_epoch": [clips_in_epoch(record["train_clips"], recipe) if record.get("train_clips") else None
                                      for record in history],
            "corpora": recipe.corpora,
            "voices": voices_used,
            "voice_licences": voice_card([VOICES_BY_NAME[name] for name in voices_used if name in VOICES_BY_NAME]),
            "held_out_of_train": held_out,
            "real_training_speech": _real_speech_card(recipe),
            "augmentation": _augmentation_card(recipe),
            "real_clips": "100 real LJ Speech recordings (LJ001-0001…0100), evaluation only",
        },
        "features": asdict(FEATURES) | {"note": "log10 mel power, floored at max-8, (x+4)/4; audio resampled to 16 kHz"},
        "training": {
            "recipe": asdict(recipe),
            "seed": recipe.seed,
            "epochs_planned": recipe.epochs,
            "epochs_done": len(history),
            "best_epoch": best["epoch"],
            "seconds_per_epoch": [record["seconds"] for record in history],
            "stages": recipe.stages,
            "selected_on": selection_metric(recipe),
            "init_from": (json.loads((Path(run_dir) / INIT_FROM_FILE).read_text())
                          if (Path(run_dir) / INIT_FROM_FILE).exists() else None),
            "first_epoch_that_may_ship": first_complete_epoch(recipe) + 1,
            "how_to_resume": (
                f"{train_command(name, model.config, recipe)} --run-dir {run_dir} "
                f"(continues after epoch {len(history)}; the run folder is not committed)"
            ),
            "size_note": SIZE_NOTES[model.config.front_end],
        },
        "decoding": decoding or {"ctc_weight": model.config.decode_ctc_weight,
                                 "max_chunk_seconds": model.config.decode_chunk_seconds},
        "curves": {key: [record.get(key) for record in history] for key in history[0] if key not in ("epoch", "train_clips")},
        "best_validation": {key: value for key, value in best.items() if key.startswith("val_")},
    }
    if evaluate:
        card["metrics"] = evaluate_card_metrics(model, recipe, corpus_root, held_out, test_limit, quiet)
    else:
        previous = _previous_card(name)
        if previous.get("metrics") and previous.get("training", {}).get("best_epoch") == best["epoch"]:
            card["metrics"] = previous["metrics"]  # the same weights: their scores, and the decoding they were scored with
            card["decoding"] = previous.get("decoding") or card["decoding"]
            model.config.decode_ctc_weight = card["decoding"]["ctc_weight"]
            model.config.decode_chunk_seconds = card["decoding"].get("max_chunk_seconds", model.config.decode_chunk_seconds)
            card["architecture"] = architecture_of(model)
    return save_checkpoint(model, card, f"asr/{name}")


DECODE_CTC_WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)  # joint CTC-attention decoding weights tried after training


def tune_decoding(model, recipe: TrainRecipe, quiet: bool = True) -> dict | None:
    """Choose the joint CTC-attention decoding weight on the real validation clips (greedy search, corpus CER) and set
    it in the model's config, so every transcription of the exported checkpoint uses it. None when the model has no
    CTC head or the recipe held out no real validation clips (then decoding stays attention only)."""
    if model.ctc is None or not recipe.real_val_clips:
        return None
    from core.data.real_speech import validation_clips

    clips = SpeechSet(validation_clips(recipe.real_val_clips), paths.SHARED_DATA, quiet=quiet, description="real validation speech")
    by_weight = {weight: score(model, clips, recipe, ctc_weight=weight, quiet=quiet, description=f"ctc weight {weight}")["cer"]
                 for weight in DECODE_CTC_WEIGHTS}
    model.config.decode_ctc_weight = min(by_weight, key=by_weight.get)
    return {"ctc_weight": model.config.decode_ctc_weight,
            "chosen_on": f"corpus CER of greedy search on the {len(clips)} real validation clips",
            "real_validation_cer_by_ctc_weight": {str(weight): round(cer, 4) for weight, cer in by_weight.items()}}


CHUNK_SECONDS = (4.0, 6.0, 8.0)  # longest chunk a recording is cut into for decoding, tried after training
REAL_VALIDATION_CLIPS = 80  # real clips a model that never trained on real speech is also tuned on (`--real-val-clips 80`)
LONG_VALIDATION_CLIPS = 60  # synthetic validation clips whose transcripts overflow the decoder's 97 characters


def tune_chunk_seconds(model, recipe: TrainRecipe, corpus_root: Path = SYNTH_CORPUS) -> dict:
    """Choose how long a chunk of a long recording may be, and set it in the model's config: long enough to keep
    context and few cuts, short enough that its text fits the decoder's 97 characters (LJ reads ~15 a second).

    Scored as the bench scores (whole clips, full references, corpus CER) on the first LONG_VALIDATION_CLIPS synthetic
    validation clips with more than 97 characters, pooled with the real validation clips unless the model trained on
    them (a recipe with real speech that held none out). Those are mostly short: alone they would hardly see a cut.
    """
    from core.speech_real import score_transcripts

    clips = [u for u in load_split(corpus_root, "val") if len(u.text) > asr_text.MAX_CHARACTERS][:LONG_VALIDATION_CLIPS]
    real_unseen = bool(recipe.real_val_clips or not recipe.real_speech_repeats)
    if real_unseen:
        from core.data.real_speech import validation_clips

        clips += validation_clips(recipe.real_val_clips or REAL_VALIDATION_CLIPS)
    by_seconds = {}
    for seconds in CHUNK_SECONDS:
        hypotheses = [transcribe_audio(model, u.audio_path, max_chunk_seconds=seconds)["text"] for u in clips]
        by_seconds[seconds] = score_transcripts(hypotheses, [u.text for u in clips])["cer"]
    model.config.decode_chunk_seconds = min(by_seconds, key=by_seconds.get)
    return {"max_chunk_seconds": model.config.decode_chunk_seconds,
            "chunk_chosen_on": f"whole-clip corpus CER of {len(clips)} validation clips: synthetic ones longer than "
                               f"{asr_text.MAX_CHARACTERS} characters"
                               + (" and the real validation clips" if real_unseen else ""),
            "validation_cer_by_chunk_seconds": {f"{seconds:g}": round(cer, 4) for seconds, cer in by_seconds.items()}}


def _real_speech_card(recipe: TrainRecipe) -> dict | None:
    """Which real recordings trained the model, how often, and their licences (None: synthetic speech only)."""
    if not recipe.real_speech_repeats:
        return None
    from core.data.real_speech import duration_seconds, summary, validation_clips

    described = summary()
    if recipe.real_val_clips:  # held out to choose the epoch: not trained on
        held_out = validation_clips(recipe.real_val_clips)
        minutes = sum(map(duration_seconds, held_out)) / 60
        described["held_out_for_validation"] = {"clips": len(held_out), "minutes": round(minutes, 2)}
        described["training"] |= {"clips": described["training"]["clips"] - len(held_out),
                                  "minutes": round(described["training"]["minutes"] - minutes, 2)}
    return {"repeats_per_epoch": recipe.real_speech_repeats, **described,
            "licences": "LJ Speech: public domain; Kathleen and Common Voice: CC0 1.0; CMU ARCTIC: BSD-style "
                        "(see ../shared/data/*/PROVENANCE.md)"}


def _augmentation_card(recipe: TrainRecipe) -> dict | None:
    if recipe.augment == "none":
        return None
    from core.data.augment import AUGMENT_PRESETS

    return {"preset": recipe.augment, **asdict(AUGMENT_PRESETS[recipe.augment]())}


def evaluate_card_metrics(model, recipe, corpus_root, held_out, test_limit, quiet) -> dict:
    """Scores for the card: synthetic test split, its held-out-voice part, and the 100 real clips."""
    metrics = {}
    test_set = load_speech_set("synth", "test", corpus_root, quiet=quiet, limit=test_limit)
    for label, dataset in [
        ("synthetic_test", test_set),
        ("unseen_voice_test", _voice_subset(test_set, set(held_out))),
        ("real_ljspeech", load_speech_set("real", "train", quiet=quiet)),
    ]:
        if dataset is None:
            continue
        result = score(model, dataset, recipe, quiet=quiet, description=label)
        transcripts = result.pop("transcripts")
        result["examples"] = [{"id": i, "reference": r, "hypothesis": h} for i, r, h in transcripts[:3]]
        metrics[label] = result
    metrics.update(real_speech_metrics(model))
    return metrics


def real_speech_metrics(model) -> dict:
    """Issue 10's scores, as `python -m core bench asr-real` computes them: whole clips transcribed as a user's
    upload would be (split on silence into the model's chunks), full references, text reduced to a-z, apostrophe and
    space."""
    from core.speech_real import evaluation_sets, score_recognizer

    names = {"real-ljspeech": "real_ljspeech_whole_clips", "other-voices": "other_voices"}
    return {names[set_name]: score_recognizer(lambda path: transcribe_audio(model, Path(path))["text"], clips, set_name)
            for set_name, clips in evaluation_sets().items()}


def _voice_subset(dataset: SpeechSet, voices: set[str]) -> SpeechSet | None:
    keep = [index for index, utterance in enumerate(dataset.utterances) if utterance.voice in voices]
    return dataset.select(keep) if keep else None


def _fingerprint_config(run_dir: Path) -> dict:
    """The config the run was started with (written beside the run state by train_recognizer)."""
    return json.loads((Path(run_dir) / "config.json").read_text())


def _previous_card(name: str) -> dict:
    from core.checkpoints import read_card

    try:
        return read_card(f"asr/{name}")
    except Exception:
        return {}


# --- The Speech lab's view of one transcription: every attention map, placed in time ------------------------------

LAB_MAX_SECONDS = 30.0  # the Speech lab refuses longer audio: every model decodes each chunk, greedy and beam


@dataclass
class ChunkAttention:
    """What one decoder attended to while writing one chunk; times are seconds from the start of the recording."""

    start_s: float
    end_s: float
    text: str
    output_labels: list[str]  # the characters written, then `>` when the decoder stopped by itself
    input_labels: list[str]  # what the decoder read at each step: `<`, then the characters written
    cross_attention: "np.ndarray"  # (layers, heads, outputs, encoder frames)
    self_attention: "np.ndarray | None"  # (layers, heads, outputs, outputs); None for the LSTM decoder
    frame_seconds: float  # time between encoder frames: 100 feature frames per second over the encoder's subsampling
    ctc_posteriors: "np.ndarray | None" = None  # (encoder frames, tokens): the CTC head's probabilities; None without one

    def frame_times(self) -> list[float]:
        """Centre of each encoder frame, in seconds from the start of the recording."""
        return [self.start_s + frame * self.frame_seconds for frame in range(self.cross_attention.shape[-1])]


@dataclass
class InspectedTranscription:
    text: str
    seconds: float  # features + encoder + search over all chunks: the time the transcript took, not the inspection
    beam: int
    chunks: list[ChunkAttention]


@torch.no_grad()
def transcribe_with_attention(model, audio, beam: int = 1, max_chunk_seconds: float | None = None) -> InspectedTranscription:
    """Transcribe 16 kHz audio as `transcribe_audio` does, then collect every attention map of each chunk.

    The search keeps only the last block's head-averaged cross-attention, so each hypothesis is read once more
    with teacher forcing: the same computation, now returning every layer and head (and the transformer's
    masked self-attention).
    """
    spans = silence_chunk_spans(audio, max_chunk_seconds or model.config.decode_chunk_seconds)  # not part of the model's time
    started = time.perf_counter()
    features = [log_mel(audio[start:end]) for start, end in spans]
    batch, lengths = pad_features(features)
    hypotheses = transcribe_batch(model, batch, lengths, beam)
    seconds = time.perf_counter() - started
    rate = FEATURES.sample_rate
    chunks = [
        _chunk_attention(model, chunk_features, hypothesis, start / rate, end / rate)
        for chunk_features, hypothesis, (start, end) in zip(features, hypotheses, spans)
    ]
    return InspectedTranscription(" ".join(chunk.text for chunk in chunks).strip(), seconds, beam, chunks)


def _chunk_attention(model, features: torch.Tensor, hypothesis, start_s: float, end_s: float) -> ChunkAttention:
    """Teacher-forced pass over one hypothesis: inputs `<` c1 … predict outputs c1 … `>`."""
    from core.attention import padding_mask

    device = next(model.parameters()).device
    outputs = hypothesis.tokens + ([asr_text.STOP] if hypothesis.finished else [])
    inputs = ([asr_text.START] + outputs)[:-1] or [asr_text.START]
    memory, memory_lengths, _ = model.encoder(features[None].to(device), torch.tensor([features.shape[0]], device=device))
    self_weights = []
    # The decoders return their cross-attention; the transformer's self-attention is read off its blocks.
    hooks = [
        block.self_attention.register_forward_hook(lambda module, args, result: self_weights.append(result[1]))
        for block in getattr(model.decoder, "blocks", [])
        if block.self_attention is not None
    ]
    try:
        _, cross_weights = model.decoder(
            torch.tensor([inputs], device=device), memory, padding_mask(memory_lengths, memory.shape[1])
        )
    finally:
        for hook in hooks:
            hook.remove()
    cross = torch.stack([weights[0] for weights in cross_weights]).float().cpu().numpy()  # (layers, heads, outputs, frames')
    self_attention = torch.stack([weights[0] for weights in self_weights]).float().cpu().numpy() if self_weights else None
    hop_seconds = FEATURES.hop_length / FEATURES.sample_rate
    ctc = model.ctc_log_probs(memory)[0].exp().cpu().numpy() if model.ctc is not None else None
    return ChunkAttention(
        start_s=start_s,
        end_s=end_s,
        text=asr_text.decode(hypothesis.tokens),
        output_labels=[asr_text.TOKENS[token] for token in outputs],
        input_labels=[asr_text.TOKENS[token] for token in inputs],
        cross_attention=cross,
        self_attention=self_attention,
        frame_seconds=model.encoder.subsampling * hop_seconds,
        ctc_posteriors=ctc,
    )


LAB_SCORES = ["tokens_jaccard", "tokens_cosine", "tokens_damerau_levenshtein", "levenshtein_distance", "cer", "wer"]


def comparable_reference(text: str) -> str:
    """A reference the models could have written: lowercased, characters outside the 35 tokens dropped, spaces single."""
    kept = "".join(char for char in text.lower() if char in asr_text.INDEX and char not in "<>@#")
    return " ".join(kept.split())


def lab_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """The Speech lab's scores of one transcript: the homework's three similarities on `<`…`>` token lists (first 97
    characters, as the homework scored), Levenshtein distance, CER and WER, against `comparable_reference`."""
    from core.metrics import SCORERS, token_scores

    reference = comparable_reference(reference)
    scores = {f"tokens_{key}": value for key, value in token_scores(hypothesis, reference, asr_text.encode).items()}
    return {key: scores[key] if key in scores else SCORERS[key](hypothesis, reference) for key in LAB_SCORES}


def search_comparison(model_names: list[str], widths: list[int], datasets: dict[str, SpeechSet], quiet: bool = False) -> dict:
    """CER, WER, Levenshtein and decoding seconds per utterance (one clip at a time) for each model, width and set."""
    results = {}
    for name in model_names:
        model, _ = load_model(name)
        for label, dataset in datasets.items():
            for width in widths:
                metrics = score(model, dataset, beam=width, batch_size=1, quiet=quiet,
                                description=f"{name} {label} beam {width}")
                results.setdefault(name, {}).setdefault(label, {})[f"beam{width}"] = {
                    key: round(metrics[key], 4) for key in ("cer", "wer", "levenshtein", "damerau_levenshtein", "seconds_per_clip",
                                                       "cpu_seconds_per_clip")
                } | {"clips": metrics["clips"]}
    return results


def benchmark(model_names: list[str], clip: Path | None = None, beam: int = 4, repeats: int = 3) -> dict:
    """Real-time factor of transcribing a ~10 s real LJ clip, greedy and beam, and the key/value-cache speed-up."""
    clip = clip or SHARED_LJSPEECH / "wavs" / "LJ001-0001.wav"  # 9.66 s of real speech
    audio = load_audio(clip)
    duration = len(audio) / FEATURES.sample_rate
    features = log_mel(audio)[None]
    lengths = torch.tensor([features.shape[1]])
    results = {"clip": clip.name, "duration_s": round(duration, 3), "threads": torch.get_num_threads(), "models": {}}
    for name in model_names:
        model, _ = load_model(name)
        timings = {}
        for label, width, use_cache in [("greedy", 1, True), (f"beam{beam}", beam, True), ("greedy_no_cache", 1, False)]:
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                with torch.no_grad():
                    decoder = model.step_decoder(log_mel(load_audio(clip))[None], lengths, use_cache=use_cache)
                    hypotheses = search(decoder, 1, asr_text.START, asr_text.STOP, MAX_DECODE_STEPS, beam_width=width)
                best = min(best, time.perf_counter() - started)
            timings[label] = {"seconds": round(best, 4), "real_time_factor": round(best / duration, 4),
                              "text": asr_text.decode(hypotheses[0].tokens)}
        timings["cache_speedup"] = round(timings["greedy_no_cache"]["seconds"] / timings["greedy"]["seconds"], 2)
        results["models"][name] = timings
    return results
