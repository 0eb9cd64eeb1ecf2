"""How fast a clip becomes a transcript (`python -m core bench asr`): real-time factors warm and in a fresh process, and
the compiled CTC prefix loop against the torch loop it replaced, kept here as the reference it is measured and
tested against."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from core import paths
from core.ctc import JointCTCStepDecoder
from core.decoding import DecodingOptions, search
from core.speech import vocabulary
from core.speech.corpus.ljspeech import SHARED_LJSPEECH
from core.speech.features import FEATURES, load_audio, log_mel
from core.speech.inference import MAX_DECODE_STEPS, card_decoding, load_model, transcribe_audio, warm_up

BENCH_CLIP = SHARED_LJSPEECH / "wavs" / "LJ001-0001.wav"  # 9.66 s of real speech

# A fresh interpreter: imports, loads one model, transcribes the clip once (greedy, the card's decoding), twice.
COLD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import torch
torch.set_num_threads(1)
from core.speech.inference import card_decoding, load_model, transcribe_audio
imported = time.perf_counter()
model, card = load_model(sys.argv[1])
loaded = time.perf_counter()
first = transcribe_audio(model, sys.argv[2], card_decoding(card))
done = time.perf_counter()
second = transcribe_audio(model, sys.argv[2], card_decoding(card))
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported, "first_s": done - loaded,
                  "second_s": time.perf_counter() - done, "process_to_transcript_s": done - started,
                  "same_text": first["text"] == second["text"]}))
"""


class TorchLoopCTCStepDecoder(JointCTCStepDecoder):
    """The prefix recursion as the torch loop it was before numba (one vectorised step per frame), for the benchmark
    and the tests; `seconds` adds up the time spent in the recursion, `steps` the calls."""

    seconds, steps = 0.0, 0

    def _recursion(self, emissions, ending_label, ending_blank, last):
        started = time.perf_counter()
        rows, steps, vocab = emissions.shape
        either = torch.logaddexp(ending_label, ending_blank)[:, :, None].expand(-1, -1, vocab).clone()
        repeating = (last >= 0).nonzero()[:, 0]
        either[repeating, :, last[repeating]] = ending_blank[repeating]  # a repeat needs a blank between
        label = torch.full((rows, steps, vocab), float("-inf"), device=emissions.device)
        blank = torch.full_like(label, float("-inf"))
        label[:, 0] = torch.where((last < 0)[:, None], emissions[:, 0], torch.full_like(emissions[:, 0], float("-inf")))
        prefix_scores = label[:, 0].clone()
        for frame in range(1, steps):
            entering = either[:, frame - 1] + emissions[:, frame]
            label[:, frame] = torch.logaddexp(label[:, frame - 1] + emissions[:, frame], entering)
            blank[:, frame] = torch.logaddexp(blank[:, frame - 1], label[:, frame - 1]) + emissions[:, frame, self.blank_id, None]
            prefix_scores = torch.logaddexp(prefix_scores, entering)
        self.seconds, self.steps = self.seconds + time.perf_counter() - started, self.steps + 1
        return label, blank, prefix_scores


class TimedCTCStepDecoder(JointCTCStepDecoder):
    """The compiled recursion, timed the same way."""

    seconds, steps = 0.0, 0

    def _recursion(self, *arguments):
        started = time.perf_counter()
        result = super()._recursion(*arguments)
        self.seconds, self.steps = self.seconds + time.perf_counter() - started, self.steps + 1
        return result


