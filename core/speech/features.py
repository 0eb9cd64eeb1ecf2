"""Audio in, log-mel features out: robust loading of whatever a user uploads, the homework's features, and
long recordings cut at their pauses into chunks a decoder can write out.

Features follow the ASR homework: power spectrogram (n_fft 400, hop 160, Hann, centred with reflect padding),
80 Slaney mel bins, log10 floored at (max − 8), then (x + 4) / 4. They are computed with `torch.stft` and a
`librosa.filters.mel` filterbank (torchaudio does not import beside the CPU torch here). The homework kept
LJ Speech at 22,050 Hz but built its filterbank for torchaudio's default 16 kHz; we resample every clip to
16 kHz, where that filterbank is correct (0–8 kHz) and a second of audio is exactly 100 frames.
"""
from __future__ import annotations

import functools
import hashlib
import io
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile
import soxr
import torch

from core import paths
from core.errors import BadInputError


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16_000
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 80
    dynamic_range: float = 8.0  # log10 units kept below the clip's maximum

    def key(self) -> str:
        """Short id of this config, so feature caches of different configs never mix."""
        return hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:10]


FEATURES = FeatureConfig()
MAX_UPLOAD_SECONDS = 300.0  # refuse longer uploads outright; shorter long clips are split on silence
SILENCE_PEAK = 1e-3  # a clip whose loudest sample is below this (−60 dBFS) holds no speech to recognise
# Shorter clips are refused: the widest encoder front end reads 7 feature frames (85 ms of audio) for each frame it
# outputs, and the spectrogram's reflect padding needs more than n_fft / 2 samples.
MIN_SECONDS = 0.1
# No-speech rule (`no_speech_message`), measured on 228 real clips (100 LJ, 80 real validation, 48 other voices):
# frame levels spread over >= 20.9 dB there (95th - 10th percentile), median spectral flatness <= 0.167; steady noise,
# hum, tones and room tone spread over <= 10 dB, white or gated noise has flatness >= 0.5. LJ clips under white
# noise at 10 dB SNR still pass (spread >= 14.7 dB, flatness <= 0.27).
NO_SPEECH_SPREAD_DB = 12.0
NO_SPEECH_FLATNESS = 0.35


def load_audio(source: str | Path | bytes, sample_rate: int = FEATURES.sample_rate, max_seconds: float = MAX_UPLOAD_SECONDS) -> np.ndarray:
    """Decode a file path or raw bytes (wav, flac, ogg, mp3, …), fold to mono, resample: float32 (samples,).

    Raises BadInputError for empty, undecodable, silent or too long input, with the reason in words.
    """
    name = "the upload" if isinstance(source, (bytes, bytearray)) else Path(source).name
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise BadInputError("The audio file is empty (0 bytes).")
        handle = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.exists():
            raise BadInputError(f"No audio file at {path}.")
        if path.stat().st_size == 0:
            raise BadInputError(f"{name} is empty (0 bytes).")
        handle = path
    audio, rate = _decode(handle, name)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)  # stereo (or more) folded to mono
    if audio.size == 0:
        raise BadInputError(f"{name} decodes to no samples at all.")
    duration = audio.size / rate
    if duration > max_seconds:
        raise BadInputError(f"{name} lasts {duration:.0f} s; the limit is {max_seconds:.0f} s. Trim it and try again.")
    if not np.isfinite(audio).all():
        raise BadInputError(f"{name} contains invalid (NaN or infinite) samples.")
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise BadInputError(f"{name} is silent (its loudest sample is below −60 dBFS): there is no speech to transcribe.")
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate)
    audio = audio.astype(np.float32, copy=False)
    check_duration(audio, name, sample_rate)
    return audio


