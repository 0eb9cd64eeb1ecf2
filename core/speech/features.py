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
    return audio.astype(np.float32, copy=False)


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
    """(start, end) sample spans of at most `max_seconds`, cut in the quietest places (librosa's non-silent
    intervals, merged greedily); spans rather than arrays, so the Speech lab can place each chunk in time."""
    limit = int(max_seconds * sample_rate)
    if len(audio) <= limit:
        return [(0, len(audio))]
    intervals = librosa.effects.split(audio, top_db=35, frame_length=1024, hop_length=256)
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
