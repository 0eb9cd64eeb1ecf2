"""On-the-fly augmentation, so recognizers trained on clean synthetic voices meet something closer to real recordings.

Two entry points, both driven by one `AugmentConfig` and a numpy Generator:
- `augment_waveform(audio, rng, config)`: 16 kHz float32 audio in, same out. In this order, as a recording would
  happen: speed perturbation (resampling), room reverberation (a synthetic exponentially decaying impulse response),
  additive noise at a random SNR (white, pink, or babble made of other clips), band-limiting (a random low-pass,
  telephone to wide-band microphone), random gain.
- `spec_augment(features, rng, config)`: on the (frames, 80) log-mel features of `core.speech.features.log_mel`:
  vocal-tract-length perturbation (VTLP) and SpecAugment's frequency and time masks (Park et al. 2019).

VTLP works on the mel axis of the features rather than as a waveform pitch shift: a phase-vocoder pitch shift costs
tens of milliseconds per clip (as much as a training step) and moves F0, while what differs between speakers'
spectra is mostly the formant scale, which VTLP warps directly, for microseconds, on features `log_mel` already made.
Draws come from `clip_rng(seed, epoch, clip_id)`, so a resumed run sees the same augmentations it would have.
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import librosa
import numpy as np
import soxr
import torch
from scipy import fft
from scipy.signal import butter, fftconvolve, sosfilt

from core.speech.features import FEATURES

NOISE_KINDS = ("white", "pink", "babble")


@dataclass(frozen=True)
class AugmentConfig:
    """Each augmentation fires with its probability; its strength is drawn uniformly from its range."""

    sample_rate: int = FEATURES.sample_rate
    speed_prob: float = 0.0
    speed_range: tuple[float, float] = (0.9, 1.1)  # > 1 is faster (shorter); Ko et al. 2015 used 0.9 / 1.0 / 1.1
    reverb_prob: float = 0.0
    rt60_range: tuple[float, float] = (0.15, 0.7)  # seconds for the reverberation to fall by 60 dB: small room to hall
    noise_prob: float = 0.0
    snr_db_range: tuple[float, float] = (5.0, 30.0)
    noise_kinds: tuple[str, ...] = NOISE_KINDS  # babble only when the caller passes other clips
    babble_talkers: tuple[int, int] = (3, 6)
    bandlimit_prob: float = 0.0
    cutoff_hz_range: tuple[float, float] = (3_400.0, 7_000.0)  # telephone … 16 kHz microphone low-pass
    gain_prob: float = 0.0
    gain_db_range: tuple[float, float] = (-12.0, 6.0)
    # feature level
    vtlp_prob: float = 0.0
    vtlp_alpha_range: tuple[float, float] = (0.9, 1.1)  # Jaitly & Hinton 2013
    vtlp_boundary_hz: float = 4_800.0
    freq_masks: int = 0
    freq_mask_width: int = 27  # F in Park et al. (their LibriSpeech policies, also on 80 mel bins)
    time_masks: int = 0
    time_mask_width: int = 40  # T: 0.4 s; LJ clips are short (mean 6.6 s), so smaller than Park's 100
    time_mask_max_fraction: float = 0.2  # p: no mask longer than this share of the clip

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all: both entry points return their input unchanged."""
        return cls()

    @classmethod
    def default(cls) -> AugmentConfig:
        """A starting recipe: about half the clips get each waveform effect; SpecAugment as Park et al.'s LD policy."""
        return cls(speed_prob=0.6, reverb_prob=0.3, noise_prob=0.5, bandlimit_prob=0.2, gain_prob=0.5,
                   vtlp_prob=0.5, freq_masks=2, time_masks=2)


    @property
    def touches_waveform(self) -> bool:
        """Whether any waveform effect can fire (then training must read the audio, not cached features)."""
        return any(p > 0 for p in (self.speed_prob, self.reverb_prob, self.noise_prob, self.bandlimit_prob, self.gain_prob))

    @classmethod
    def specaugment(cls) -> AugmentConfig:
        """Feature-level only (VTLP and masks): works on cached features, so it costs the training almost nothing."""
        return cls(vtlp_prob=0.5, freq_masks=2, time_masks=2)


AUGMENT_PRESETS = {"none": AugmentConfig.none, "specaugment": AugmentConfig.specaugment, "default": AugmentConfig.default}


def clip_rng(seed: int, epoch: int, clip_id: str) -> np.random.Generator:
    """The generator for one clip in one epoch: independent of batch order, worker count and resumption."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ---------------------------------------------------------------- waveform

def change_speed(audio: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play `factor` times faster by resampling: length / factor, and pitch and formants scaled by `factor`."""
    return soxr.resample(audio, sample_rate * factor, sample_rate).astype(np.float32)


def room_impulse_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A direct path followed by exponentially decaying noise (60 dB down after `rt60` s): a diffuse room's tail."""
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: amplitude −60 dB at rt60
    tail[0] = 0.0
    delay = int(0.002 * sample_rate)  # early reflections start ~2 ms after the direct sound
    tail[:delay] = 0.0
    response = 0.3 * tail / (np.sqrt(np.sum(tail**2)) + 1e-12)  # direct-to-reverberant ratio ~10 dB
    response[0] = 1.0
    return response.astype(np.float32)


