"""Real recorded speech for the recognizers: what may be trained on, what is kept for evaluation, and the guard between.

Sources (each folder's PROVENANCE.md has licences and checks):
- `ljspeech-1.1/wavs-extra-16k/`: 271 real LJ clips, all homework train rows; text = metadata.csv's normalized column.
- `real-speech/transcripts.tsv`: Kathleen (781 clips), Common Voice English (484, many speakers), CMU ARCTIC (6).
- Evaluation only: the 100 real LJ clips in `ljspeech-1.1/wavs/`, and a fixed, seeded 10% of the Common Voice clips
  (the "other voices" set). `assert_no_evaluation_leak` refuses any training list that holds one of them.

Transcripts are normalized into the 35-token vocabulary of `core.speech.vocabulary` (see `normalize_transcript`).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import soundfile

from core import paths
from core.speech import vocabulary
from core.speech.corpus.ljspeech import SHARED_LJSPEECH, Utterance, read_metadata, real_clips
from core.errors import DataUnavailableError

REAL_SPEECH = paths.SHARED_DATA / "real-speech"
LJ_EXTRA = SHARED_LJSPEECH / "wavs-extra-16k"
LJ_VOICE = "ljspeech"  # the voice ljspeech.read_metadata gives real recordings (synthesized clips carry their voice name)
CORPUS_PREFIX = {"rhasspy-kathleen": "kathleen", "common-voice-en": "cv", "cmu-arctic": "arctic"}
OTHER_VOICES_CORPUS = "common-voice-en"
OTHER_VOICES_SEED = 20_261_124
OTHER_VOICES_FRACTION = 0.10
VALIDATION_SALT = "validation"  # ranks the training clips for `validation_clips` independently of the other-voices draw

# Written punctuation mapped to the nearest token the vocabulary has; quotes and brackets are not spoken, so dropped.
PUNCTUATION_MAP = {";": ",", ":": ",", "!": ".", '"': " ", "(": " ", ")": " ", "\u2019": "'", "\u2018": "'",
                   "\u201c": " ", "\u201d": " ", "\u2014": " - ", "\u2013": " - "}
ALLOWED = set(vocabulary.TOKENS[4:]) | {"'"}  # space , . ? - a-z, and the apostrophe (see normalize_transcript)


@dataclass(frozen=True)
class Dropped:
    """A clip left out of every set, and why."""

    id: str
    source: str
    reason: str


def normalize_transcript(text: str) -> str:
    """Lower-case text spelled with the vocabulary's characters, plus the apostrophe; raises ValueError if it cannot be.

    Apostrophes are kept: `vocabulary.encode` turns them into `#`, exactly as it does in the 1,344 LJ transcripts of
    the synthetic corpus that hold one, so "don't" gets the same target in real and synthetic speech, and scoring
    (`core.metrics.normalize_for_scoring`) reads a `#` inside a word back as the apostrophe the references keep.
    Numbers are not guessed: a transcript with digits raises (Kathleen's writes them as words; none remain).
    """
    text = unicodedata.normalize("NFKC", text)
    if re.search(r"\d", text):
        raise ValueError("digits in the transcript (the spoken form is ambiguous)")
    text = "".join(PUNCTUATION_MAP.get(char, char) for char in text.lower())
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ([,.?])", r"\1", text)  # "side ," left by a dropped quote
    outside = sorted(set(text) - ALLOWED)
    if outside:
        raise ValueError(f"characters outside the vocabulary: {''.join(outside)!r}")
    if not re.search(r"[a-z]", text):
        raise ValueError("no words in the transcript")
    return text


def source_of(utterance: Utterance) -> str:
    """Corpus name of a clip from this module: `ljspeech` or a folder of real-speech (the voice is `corpus:speaker`)."""
    return utterance.voice.split(":", 1)[0]


@lru_cache(maxsize=1)
def _all_clips() -> tuple[tuple[Utterance, ...], tuple[Dropped, ...]]:
    """Every usable real clip (LJ extra, then real-speech sorted by path) and those dropped, read once."""
    kept, dropped = [], []
    for raw in _lj_extra_raw() + _real_speech_raw():  # utterances still holding their transcript as written
        try:
            kept.append(replace(raw, text=normalize_transcript(raw.text)))
        except ValueError as reason:
            dropped.append(Dropped(raw.id, source_of(raw), str(reason)))
    ids = [utterance.id for utterance in kept]
    assert len(ids) == len(set(ids)), "real clip ids must be unique (the feature cache is keyed by id)"
    return tuple(kept), tuple(dropped)


def _lj_extra_raw() -> list[Utterance]:
    if not LJ_EXTRA.is_dir():
        raise DataUnavailableError(f"The real LJ Speech training clips are missing: no folder {LJ_EXTRA}.")
    metadata = {utterance.id: utterance for utterance in read_metadata(SHARED_LJSPEECH)}
    return [replace(metadata[path.stem], audio_path=path, voice=LJ_VOICE) for path in sorted(LJ_EXTRA.glob("*.flac"))]


def _real_speech_raw() -> list[Utterance]:
    table = REAL_SPEECH / "transcripts.tsv"
    if not table.exists():
        raise DataUnavailableError(f"The real-speech corpus is missing: no {table} (expected the folder {REAL_SPEECH}).")
    utterances = []
    for line in sorted(table.read_text(encoding="utf-8").splitlines()[1:]):  # by path: sets never follow file order
        relative, speaker, corpus, raw_text = line.split("\t", 3)
        audio_path = REAL_SPEECH / relative
        utterances.append(Utterance(f"{CORPUS_PREFIX[corpus]}-{audio_path.stem}", -1, raw_text, audio_path, f"{corpus}:{speaker}"))
    return utterances


def usable_clips() -> list[Utterance]:
    """All real clips with a usable transcript, training and other-voices alike (not the 100 wavs/ clips)."""
    return list(_all_clips()[0])


def dropped_clips() -> list[Dropped]:
    return list(_all_clips()[1])


def other_voices_clips() -> list[Utterance]:
    """The fixed 10% of Common Voice clips held out for evaluation: the smallest seeded hashes of their paths."""
    common_voice = [u for u in usable_clips() if source_of(u) == OTHER_VOICES_CORPUS]
    count = round(OTHER_VOICES_FRACTION * len(common_voice))
    ranked = sorted(common_voice, key=lambda u: _seeded_hash(_relative(u.audio_path)))
    return sorted(ranked[:count], key=lambda u: u.id)


def training_clips() -> list[Utterance]:
    """Every real clip that may be trained on: LJ extra, Kathleen, CMU ARCTIC and the other 90% of Common Voice."""
    held_out = {u.id for u in other_voices_clips()}
    return [u for u in usable_clips() if u.id not in held_out]


def validation_clips(count: int) -> list[Utterance]:
    """A fixed, seeded slice of the training clips that a run may hold out of training to choose its epoch on real
    speech (never an evaluation clip: they are drawn from `training_clips`)."""
    ranked = sorted(training_clips(), key=lambda u: _seeded_hash(f"{VALIDATION_SALT}:{_relative(u.audio_path)}"))
    return sorted(ranked[:count], key=lambda u: u.id)


def real_ljspeech_eval_clips() -> list[Utterance]:
    """The 100 real LJ clips of `wavs/`: evaluation only (they are train rows, so never train or tune on them)."""
    return real_clips(SHARED_LJSPEECH)


def assert_no_evaluation_leak(training: list[Utterance]) -> None:
    """Raise ValueError if a training list holds a wavs/ clip or an other-voices clip (by audio file, or by id of real audio).

    Synthesized LJ clips share ids with wavs/ but not its audio, so an LJ id only counts when the clip is real speech.
    """
    evaluation = real_ljspeech_eval_clips() + other_voices_clips()
    forbidden_paths = {Path(u.audio_path).resolve() for u in evaluation}
    forbidden_ids = {u.id for u in evaluation}
    leaks = [
        u.id for u in training
        if Path(u.audio_path).resolve() in forbidden_paths or (u.id in forbidden_ids and not _is_synthesized(u))
    ]
    if leaks:
        shown = ", ".join(sorted(set(leaks))[:10])
        raise ValueError(f"{len(set(leaks))} evaluation clips are in the training list (e.g. {shown}).")


def summary() -> dict:
    """Clip counts and minutes per source and set, and the dropped clips with reasons, for cards and reports."""
    training, other = training_clips(), other_voices_clips()
    sources: dict[str, dict] = {}
    for utterance in training:
        entry = sources.setdefault(source_of(utterance), {"clips": 0, "minutes": 0.0, "over_97_characters": 0})
        entry["clips"] += 1
        entry["minutes"] += duration_seconds(utterance) / 60
        entry["over_97_characters"] += len(utterance.text) > vocabulary.MAX_CHARACTERS
    for entry in sources.values():
        entry["minutes"] = round(entry["minutes"], 2)
    return {
        "training": {"clips": len(training), "minutes": round(sum(e["minutes"] for e in sources.values()), 2),
                     "by_source": sources},
        "other_voices": {"clips": len(other), "minutes": round(sum(map(duration_seconds, other)) / 60, 2),
                         "seed": OTHER_VOICES_SEED, "fraction": OTHER_VOICES_FRACTION},
        "real_ljspeech_eval": {"clips": len(real_ljspeech_eval_clips())},
        "dropped": [{"id": d.id, "source": d.source, "reason": d.reason} for d in dropped_clips()],
    }


def duration_seconds(utterance: Utterance) -> float:
    return soundfile.info(str(utterance.audio_path)).duration


def _is_synthesized(utterance: Utterance) -> bool:
    return utterance.voice != LJ_VOICE and ":" not in utterance.voice


def _relative(path: Path) -> str:
    """Path inside the shared data folder, so the choice does not depend on where the data is mounted."""
    return Path(path).relative_to(paths.SHARED_DATA).as_posix()


def _seeded_hash(text: str) -> int:
    return int(hashlib.sha256(f"{OTHER_VOICES_SEED}:{text}".encode()).hexdigest()[:16], 16)