def check_duration(audio: np.ndarray, name: str = "the recording", sample_rate: int = FEATURES.sample_rate) -> None:
    """BadInputError for a clip too short for any recognizer to read (MIN_SECONDS)."""
    if len(audio) < MIN_SECONDS * sample_rate:
        raise BadInputError(f"{name} lasts only {1000 * len(audio) / sample_rate:.0f} ms; a recognizer needs at least "
                            f"{1000 * MIN_SECONDS:.0f} ms of audio. Record or upload a longer clip.")


def _decode(handle, name: str) -> tuple[np.ndarray, int]:
    """soundfile (libsndfile: wav, flac, ogg/opus, mp3), then librosa/audioread (ffmpeg: webm, m4a) as a fallback."""
    try:
        audio, rate = soundfile.read(handle, dtype="float32", always_2d=False)
        return audio, rate
    except Exception as soundfile_error:  # libsndfile raises several types for unknown or damaged data
        first_error = soundfile_error
    try:
        if isinstance(handle, io.BytesIO):
            handle.seek(0)
        audio, rate = librosa.load(handle, sr=None, mono=False)
        return (audio.T if audio.ndim == 2 else audio), int(rate)
    except Exception:
        reason = str(first_error).splitlines()[0].rsplit(": ", 1)[-1][:120].rstrip(".")  # drop libsndfile's "Error opening <object>:"
        raise BadInputError(
            f"{name} could not be read as audio ({reason}). "
            "Use a common format such as wav, flac, ogg or mp3."
        ) from None


@functools.lru_cache(maxsize=4)
def mel_filterbank(config: FeatureConfig = FEATURES) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) Slaney filterbank, computed once per config and cached on disk (building it takes librosa a moment)."""
    cache_file = paths.CACHE / "features" / f"mel-filterbank-{config.key()}.npy"
    if cache_file.exists():
        return torch.from_numpy(np.load(cache_file))
    filters = librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, norm="slaney", htk=False
    ).astype(np.float32)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_name(cache_file.name + f".{random.getrandbits(32)}.tmp.npy")
    np.save(partial, filters)
    partial.replace(cache_file)
    return torch.from_numpy(filters)


def mel_power(audio: np.ndarray | torch.Tensor, config: FeatureConfig = FEATURES) -> torch.Tensor:
    """Mel power spectrogram (n_mels, frames), the quantity librosa.feature.melspectrogram returns."""
    waveform = torch.as_tensor(audio, dtype=torch.float32)
    spectrum = torch.stft(
        waveform,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        window=torch.hann_window(config.n_fft),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs() ** 2  # (n_fft // 2 + 1, frames)
    return mel_filterbank(config) @ spectrum


def log_mel(audio: np.ndarray | torch.Tensor, config: FeatureConfig = FEATURES) -> torch.Tensor:
    """The homework's features: (frames, n_mels) float32, roughly in [-1, 1.5]."""
    log_spec = torch.clamp(mel_power(audio, config), min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - config.dynamic_range)
    return ((log_spec + 4.0) / 4.0).T.contiguous()


class FeatureCache:
    """Log-mel features of corpus clips, computed once and kept as float16 .npy files under the cache folder."""

    def __init__(self, corpus_root: Path, config: FeatureConfig = FEATURES, cache_root: Path | None = None):
        corpus_key = hashlib.sha256(str(Path(corpus_root).resolve()).encode()).hexdigest()[:10]
        self.folder = Path(cache_root or paths.CACHE / "features") / f"{corpus_key}-{config.key()}"
        self.config = config

    def path_of(self, clip_id: str) -> Path:
        return self.folder / f"{clip_id}.npy"

    def get(self, clip_id: str, audio_path: Path) -> torch.Tensor:
        """(frames, n_mels) float32; computed from `audio_path` and stored on first use."""
        cached = self.path_of(clip_id)
        if cached.exists():
            try:
                return torch.from_numpy(np.load(cached).astype(np.float32))
            except (ValueError, OSError):
                cached.unlink(missing_ok=True)  # a write cut short: compute again
        features = log_mel(load_audio(audio_path, self.config.sample_rate), self.config)
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{clip_id}.{random.getrandbits(32)}.tmp.npy")
        np.save(partial, features.numpy().astype(np.float16))
        partial.replace(cached)
        return features


