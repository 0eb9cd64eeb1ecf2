"""Training, scoring and transcription for the speech recognizers (the CLI in core/speech.py is a thin layer on this).

Recipe (the IST 2023-24 homework): AdamW lr 1e-3, 2 warm-up epochs then linear decay to 1%, cross-entropy with
label smoothing 0.1 under teacher forcing, seed 42, 15 epochs. Deviations, each because of the 2-core CPU:
the learning rate moves every batch along the same warm-up/decay shape (the homework stepped it per epoch, so
its whole first epoch ran at lr 1e-5), batches are bucketed by length (no padding to 2,754 frames), and the
loss skips `@` padding (the homework counted it; its losses are therefore not comparable one to one).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core import paths
from core.data import asr_text
from core.data.audio import FEATURES, FeatureCache, bucket_batches, load_audio, log_mel, pad_features
from core.data.ljspeech import SHARED_LJSPEECH, Utterance, load_split, real_clips
from core.decoding import search
from core.errors import DataUnavailableError
from core.metrics import cosine_similarity, damerau_levenshtein_similarity, jaccard_similarity

SYNTH_CORPUS = paths.CACHE / "ljspeech-synth"
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
    limit_train: int | None = None  # train on the first N train clips only (smoke runs)


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

    def __len__(self) -> int:
        return len(self.utterances)

    def batch(self, indices: list[int]) -> dict:
        features, lengths = pad_features([self.features[index].float() for index in indices])
        return {
            "features": features,  # (batch, frames, n_mels)
            "lengths": lengths,  # (batch,)
            "tokens": asr_text.pad_targets([self.tokens[index] for index in indices]),  # (batch, steps)
            "indices": indices,
        }

    def select(self, indices) -> "SpeechSet":
        """The clips at `indices`, sharing this set's features (no recomputation)."""
        part = object.__new__(SpeechSet)
        part.utterances = [self.utterances[i] for i in indices]
        part.features = [self.features[i] for i in indices]
        part.tokens = [self.tokens[i] for i in indices]
        return part

    def subset(self, count: int) -> "SpeechSet":
        return self.select(range(min(count, len(self))))

    def batches(self, batch_size: int, shuffle_seed: int | None = None) -> "Batches":
        lengths = [item.shape[0] for item in self.features]
        return Batches(self, bucket_batches(lengths, batch_size, shuffle_seed))


class Batches:
    """An epoch's batches, collated lazily, with a length for the progress bar."""

    def __init__(self, dataset: SpeechSet, index_batches: list[list[int]]):
        self.dataset, self.index_batches = dataset, index_batches

    def __len__(self) -> int:
        return len(self.index_batches)

    def __iter__(self):
        return (self.dataset.batch(indices) for indices in self.index_batches)


def batch_loss(model, batch: dict, recipe: TrainRecipe) -> tuple[torch.Tensor, int]:
    """Teacher forcing: predict tokens[1:] from tokens[:-1]; mean cross-entropy per predicted token."""
    device = next(model.parameters()).device
    tokens = batch["tokens"].to(device)
    logits, _ = model(batch["features"].to(device), batch["lengths"].to(device), tokens[:, :-1])
    targets = tokens[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=asr_text.PAD if recipe.ignore_padding else -100,
        label_smoothing=recipe.label_smoothing,
    )
    return loss, len(batch["indices"])


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
def transcribe_batch(model, features: torch.Tensor, lengths: torch.Tensor, beam: int = 1) -> list:
    """Decode a padded batch; returns core.decoding Hypothesis objects (tokens without `<`/`>`, attention)."""
    device = next(model.parameters()).device
    decoder = model.step_decoder(features.to(device), lengths.to(device))
    return search(decoder, len(lengths), asr_text.START, asr_text.STOP, MAX_DECODE_STEPS, beam_width=beam)


