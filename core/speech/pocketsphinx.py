"""PocketSphinx, CMU's classic offline recognizer (HMM acoustic model + n-gram language model, trained on real
speech): the peer our recognizers are measured beside on real voices."""
from __future__ import annotations

import functools
import threading
import time

import numpy as np

from core.errors import GlassboxError
from core.speech.features import FEATURES

try:  # in requirements.txt; a copy without it still runs every other recognizer
    from pocketsphinx import Decoder
except ImportError:
    Decoder = None

POCKETSPHINX = "pocketsphinx"
POCKETSPHINX_VERSION = "5.1.1"
INSTALLED = Decoder is not None


@functools.lru_cache(maxsize=1)
def pocketsphinx_decoder() -> tuple:
    """The bundled US English acoustic model, language model and dictionary (loading takes a moment: done once)."""
    if Decoder is None:
        raise GlassboxError(f"PocketSphinx is not installed: `pip install pocketsphinx=={POCKETSPHINX_VERSION}`.")
    return Decoder(samprate=FEATURES.sample_rate), threading.Lock()  # one decoder, one utterance at a time


def pocketsphinx_transcribe(audio: np.ndarray) -> str:
    """Transcript of float32 mono 16 kHz audio (as `core.speech.features.load_audio` returns), by PocketSphinx."""
    decoder, lock = pocketsphinx_decoder()
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    with lock:
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def timed_pocketsphinx_transcription(audio: np.ndarray) -> tuple[str, float]:
    """PocketSphinx's transcript and the seconds it took (the decoder loaded beforehand, so loading is not counted)."""
    pocketsphinx_decoder()
    started = time.perf_counter()
    return pocketsphinx_transcribe(audio), time.perf_counter() - started