def pad_features(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (frames_i, n_mels) -> (batch, max_frames, n_mels) zero-padded, and the lengths (batch,)."""
    lengths = torch.tensor([item.shape[0] for item in features])
    batch = torch.zeros(len(features), int(lengths.max()), features[0].shape[1])
    for row, item in enumerate(features):
        batch[row, : item.shape[0]] = item
    return batch, lengths


def silence_chunk_spans(audio: np.ndarray, max_seconds: float, sample_rate: int = FEATURES.sample_rate) -> list[tuple[int, int]]:
    """(start, end) sample spans of at most `max_seconds`, cut in the quietest places (non-silent intervals, merged
    greedily); spans rather than arrays, so the Speech lab can place each chunk in time."""
    limit = int(max_seconds * sample_rate)
    if len(audio) <= limit:
        return [(0, len(audio))]
    intervals = loud_intervals(audio, top_db=35, frame_length=1024, hop_length=256)
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


def centred_frames(audio: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """(frames, frame_length) views of `audio`, one every `hop_length` samples, centred as librosa and torch.stft
    centre them (zero padding of frame_length // 2 on both sides)."""
    return np.lib.stride_tricks.sliding_window_view(np.pad(audio, frame_length // 2), frame_length)[::hop_length]


def loud_intervals(audio: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> np.ndarray:
    """(intervals, 2) sample spans whose frame RMS is within `top_db` of the loudest frame: librosa.effects.split's
    result, number for number, without importing librosa.effects (scipy.signal: seconds on a first request).
    Frames are centred (`centred_frames`)."""
    frames = centred_frames(audio, frame_length, hop_length)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=-1))
    power, reference = np.square(rms), np.max(rms) ** 2
    decibels = 10.0 * np.log10(np.maximum(1e-10, power)) - 10.0 * np.log10(np.maximum(1e-10, reference))
    loud = decibels > -top_db
    edges = [np.flatnonzero(np.diff(loud.astype(int))) + 1]
    if loud[0]:
        edges.insert(0, np.array([0]))
    if loud[-1]:
        edges.append(np.array([len(loud)]))
    return np.minimum(np.concatenate(edges) * hop_length, audio.shape[-1]).reshape(-1, 2)


def no_speech_message(audio: np.ndarray, config: FeatureConfig = FEATURES) -> str | None:
    """Why 16 kHz `audio` holds no speech, in words for the page, or None when it may. Speech rises and falls by
    syllable and pause, and its spectrum has peaks; steady noise, hum and silence hardly change level, and hiss
    is spectrally flat. Thresholds and what they were measured on: NO_SPEECH_SPREAD_DB, NO_SPEECH_FLATNESS."""
    frames = centred_frames(audio, config.n_fft, config.hop_length)
    levels = 10.0 * np.log10(np.maximum(1e-10, np.mean(np.square(frames, dtype=np.float64), axis=-1)))  # dB per frame
    spread = float(np.percentile(levels, 95) - np.percentile(levels, 10))
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(config.n_fft), axis=-1)) ** 2 + 1e-12  # (frames, bins)
    flatness = float(np.median(np.exp(np.mean(np.log(spectrum), axis=-1)) / np.mean(spectrum, axis=-1)))
    if spread < NO_SPEECH_SPREAD_DB:
        return (f"No speech found: the loudness hardly changes (a spread of {spread:.0f} dB; speech varies by 20 dB "
                "or more), as in steady noise, hum or silence. The transcripts are what the models make of it.")
    if flatness > NO_SPEECH_FLATNESS:
        return (f"No speech found: the sound is noise-like (spectral flatness {flatness:.2f}; speech stays under "
                "0.2). The transcripts are what the models make of it.")
    return None