@torch.no_grad()
def score(model, dataset: SpeechSet, recipe: TrainRecipe | None = None, beam: int = 1, limit: int | None = None,
          batch_size: int = 16, quiet: bool = True, description: str = "scoring") -> dict:
    """Loss, the homework's similarities (on token ids `<` … first `>`, mean per clip), corpus CER and WER.

    Returns the metrics and, under "transcripts", (id, reference, hypothesis) for every scored clip.
    """
    recipe = recipe or TrainRecipe()
    model.eval()
    total_loss, total_items = 0.0, 0
    sums = {"jaccard": 0.0, "cosine": 0.0, "damerau_levenshtein": 0.0}
    references, hypotheses, transcripts = [], [], []
    batches = dataset.subset(limit).batches(batch_size) if limit else dataset.batches(batch_size)
    for batch in tqdm(batches, desc=description, file=sys.stderr, disable=quiet, leave=False):
        loss, items = batch_loss(model, batch, recipe)
        total_loss += float(loss) * items
        total_items += items
        for row, hypothesis in zip(batch["indices"], transcribe_batch(model, batch["features"], batch["lengths"], beam)):
            ending = [asr_text.STOP] if hypothesis.finished else []
            predicted = asr_text.homework_sequence([asr_text.START] + hypothesis.tokens + ending)
            target = dataset.tokens[row]
            sums["jaccard"] += jaccard_similarity(predicted, target)
            sums["cosine"] += cosine_similarity(predicted, target)
            sums["damerau_levenshtein"] += damerau_levenshtein_similarity(predicted, target)
            reference, text = asr_text.decode(target), asr_text.decode(hypothesis.tokens)
            references.append(reference)
            hypotheses.append(text)
            transcripts.append((dataset.utterances[row].id, reference, text))
    count = max(len(references), 1)
    return {
        "clips": len(references),
        "loss": total_loss / max(total_items, 1),
        **{name: value / count for name, value in sums.items()},
        **corpus_error_rates(hypotheses, references),
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


def transcribe_audio(model, audio_source, beam: int = 1, max_chunk_seconds: float = 8.0) -> dict:
    """Transcribe one recording of any length the loader accepts; long audio is split on silence into chunks.

    The models were trained on clips of at most 97 characters (~8 s of speech), so longer audio is cut at
    its pauses into chunks of at most `max_chunk_seconds`, transcribed as one batch, and joined.
    """
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
        result["note"] = f"The audio is longer than {max_chunk_seconds:.0f} s, so it was split at pauses into {len(chunks)} chunks."
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


def train_recognizer(name: str, config, recipe: TrainRecipe, corpus_root: Path, run_dir: Path, device: str = "cpu",
                     test_limit: int | None = None, quiet: bool = False) -> dict:
    """Train (or resume) through core.train.fit; after every epoch the best weights so far become the checkpoint."""
    from core.models.asr import SpeechRecognizer
    from core.train import RunSettings, fit

    torch.manual_seed(recipe.seed)
    model = SpeechRecognizer(config)
    train_set = load_speech_set("synth", "train", corpus_root, quiet=quiet, limit=recipe.limit_train)
    val_set = load_speech_set("synth", "val", corpus_root, quiet=quiet).subset(recipe.val_decode_limit)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    batches_per_epoch = len(train_set.batches(recipe.batch_size))
    scheduler = warmup_then_linear_decay(optimizer, batches_per_epoch, recipe)

    def evaluate(trained) -> dict:
        metrics = score(trained, val_set, recipe)
        # The corpus may grow between resumed sessions (synthesis runs beside training): log what this epoch saw.
        return {"train_clips": len(train_set), **{f"val_{key}": value for key, value in metrics.items() if isinstance(value, float)}}

    run_config = {"config": asdict(config), "recipe": asdict(recipe), "features": asdict(FEATURES)}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    if not (Path(run_dir) / "state.json").exists():  # a resume keeps the config it started with
        (Path(run_dir) / "config.json").write_text(json.dumps(run_config, indent=1))
    settings = RunSettings(
        run_dir=run_dir,
        epochs=recipe.epochs,
        seed=recipe.seed,
        device=device,
        clip_grad_norm=recipe.clip_grad_norm,
        best_metric="val_damerau_levenshtein",
        description=f"asr/{name}",
        quiet=quiet,
        fingerprint=run_config,
    )
    fit(
        model,
        optimizer,
        lambda epoch: train_set.batches(recipe.batch_size, shuffle_seed=recipe.seed * 1000 + epoch),
        lambda trained, batch: batch_loss(trained, batch, recipe),
        evaluate,
        settings,
        scheduler=scheduler,
        on_epoch_end=lambda record: export_checkpoint(name, run_dir, corpus_root, evaluate=False, quiet=True),
    )
    return export_checkpoint(name, run_dir, corpus_root, evaluate=True, test_limit=test_limit, quiet=quiet)


def export_checkpoint(name: str, run_dir: Path, corpus_root: Path = SYNTH_CORPUS, evaluate: bool = True,
                      test_limit: int | None = None, quiet: bool = False) -> dict:
    """Write checkpoints/asr/<name> from the run's best epoch so far; with `evaluate`, score it on the test data."""
    from safetensors.torch import load_file

    from core.checkpoints import save_checkpoint
    from core.data.ljspeech import HOMEWORK_SPLITS, read_voices
    from core.data.synth import VOICES
    from core.models import architecture_of
    from core.models.asr import SpeechRecognizer, SpeechRecognizerConfig

    state_path, best_path = Path(run_dir) / "state.json", Path(run_dir) / "best.safetensors"
    if not state_path.exists() or not best_path.exists():
        raise DataUnavailableError(f"No finished epoch in {run_dir} yet: train first with `python -m core train asr`.")
    state = json.loads(state_path.read_text())
    history = state["history"]
    best = max(history, key=lambda record: record["val_damerau_levenshtein"])
    recipe_seen = _fingerprint_config(run_dir)
    model = SpeechRecognizer(SpeechRecognizerConfig(**recipe_seen["config"]))
    model.load_state_dict(load_file(str(best_path)))
    model.eval()
    recipe = TrainRecipe(**recipe_seen["recipe"])
    decoder = model.config.decoder
    held_out = [voice.name for voice in VOICES if voice.held_out]
    voices_used = sorted(set(read_voices(corpus_root).values()))
    card = {
        "architecture": architecture_of(model),
        "task": "asr",
        "title": f"Audio encoder + {'LSTM' if decoder == 'lstm' else 'transformer'} decoder, LJ Speech texts (synthetic voices)",
        "dataset": {
            "name": "LJ Speech 1.1 transcripts spoken by Debian TTS voices (synth-ljspeech)",
            "source": "metadata.csv of LJ Speech 1.1 (public domain); audio synthesized by `python -m core data synth-ljspeech`",
            "splits": {split: stop - start for split, (start, stop) in HOMEWORK_SPLITS.items()},
            "train_clips_per_epoch": [record.get("train_clips") for record in history],
            "voices": voices_used,
            "held_out_of_train": held_out,
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
            "how_to_resume": (
                f"python -m core train asr --decoder {decoder} --name {name} --epochs {recipe.epochs} "
                f"--batch-size {recipe.batch_size} --encoder-layers {model.config.encoder_layers} --threads 1 "
                + (f"--limit-train {recipe.limit_train} " if recipe.limit_train else "")
                + f"--run-dir {run_dir} (continues after epoch {len(history)}; the run folder is not committed)"
            ),
            "size_note": (
                "Homework sizes (hidden 200, 2 heads, MLP 400) with 2 encoder blocks, as the homework notebook "
                "trained: about 1.4 M parameters, a CPU epoch over 9,825 clips takes minutes, not hours."
            ),
        },
        "curves": {key: [record.get(key) for record in history] for key in history[0] if key not in ("epoch", "train_clips")},
        "best_validation": {key: value for key, value in best.items() if key.startswith("val_")},
    }
    if evaluate:
        card["metrics"] = evaluate_card_metrics(model, recipe, corpus_root, held_out, test_limit, quiet)
    else:
        previous = _previous_card(name)
        if previous.get("metrics") and previous.get("training", {}).get("best_epoch") == best["epoch"]:
            card["metrics"] = previous["metrics"]
    return save_checkpoint(model, card, f"asr/{name}")


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
    return metrics


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

LAB_MAX_SECONDS = 30.0  # the Speech lab refuses longer audio: every model decodes each 8 s chunk, greedy and beam


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
    frame_seconds: float  # time between encoder frames: the encoder halves the 100 feature frames per second

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
def transcribe_with_attention(model, audio, beam: int = 1, max_chunk_seconds: float = 8.0) -> InspectedTranscription:
    """Transcribe 16 kHz audio as `transcribe_audio` does, then collect every attention map of each chunk.

    The search keeps only the last block's head-averaged cross-attention, so each hypothesis is read once more
    with teacher forcing: the same computation, now returning every layer and head (and the transformer's
    masked self-attention).
    """
    spans = silence_chunk_spans(audio, max_chunk_seconds)  # shared by every model: not part of any model's time
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
    from core.models.attention import padding_mask

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
    return ChunkAttention(
        start_s=start_s,
        end_s=end_s,
        text=asr_text.decode(hypothesis.tokens),
        output_labels=[asr_text.TOKENS[token] for token in outputs],
        input_labels=[asr_text.TOKENS[token] for token in inputs],
        cross_attention=cross,
        self_attention=self_attention,
        frame_seconds=2 * hop_seconds,
    )


LAB_SCORES = ["tokens_jaccard", "tokens_cosine", "tokens_damerau_levenshtein", "levenshtein_distance", "cer", "wer"]


def comparable_reference(text: str) -> str:
    """A reference the models could have written: lowercased, characters outside the 35 tokens dropped, spaces single."""
    kept = "".join(char for char in text.lower() if char in asr_text.INDEX and char not in "<>@#")
    return " ".join(kept.split())


def lab_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """The Speech lab's scores of one transcript: the homework's three similarities on `<`…`>` token lists (first 97
    characters, as the homework scored), Levenshtein distance, CER and WER, against `comparable_reference`."""
    from core.metrics import SCORERS

    reference = comparable_reference(reference)
    return {key: SCORERS[key](hypothesis, reference) for key in LAB_SCORES}


def benchmark(model_names: list[str], clip: Path | None = None, beam: int = 4, repeats: int = 3) -> dict:
    """Real-time factor of transcribing a ~10 s real LJ clip, greedy and beam, and the key/value-cache speed-up."""
    from core.checkpoints import load_model

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
