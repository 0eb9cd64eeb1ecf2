"""How a clip becomes a transcript: load a checked recognizer, cut long audio at its pauses, search each chunk, and
(for the Speech lab) read every attention map of what was written."""
from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch

from core import checkpoints
from core.attention import padding_mask
from core.decoding import DecodingOptions, Hypothesis, search
from core.speech import vocabulary
from core.speech.corpus.synth import CORPUS_SAMPLE_RATE
from core.speech.features import (FEATURES, check_duration, load_audio, log_mel, no_speech_message, pad_features,
                                  silence_chunk_spans)
from core.speech.model import SpeechRecognizer

DEFAULT_MODEL = "asr/lj-transformer"  # the recognizer a transcription uses unless told otherwise
MAX_DECODE_STEPS = vocabulary.MAX_CHARACTERS + 1  # 97 characters and `>`
LAB_MAX_SECONDS = 30.0  # the Speech lab refuses longer audio: every model decodes each chunk, greedy and beam


def load_model(name: str, device: str = "cpu", root: Path | None = None) -> tuple[SpeechRecognizer, dict]:
    """A recognizer checkpoint, hash-checked, in eval mode, with its card."""
    return checkpoints.load_model(name, SpeechRecognizer, root, device)


def card_decoding(card: dict, beam_width: int = 1) -> DecodingOptions:
    """The decoding a card's scores were measured with (CTC weight, chunk length), at the beam width asked for."""
    chosen = card.get("decoding") or {}
    defaults = DecodingOptions()
    return DecodingOptions(beam_width=beam_width, ctc_weight=chosen.get("ctc_weight", defaults.ctc_weight),
                           max_chunk_seconds=chosen.get("max_chunk_seconds", defaults.max_chunk_seconds))


@torch.no_grad()
def transcribe_batch(model: SpeechRecognizer, features: torch.Tensor, lengths: torch.Tensor,
                     options: DecodingOptions = DecodingOptions()) -> list[Hypothesis]:
    """Decode a padded batch (batch, frames, n_mels); hypotheses hold tokens without `<`/`>` and their attention."""
    device = next(model.parameters()).device
    decoder = model.step_decoder(features.to(device), lengths.to(device), ctc_weight=options.ctc_weight)
    return search(decoder, len(lengths), vocabulary.START, vocabulary.STOP, MAX_DECODE_STEPS,
                  beam_width=options.beam_width, length_penalty=options.length_penalty)


def search_chunks(model: SpeechRecognizer, audio: np.ndarray, spans: list[tuple[int, int]],
                  options: DecodingOptions) -> tuple[list[torch.Tensor], list[Hypothesis]]:
    """Each chunk's log-mel features (frames, n_mels) and its hypothesis, all chunks searched as one batch."""
    features = [log_mel(audio[start:end]) for start, end in spans]
    return features, transcribe_batch(model, *pad_features(features), options)


