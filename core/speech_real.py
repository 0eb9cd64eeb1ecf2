"""Speech on real voices: PocketSphinx as the classic peer, and one scoring of any recognizer on real recordings.

    python -m core bench asr-real [--models asr/lj-transformer ...] [--limit N] --json

Two evaluation sets, neither ever trained on (see `core.data.real_speech`): the 100 real LJ clips of `wavs/` and the
"other voices" set (a fixed 10% of the Common Voice clips: many speakers and accents). Transcripts are compared after
`normalize_for_scoring` (issue 10's normalization), so our models and PocketSphinx are scored alike.
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core import paths
from core.errors import GlassboxError

POCKETSPHINX = "pocketsphinx"
POCKETSPHINX_VERSION = "5.1.1"
SAMPLE_RATE = 16_000


def register(commands) -> None:
    bench = commands.task("bench", "asr-real",
                          "Score every ASR checkpoint and PocketSphinx on real speech: real LJ clips and other voices.", _bench)
    bench.add_argument("--models", nargs="*", default=None,
                       help="checkpoints to score (default: every asr/ checkpoint; give none to score PocketSphinx only)")
    bench.add_argument("--limit", type=int, default=None, help="score only the first N clips of each set")
    bench.add_argument("--no-pocketsphinx", action="store_true", help="leave PocketSphinx out")


def normalize_for_scoring(text: str) -> str:
    """Lower-case a-z, apostrophe and single spaces: every other character becomes a space.

    Our vocabulary has no apostrophe, so transcripts of "don't" carry the unknown token `#`; a `#` between two
    letters is read back as the apostrophe it stands for (elsewhere `#` marks quotes or colons and is dropped).
    """
    text = re.sub(r"(?<=[a-z])#(?=[a-z])", "'", text.lower())
    return " ".join(re.sub(r"[^a-z' ]+", " ", text).split())


def score_transcripts(hypotheses: list[str], references: list[str], decode_seconds: float = 0.0,
                      audio_seconds: float = 0.0, cpu_seconds: float | None = None) -> dict:
    """Corpus CER and WER (jiwer: total edits / total reference length), mean per-clip CER, real-time factor.

    `cpu_seconds` (the process's CPU time while decoding) gives a second real-time factor that a busy machine
    inflates less than the wall clock does, for one-threaded decoders.
    """
    import jiwer

    hypotheses = [normalize_for_scoring(text) for text in hypotheses]
    references = [normalize_for_scoring(text) for text in references]
    if not references or not all(references):
        raise ValueError("every clip needs a non-empty reference to be scored")
    return {
        "clips": len(references),
        "cer": jiwer.cer(references, hypotheses),
        "wer": jiwer.wer(references, hypotheses),
        "mean_clip_cer": float(np.mean([jiwer.cer(r, h) for r, h in zip(references, hypotheses)])),
        "real_time_factor": decode_seconds / audio_seconds if audio_seconds else float("nan"),
        "decode_s": round(decode_seconds, 2),
        "audio_s": round(audio_seconds, 2),
        **({"cpu_real_time_factor": cpu_seconds / audio_seconds} if cpu_seconds is not None and audio_seconds else {}),
    }


@functools.lru_cache(maxsize=1)
def _pocketsphinx_decoder():
    """The bundled US English acoustic model, language model and dictionary (loading takes a moment: done once)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as error:
        raise GlassboxError(f"PocketSphinx is not installed: `pip install pocketsphinx=={POCKETSPHINX_VERSION}`.") from error
    return Decoder(samprate=SAMPLE_RATE), threading.Lock()  # one decoder, one utterance at a time


def pocketsphinx_transcribe(audio: np.ndarray) -> str:
    """Transcript of float32 mono 16 kHz audio (as `core.data.audio.load_audio` returns), by PocketSphinx."""
    decoder, lock = _pocketsphinx_decoder()
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    with lock:
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def evaluation_sets(limit: int | None = None) -> dict[str, list]:
    """Name -> utterances of each real evaluation set (first `limit` clips of each)."""
    from core.data.real_speech import other_voices_clips, real_ljspeech_eval_clips

    return {"real-ljspeech": real_ljspeech_eval_clips()[:limit], "other-voices": other_voices_clips()[:limit]}


def score_recognizer(transcribe, utterances: list, description: str) -> dict:
    """Run `transcribe(audio_path) -> text` on every clip (timed, audio reading included) and score the transcripts."""
    from core.data.real_speech import duration_seconds

    hypotheses, decode_seconds, cpu_seconds, audio_seconds = [], 0.0, 0.0, 0.0
    for utterance in tqdm(utterances, desc=description, file=sys.stderr, leave=False):
        audio_seconds += duration_seconds(utterance)
        started, cpu_started = time.perf_counter(), time.process_time()
        hypotheses.append(transcribe(utterance.audio_path))
        decode_seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
    result = score_transcripts(hypotheses, [u.text for u in utterances], decode_seconds, audio_seconds, cpu_seconds)
    result["examples"] = [{"id": u.id, "reference": normalize_for_scoring(u.text), "hypothesis": normalize_for_scoring(h)}
                          for u, h in list(zip(utterances, hypotheses))[:3]]
    return result


def recognizers(model_names: list[str], include_pocketsphinx: bool = True, device: str = "cpu"):
    """(name, transcribe(path) -> text) for each checkpoint (greedy) and PocketSphinx, loading each when reached."""
    from core.asr import load_model, transcribe_audio
    from core.data.audio import load_audio

    if include_pocketsphinx:
        _pocketsphinx_decoder()  # load before the clock starts
        yield POCKETSPHINX, lambda path: pocketsphinx_transcribe(load_audio(path))
    for name in model_names:
        model, _ = load_model(name, device=device)
        yield name, lambda path, model=model: transcribe_audio(model, Path(path), beam=1)["text"]


def benchmark(model_names: list[str], limit: int | None = None, include_pocketsphinx: bool = True,
              device: str = "cpu") -> dict:
    """Every recognizer on every real evaluation set: {"systems": {name: {set: scores}}, "sets": {set: clips}}."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    sets = evaluation_sets(limit)
    systems = {}
    for name, transcribe in recognizers(model_names, include_pocketsphinx, device):
        systems[name] = {set_name: score_recognizer(transcribe, clips, f"{name} on {set_name}") for set_name, clips in sets.items()}
    return {
        "normalization": "lower-case a-z, apostrophe and space; other characters become spaces; spaces collapsed",
        "decoding": "greedy search for the checkpoints (joint CTC-attention where a card chose a CTC weight), recordings cut "
                    "at pauses into chunks of each card's max_chunk_seconds; PocketSphinx's bundled en-US model, whole clips",
        "threads": torch.get_num_threads(),
        "sets": {set_name: len(clips) for set_name, clips in sets.items()},
        "systems": systems,
        "seconds": round(time.perf_counter() - started, 1),
    }


BENCHMARK_FILE = paths.ASSETS / "speech" / "bench-asr-real.json"  # `make bench-asr-real` writes it


def shipped_benchmark() -> dict | None:
    """The last `bench asr-real` result shipped with the app (PocketSphinx's row in the Speech lab), if any."""
    if not BENCHMARK_FILE.exists():
        return None
    try:
        return json.loads(BENCHMARK_FILE.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _bench(args: argparse.Namespace) -> dict:
    from core.checkpoints import list_checkpoints

    if args.limit is not None and args.limit < 1:
        raise GlassboxError("--limit must be at least 1.")
    models = list_checkpoints("asr") if args.models is None else args.models
    known = set(list_checkpoints("asr"))
    unknown = [name for name in models if name not in known]
    if unknown:
        raise GlassboxError(f"No such ASR checkpoint: {', '.join(unknown)}. Shipped: {', '.join(sorted(known)) or 'none'}.")
    if not models and args.no_pocketsphinx:
        raise GlassboxError("Nothing to score: give --models or leave PocketSphinx in.")
    return benchmark(models, limit=args.limit, include_pocketsphinx=not args.no_pocketsphinx, device=args.device)