def scorer_speedup(model, audio, ctc_weight: float, beam: int) -> dict:
    """Seconds per step of the prefix recursion, compiled and as the torch loop, over the same search (the whole clip
    as one chunk); the transcripts must agree."""
    features = log_mel(audio)[None]  # (1, frames, n_mels)
    lengths = torch.tensor([features.shape[1]])
    result = {}
    with torch.no_grad():
        joint = model.step_decoder(features, lengths, ctc_weight=ctc_weight)
        frames = model.encoder.output_lengths(lengths)
        for label, decoder_class in [("compiled", TimedCTCStepDecoder), ("torch_loop", TorchLoopCTCStepDecoder)]:
            decoder = decoder_class(joint.decoder, joint.emissions, frames, ctc_weight, blank=vocabulary.PAD,
                                    sos=vocabulary.START, eos=vocabulary.STOP)
            hypothesis = search(decoder, 1, vocabulary.START, vocabulary.STOP, MAX_DECODE_STEPS, beam_width=beam)[0]
            result[label] = {"ms_per_step": round(1000 * decoder.seconds / decoder.steps, 3), "steps": decoder.steps,
                             "text": vocabulary.decode(hypothesis.tokens)}
    result["speedup"] = round(result["torch_loop"]["ms_per_step"] / result["compiled"]["ms_per_step"], 1)
    result["same_text"] = result["compiled"].pop("text") == result["torch_loop"].pop("text")
    return result


def warm_timing(model, clip: Path, options: DecodingOptions, duration: float, repeats: int) -> dict:
    """Best of `repeats` transcriptions of the clip as a user's upload (audio read, chunks, features, search)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        text = transcribe_audio(model, clip, options)["text"]
        best_wall = min(best_wall, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu_started)
    return {"seconds": round(best_wall, 4), "real_time_factor": round(best_wall / duration, 4),
            "cpu_real_time_factor": round(best_cpu / duration, 4), "text": text}


def cold_timing(name: str, clip: Path) -> dict:
    """The first transcription in a fresh process (greedy, the card's decoding), after its imports and model load."""
    completed = subprocess.run([sys.executable, "-c", COLD_SCRIPT, name, str(clip)], capture_output=True, text=True,
                               cwd=paths.REPO_ROOT, check=True)
    return {key: round(value, 3) if isinstance(value, float) else value
            for key, value in json.loads(completed.stdout.splitlines()[-1]).items()}


def decoding_speed(model_names: list[str], clip: Path | None = None, beam: int = 4, repeats: int = 3) -> dict:
    """Per model: real-time factors (one thread) of greedy and beam search, attention only and joint CTC-attention
    where the card decodes jointly, warm and cold; the key/value-cache and compiled CTC loop speed-ups."""
    clip = clip or BENCH_CLIP
    warm_up_seconds = warm_up()
    duration = len(load_audio(clip)) / FEATURES.sample_rate
    results = {"clip": clip.name, "duration_s": round(duration, 3), "threads": torch.get_num_threads(),
               "warm_up_s": round(warm_up_seconds, 3), "models": {}}
    for name in model_names:
        model, card = load_model(name)
        joint_weight = card_decoding(card).ctc_weight
        timings = {}
        for width, label in [(1, "greedy"), (beam, f"beam{beam}")]:
            options = card_decoding(card, width)
            timings[f"{label}_attention"] = warm_timing(model, clip, DecodingOptions(
                beam_width=width, max_chunk_seconds=options.max_chunk_seconds), duration, repeats)
            if joint_weight:
                timings[f"{label}_joint"] = warm_timing(model, clip, options, duration, repeats)
        timings["cache_speedup"] = cache_speedup(model, load_audio(clip))
        cold = cold_timing(name, clip)
        warm = timings["greedy_joint" if joint_weight else "greedy_attention"]["seconds"]
        timings["cold"] = cold | {"first_minus_warm_s": round(cold["first_s"] - warm, 3)}
        if joint_weight:
            timings["ctc_scorer"] = scorer_speedup(model, load_audio(clip), joint_weight, beam)
        results["models"][name] = timings
    return results


def cache_speedup(model, audio) -> float:
    """Greedy attention-only search over the whole clip without the key/value cache, over the time with it."""
    features = log_mel(audio)[None]
    lengths = torch.tensor([features.shape[1]])
    seconds = {}
    for use_cache in (True, False):
        started = time.perf_counter()
        with torch.no_grad():
            decoder = model.step_decoder(features, lengths, use_cache)
            search(decoder, 1, vocabulary.START, vocabulary.STOP, MAX_DECODE_STEPS)
        seconds[use_cache] = time.perf_counter() - started
    return round(seconds[False] / seconds[True], 2)