def transcribe_audio(model: SpeechRecognizer, audio_source, options: DecodingOptions = DecodingOptions()) -> dict:
    """Transcribe one recording of any length the loader accepts.

    The decoders write at most 97 characters, so longer audio is cut at its pauses into chunks of at most
    `options.max_chunk_seconds`, transcribed as one batch, and joined. Audio that holds no speech is transcribed
    all the same, with `no_speech` set and a `warning` saying why.
    """
    started = time.perf_counter()
    audio = load_audio(audio_source)
    no_speech = no_speech_message(audio)
    duration = len(audio) / FEATURES.sample_rate
    spans = silence_chunk_spans(audio, options.max_chunk_seconds)
    _, hypotheses = search_chunks(model, audio, spans, options)
    result = {
        "text": " ".join(vocabulary.decode(h.tokens) for h in hypotheses).strip(),
        "duration_s": round(duration, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "chunks": len(spans),
        "no_speech": no_speech is not None,
    }
    if no_speech:
        result["warning"] = no_speech
    if len(spans) > 1:
        result["note"] = (f"The audio is longer than {options.max_chunk_seconds:g} s, so it was split at pauses into "
                          f"{len(spans)} chunks.")
    return result


@dataclass
class ChunkAttention:
    """What one decoder attended to while writing one chunk; times are seconds from the start of the recording."""

    start_s: float
    end_s: float
    text: str
    output_labels: list[str]  # the characters written, then `>` when the decoder stopped by itself
    input_labels: list[str]  # what the decoder read at each step: `<`, then the characters written
    cross_attention: np.ndarray  # (layers, heads, outputs, encoder frames)
    self_attention: np.ndarray | None  # (layers, heads, outputs, outputs); None for the LSTM decoder
    frame_seconds: float  # time between encoder frames: 100 feature frames per second over the encoder's subsampling
    ctc_posteriors: np.ndarray | None = None  # (encoder frames, tokens): the CTC head's probabilities; None without one


@dataclass
class InspectedTranscription:
    text: str
    seconds: float  # features + encoder + search over all chunks: the time the transcript took, not the inspection
    beam: int
    chunks: list[ChunkAttention]
    no_speech: str | None = None  # why the audio seems to hold no speech, shown beside the transcript; None if it may


@torch.no_grad()
def transcribe_with_attention(model: SpeechRecognizer, audio: np.ndarray,
                              options: DecodingOptions = DecodingOptions()) -> InspectedTranscription:
    """Transcribe 16 kHz audio as `transcribe_audio` does, then collect every attention map of each chunk.

    The search keeps only the last block's head-averaged cross-attention, so each hypothesis is read once more
    with teacher forcing: the same computation, now returning every layer and head (and the transformer's
    masked self-attention).
    """
    check_duration(audio)
    spans = silence_chunk_spans(audio, options.max_chunk_seconds)  # not part of the model's time
    started = time.perf_counter()
    features, hypotheses = search_chunks(model, audio, spans, options)
    seconds = time.perf_counter() - started
    rate = FEATURES.sample_rate
    chunks = [
        _chunk_attention(model, chunk_features, hypothesis, start / rate, end / rate)
        for chunk_features, hypothesis, (start, end) in zip(features, hypotheses, spans)
    ]
    return InspectedTranscription(" ".join(chunk.text for chunk in chunks).strip(), seconds, options.beam_width, chunks,
                                  no_speech_message(audio))


@functools.cache  # once per process, however many front ends and models ask
def warm_up() -> float:
    """Load what a first transcription would otherwise wait for: audio decoding, the resampler, the mel filterbank,
    torch's STFT and the no-speech check (the CTC prefix loop was compiled, or read from numba's cache, when core.ctc
    was imported). Front ends call it once per process; returns the seconds it took."""
    started, rate = time.perf_counter(), CORPUS_SAMPLE_RATE  # not 16 kHz, so the resampler runs too
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate)).astype(np.float32)
    wav = io.BytesIO()
    soundfile.write(wav, tone, rate, format="WAV")
    audio = load_audio(wav.getvalue())
    log_mel(audio)
    no_speech_message(audio)
    return time.perf_counter() - started


def _chunk_attention(model: SpeechRecognizer, features: torch.Tensor, hypothesis: Hypothesis, start_s: float,
                     end_s: float) -> ChunkAttention:
    """Teacher-forced pass over one hypothesis: inputs `<` c1 … predict outputs c1 … `>`."""
    device = next(model.parameters()).device
    outputs = hypothesis.tokens + ([vocabulary.STOP] if hypothesis.finished else [])
    inputs = ([vocabulary.START] + outputs)[:-1] or [vocabulary.START]
    memory, memory_lengths, _ = model.encoder(features[None].to(device), torch.tensor([features.shape[0]], device=device))
    _, cross_weights, self_weights = model.decoder(
        torch.tensor([inputs], device=device), memory, padding_mask(memory_lengths, memory.shape[1])
    )
    cross = torch.stack([weights[0] for weights in cross_weights]).float().cpu().numpy()  # (layers, heads, outputs, frames')
    self_attention = torch.stack([weights[0] for weights in self_weights]).float().cpu().numpy() if self_weights else None
    hop_seconds = FEATURES.hop_length / FEATURES.sample_rate
    ctc = model.ctc_log_probs(memory)[0].exp().cpu().numpy() if model.ctc is not None else None
    return ChunkAttention(
        start_s=start_s,
        end_s=end_s,
        text=vocabulary.decode(hypothesis.tokens),
        output_labels=[vocabulary.TOKENS[token] for token in outputs],
        input_labels=[vocabulary.TOKENS[token] for token in inputs],
        cross_attention=cross,
        self_attention=self_attention,
        frame_seconds=model.encoder.subsampling * hop_seconds,
        ctc_posteriors=ctc,
    )
