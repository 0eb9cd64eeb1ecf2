"""Clips ready to batch: log-mel features (cached on disk, float16 in memory), token ids, augmentation on the fly."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from core import paths
from core.errors import DataUnavailableError, GlassboxError
from core.speech import vocabulary
from core.speech.corpus.augment import AUGMENT_PRESETS, AugmentConfig, augment_waveform, clip_rng, spec_augment
from core.speech.corpus.ljspeech import SHARED_LJSPEECH, Utterance, load_split, real_clips
from core.speech.corpus.real_speech import (
    assert_no_evaluation_leak, real_ljspeech_eval_clips, training_clips, validation_clips,
)
from core.speech.corpus.synth import CORPUS_FOLDERS, SYNTH_CORPUS
from core.speech.features import FeatureCache, load_audio, log_mel, pad_features
from core.speech.recipe import SpeechRecipe, corpus_and_repeats


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
        self.tokens = [vocabulary.encode(u.text) for u in utterances]
        self.augment: AugmentConfig | None = None
        self.augment_seed = 0

    def __len__(self) -> int:
        return len(self.utterances)

    @classmethod
    def _of(cls, utterances, features, tokens, augment: AugmentConfig | None = None, augment_seed: int = 0) -> "SpeechSet":
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

    def with_augmentation(self, config: AugmentConfig, seed: int) -> "SpeechSet":
        """A copy of this set augmented on the fly in `batch` (draws fixed by seed, epoch and position: resumable)."""
        return SpeechSet._of(self.utterances, self.features, self.tokens, config, seed)

    def batch(self, indices: list[int], epoch: int = 0) -> dict:
        clips = self._augmented(indices, epoch) if self.augment else [self.features[index].float() for index in indices]
        features, lengths = pad_features(clips)
        return {
            "features": features,  # (batch, frames, n_mels)
            "lengths": lengths,  # (batch,)
            "tokens": vocabulary.pad_targets([self.tokens[index] for index in indices]),  # (batch, steps)
            "indices": indices,
        }

    def _augmented(self, indices: list[int], epoch: int) -> list[torch.Tensor]:
        """Waveform effects (reading the audio again; the batch's other clips make babble) then SpecAugment."""
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

    def voice_subset(self, voices: set[str]) -> "SpeechSet | None":
        """The clips spoken by `voices` (None if there are none)."""
        keep = [index for index, utterance in enumerate(self.utterances) if utterance.voice in voices]
        return self.select(keep) if keep else None

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


def bucket_batches(lengths: list[int], batch_size: int, shuffle_seed: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (little padding); batch order shuffled when a seed is given.

    Sorting by length, cutting into batches and shuffling the batches keeps every batch tight while the
    model still sees batches in a new order each epoch.
    """
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    if shuffle_seed is not None:
        # Shuffle within equal lengths first so ties are not always batched together.
        rng = random.Random(shuffle_seed)
        keyed = [(lengths[index], rng.random(), index) for index in order]
        order = [index for _, _, index in sorted(keyed)]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if shuffle_seed is not None:
        random.Random(shuffle_seed + 1).shuffle(batches)
    return batches


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


def real_validation_set(count: int, quiet: bool = False) -> SpeechSet:
    """The `count` real training clips held out to choose the epoch and tune decoding (never trained on)."""
    return SpeechSet(validation_clips(count), paths.SHARED_DATA, quiet=quiet, description="real validation speech")


def training_set(recipe: SpeechRecipe, corpus_root: Path = SYNTH_CORPUS, quiet: bool = False) -> SpeechSet:
    """The train split of each synthetic voice set in the recipe, plus the real training speech repeated
    `real_speech_repeats` times; checked against the evaluation clips, and augmented if the recipe says so."""
    corpora = [corpus_and_repeats(entry) for entry in recipe.corpora]
    unknown = [name for name, _ in corpora if name not in CORPUS_FOLDERS]
    if unknown or recipe.augment not in AUGMENT_PRESETS:
        raise GlassboxError(f"Unknown corpus {unknown} or augmentation '{recipe.augment}'; corpora: "
                            f"{', '.join(CORPUS_FOLDERS)}; augmentations: {', '.join(AUGMENT_PRESETS)}.")
    evaluation_texts = {u.id for u in real_ljspeech_eval_clips()}
    parts = []
    for name, repeats in corpora:
        part = load_speech_set("synth", "train", corpus_root if name == "original" else CORPUS_FOLDERS[name], quiet=quiet,
                               limit=recipe.limit_train)
        # The real evaluation clips are train rows: never train on their sentences, even spoken by another voice.
        kept = [index for index, utterance in enumerate(part.utterances) if utterance.id not in evaluation_texts]
        parts.append(part.select(kept * repeats))
    if recipe.real_speech_repeats > 0:
        held_out = {u.id for u in validation_clips(recipe.real_val_clips)} if recipe.real_val_clips else set()
        clips = [u for u in training_clips() if u.id not in held_out][: recipe.limit_train]
        real = SpeechSet(clips, paths.SHARED_DATA, quiet=quiet, description="real training speech")
        parts.append(real.select(list(range(len(real))) * recipe.real_speech_repeats))
    combined = SpeechSet.concat(parts)
    assert_no_evaluation_leak(combined.utterances)
    if recipe.augment == "none":
        return combined
    return combined.with_augmentation(AUGMENT_PRESETS[recipe.augment](), recipe.seed)
