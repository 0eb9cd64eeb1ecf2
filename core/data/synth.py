"""A stand-in for LJ Speech's audio: every normalized transcript spoken by Debian text-to-speech voices.

Only 100 real LJ clips exist here, so the recognizers train on synthetic speech of the same 13,100 texts.
Each clip gets one voice, chosen from a hash of its id (deterministic, independent of order or workers);
the held-out voices are never given to train rows, so the test split also measures an unseen voice.
Output is the official LJ layout (`metadata.csv`, `wavs/ID.wav` at 22,050 Hz mono 16-bit) plus `voices.csv`.
The job is resumable: finished wavs are skipped, and each wav appears under its name only once complete.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm.auto import tqdm

from core.data.ljspeech import HOMEWORK_SPLITS, SHARED_LJSPEECH, VOICES_FILE, Utterance, read_metadata, split_rows
from core.errors import GlassboxError

SAMPLE_RATE = 22_050  # LJ Speech's own rate, so real and synthetic clips share one loader


@dataclass(frozen=True)
class Voice:
    """One engine + voice; `speed` is audio seconds per CPU second (TOOLCHAIN.md), used to run fast voices first."""

    name: str
    engine: str  # "espeak-ng", "flite" or "festival"
    voice: str
    speed: float
    held_out: bool = False


VOICES = [
    Voice("espeak-en-us", "espeak-ng", "en-us", 512),
    Voice("espeak-en-us-f3", "espeak-ng", "en-us+f3", 512),
    Voice("espeak-en-gb-f2", "espeak-ng", "en-gb+f2", 512),
    Voice("espeak-en-rp-m3", "espeak-ng", "en-gb-x-rp+m3", 512),
    Voice("espeak-en-scotland-f4", "espeak-ng", "en-gb-scotland+f4", 512),
    Voice("espeak-en-029", "espeak-ng", "en-029", 512),
    Voice("mbrola-us1", "espeak-ng", "mb-us1", 416),
    Voice("mbrola-us2", "espeak-ng", "mb-us2", 416),
    Voice("mbrola-us3", "espeak-ng", "mb-us3", 416),
    Voice("flite-kal16", "flite", "kal16", 669),
    Voice("flite-slt", "flite", "slt", 92),
    Voice("flite-rms", "flite", "rms", 92),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", 16),
    # Never in train: CMU ARCTIC's Scottish male speaker, a voice and accent no train voice has.
    Voice("flite-awb", "flite", "awb", 92, held_out=True),
]
VOICES_BY_NAME = {voice.name: voice for voice in VOICES}


def choose_voices(names: list[str] | None) -> list[Voice]:
    """The voices to use; if none of them is marked held out, the last one is held out of train."""
    if not names:
        return list(VOICES)
    unknown = [name for name in names if name not in VOICES_BY_NAME]
    if unknown:
        raise GlassboxError(f"Unknown voice(s) {', '.join(unknown)}; known: {', '.join(VOICES_BY_NAME)}.")
    chosen = [VOICES_BY_NAME[name] for name in names]
    if len(chosen) > 1 and not any(voice.held_out for voice in chosen):
        last = chosen[-1]
        chosen[-1] = Voice(last.name, last.engine, last.voice, last.speed, held_out=True)
    return chosen


def assign_voice(utterance: Utterance, voices: list[Voice]) -> Voice:
    """Deterministic voice of one clip: a hash of its id picks among the voices its split may use."""
    start, stop = HOMEWORK_SPLITS["train"]
    allowed = [voice for voice in voices if not voice.held_out] if start <= utterance.row < stop else voices
    allowed = allowed or voices
    digest = int(hashlib.sha256(utterance.id.encode()).hexdigest()[:8], 16)
    return allowed[digest % len(allowed)]


def prosody(utterance_id: str) -> tuple[int, int]:
    """Per-clip speaking rate (words/min) and pitch (0–99) for espeak-ng, so one voice is not one monotone."""
    digest = int(hashlib.sha256(f"prosody:{utterance_id}".encode()).hexdigest()[:8], 16)
    return 145 + digest % 50, 35 + (digest // 50) % 30


def synthesize(text: str, voice: Voice, out_path: Path, utterance_id: str = "") -> None:
    """Speak `text` with `voice` and write a 22,050 Hz mono 16-bit wav at `out_path` (atomically)."""
    with tempfile.TemporaryDirectory(prefix="glassbox-tts-") as work:
        text_path, raw_path = Path(work) / "text.txt", Path(work) / "raw.wav"
        text_path.write_text(text + "\n", encoding="utf-8")
        if voice.engine == "espeak-ng":
            rate, pitch = prosody(utterance_id or text)
            command = ["espeak-ng", "-v", voice.voice, "-s", str(rate), "-p", str(pitch), "-w", str(raw_path), "-f", str(text_path)]
        elif voice.engine == "flite":
            command = ["flite", "-voice", voice.voice, "-f", str(text_path), "-o", str(raw_path)]
        elif voice.engine == "festival":
            command = ["text2wave", "-eval", f"(voice_{voice.voice})", str(text_path), "-o", str(raw_path)]
        else:
            raise ValueError(f"Unknown engine {voice.engine}")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not raw_path.exists() or raw_path.stat().st_size <= 44:
            raise GlassboxError(f"{voice.engine} ({voice.voice}) failed on '{text[:40]}…': {result.stderr.strip()[:300]}")
        audio, rate = soundfile.read(str(raw_path), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != SAMPLE_RATE:
            import soxr

            audio = soxr.resample(audio, rate, SAMPLE_RATE)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 0.99:  # resampling can overshoot: scale down rather than clip
            audio = audio * (0.99 / peak)
        partial = out_path.with_name(out_path.name + ".part")
        soundfile.write(str(partial), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        partial.replace(out_path)


def missing_engines(voices: list[Voice]) -> list[str]:
    needed = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    return sorted({voice.engine for voice in voices if shutil.which(needed[voice.engine]) is None})


def synth_ljspeech(
    out: Path,
    limit: int | None = None,
    voice_names: list[str] | None = None,
    workers: int | None = None,
    source: Path = SHARED_LJSPEECH,
    quiet: bool = False,
) -> dict:
    """Synthesize the corpus into `out`; `limit` keeps the first N rows of each split (a small, complete corpus)."""
    voices = choose_voices(voice_names)
    missing = missing_engines(voices)
    if missing:
        raise GlassboxError(f"Text-to-speech engine(s) not installed: {', '.join(missing)}. Run `make voices`.")
    out = Path(out)
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    utterances = read_metadata(source)
    if limit is not None:
        utterances = [u for split in HOMEWORK_SPLITS for u in split_rows(utterances, split)[:limit]]
    shutil.copyfile(Path(source) / "metadata.csv", out / "metadata.csv")
    assignments = {utterance.id: assign_voice(utterance, voices) for utterance in utterances}
    existing = {}
    voices_path = out / VOICES_FILE
    if voices_path.exists():
        existing = dict(line.split("|", 1) for line in voices_path.read_text(encoding="utf-8").splitlines() if line)
    existing.update({clip_id: voice.name for clip_id, voice in assignments.items()})
    voices_path.write_text("".join(f"{clip_id}|{name}\n" for clip_id, name in sorted(existing.items())), encoding="utf-8")

    # Fast voices first: a training run can start on a large part of the corpus while slow voices finish.
    todo = [u for u in utterances if not (out / "wavs" / f"{u.id}.wav").exists()]
    todo.sort(key=lambda u: (-assignments[u.id].speed, u.row))
    failures = []
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(synthesize, u.text, assignments[u.id], out / "wavs" / f"{u.id}.wav", u.id): u for u in todo
        }
        for future in tqdm(as_completed(futures), total=len(futures), desc="synthesizing", file=sys.stderr, disable=quiet):
            if future.exception() is not None:
                failures.append(f"{futures[future].id}: {future.exception()}")
    counts: dict[str, int] = {}
    for voice in assignments.values():
        counts[voice.name] = counts.get(voice.name, 0) + 1
    return {
        "out": str(out),
        "clips": len(utterances),
        "synthesized_now": len(todo) - len(failures),
        "failed": failures[:20],
        "voices": counts,
        "held_out_of_train": [voice.name for voice in voices if voice.held_out],
    }