def reverberate(audio: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response; same length as the input (the last tail is cut), same RMS."""
    wet = fftconvolve(audio, room_impulse_response(rt60, sample_rate, rng))[: audio.size]
    return (wet * (_rms(audio) / (_rms(wet) + 1e-12))).astype(np.float32)


def pink_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with power falling as 1/f (3 dB per octave), like many rooms' and machines' hum."""
    length = fft.next_fast_len(size, real=True)  # a clip's odd length after speed changes can make the FFT 30x slower
    spectrum = fft.rfft(rng.standard_normal(length, dtype=np.float32))
    frequencies = np.arange(spectrum.size)
    spectrum[1:] /= np.sqrt(frequencies[1:])
    spectrum[0] = 0.0
    return fft.irfft(spectrum, n=length)[:size]


def babble_noise(size: int, others: Sequence[np.ndarray], talkers: int, rng: np.random.Generator) -> np.ndarray:
    """Several other clips, each at a random offset and looped to length, summed: a crowd talking in the background."""
    babble = np.zeros(size)
    for index in rng.choice(len(others), size=talkers, replace=len(others) < talkers):
        other = np.asarray(others[index], dtype=np.float64)
        looped = np.resize(np.roll(other, -int(rng.integers(other.size))), size)
        babble += looped / (_rms(looped) + 1e-12)
    return babble


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix `noise` in so that mean signal power / mean noise power is `snr_db` (powers over the whole clip)."""
    scale = _rms(audio) / (_rms(noise) + 1e-12) / 10 ** (snr_db / 20)
    return (audio + scale * noise).astype(np.float32)


def low_pass(audio: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """8th-order Butterworth low-pass, as a channel would (causal: its <1 ms delay does not matter to features)."""
    sections = butter(8, cutoff_hz, btype="lowpass", fs=sample_rate, output="sos")
    return sosfilt(sections, audio).astype(np.float32)


def augment_waveform(audio: np.ndarray, rng: np.random.Generator, config: AugmentConfig,
                     others: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Augment one 16 kHz float32 clip; `others` (a few other clips) make babble noise possible."""
    rate = config.sample_rate
    audio = np.asarray(audio, dtype=np.float32)
    if rng.random() < config.speed_prob:
        audio = change_speed(audio, rng.uniform(*config.speed_range), rate)
    if rng.random() < config.reverb_prob:
        audio = reverberate(audio, rng.uniform(*config.rt60_range), rate, rng)
    if rng.random() < config.noise_prob:
        kinds = [kind for kind in config.noise_kinds if kind != "babble" or len(others) > 0]
        kind = kinds[rng.integers(len(kinds))]
        if kind == "white":
            noise = rng.standard_normal(audio.size, dtype=np.float32)
        elif kind == "pink":
            noise = pink_noise(audio.size, rng)
        else:
            noise = babble_noise(audio.size, others, int(rng.integers(config.babble_talkers[0], config.babble_talkers[1] + 1)), rng)
        audio = add_noise(audio, noise, rng.uniform(*config.snr_db_range))
    if rng.random() < config.bandlimit_prob:
        audio = low_pass(audio, rng.uniform(*config.cutoff_hz_range), rate)
    if rng.random() < config.gain_prob:
        audio = (audio * 10 ** (rng.uniform(*config.gain_db_range) / 20)).astype(np.float32)
    return audio


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


# ---------------------------------------------------------------- features

@functools.cache
def _mel_centres_hz(n_mels: int) -> np.ndarray:
    """Centre frequencies of the Slaney mel bins `log_mel` uses (0–8 kHz)."""
    return librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=FEATURES.sample_rate / 2)[1:-1]


def vtlp_warp(frequencies: np.ndarray, alpha: float, boundary_hz: float, nyquist: float) -> np.ndarray:
    """Jaitly & Hinton's piecewise-linear warp: f·alpha up to a boundary, then a line that keeps Nyquist in place."""
    knee = boundary_hz * min(alpha, 1.0) / alpha
    above = nyquist - (nyquist - boundary_hz * min(alpha, 1.0)) / (nyquist - knee) * (nyquist - frequencies)
    return np.where(frequencies <= knee, frequencies * alpha, above)


def vtlp(features: torch.Tensor, alpha: float, boundary_hz: float) -> torch.Tensor:
    """Warp the mel axis of (frames, n_mels) features as a vocal tract `alpha` times shorter would (alpha > 1: higher formants)."""
    n_mels = features.shape[1]
    centres = _mel_centres_hz(n_mels)
    nyquist = FEATURES.sample_rate / 2
    grid = np.linspace(0.0, nyquist, 1024)
    source_hz = np.interp(centres, vtlp_warp(grid, alpha, boundary_hz, nyquist), grid)  # inverse warp
    position = np.interp(source_hz, centres, np.arange(n_mels))  # fractional input bin for each output bin
    low = np.floor(position).astype(int).clip(0, n_mels - 2)
    weight = torch.from_numpy((position - low).astype(np.float32))
    low = torch.from_numpy(low)
    return features[:, low] * (1 - weight) + features[:, low + 1] * weight


def spec_augment(features: torch.Tensor, rng: np.random.Generator, config: AugmentConfig) -> torch.Tensor:
    """VTLP, then SpecAugment masks on (frames, n_mels) log-mel features; masked cells get the clip's mean.

    Park et al. zero the masks on mean-normalized features: the clip mean is that zero here. Time warping, the
    policy's third part and the one they found least useful, is left out.
    """
    if rng.random() < config.vtlp_prob:
        features = vtlp(features, rng.uniform(*config.vtlp_alpha_range), config.vtlp_boundary_hz)
    if config.freq_masks == 0 and config.time_masks == 0:
        return features
    features = features.clone()
    frames, bins = features.shape
    fill = features.mean()
    for _ in range(config.freq_masks):
        width = int(rng.integers(0, min(config.freq_mask_width, bins) + 1))
        start = int(rng.integers(0, bins - width + 1))
        features[:, start : start + width] = fill
    longest = min(config.time_mask_width, int(config.time_mask_max_fraction * frames))
    for _ in range(config.time_masks):
        width = int(rng.integers(0, longest + 1))
        start = int(rng.integers(0, frames - width + 1))
        features[start : start + width, :] = fill
    return features
