"""Each augmentation does what it says, `none()` changes nothing, and the same seed gives the same output."""
import dataclasses

import numpy as np
import pytest
import torch

from core.speech.corpus.augment import (
    AugmentConfig,
    _mel_centres_hz,
    augment_waveform,
    change_speed,
    clip_rng,
    low_pass,
    pink_noise,
    reverberate,
    spec_augment,
    vtlp,
)
from core.speech.features import log_mel

RATE = 16_000


def _speechlike(seconds=2.0, seed=0):
    """Harmonics of a wandering 120–220 Hz voice, in syllable-like bursts: broadband, with loud and quiet parts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.1 * voice * envelope + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _only(**fields):
    return dataclasses.replace(AugmentConfig.none(), **fields)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_length_by_the_factor(factor):
    audio = _speechlike()
    assert abs(change_speed(audio, factor, RATE).size - audio.size / factor) <= 2
    out = augment_waveform(audio, np.random.default_rng(0), _only(speed_prob=1.0, speed_range=(factor, factor)))
    assert abs(out.size - audio.size / factor) <= 2


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_drawn_snr(kind, snr_db):
    audio = _speechlike()
    others = [_speechlike(1.3, seed=s) for s in range(1, 5)]
    config = _only(noise_prob=1.0, snr_db_range=(snr_db, snr_db), noise_kinds=(kind,))
    noisy = augment_waveform(audio, np.random.default_rng(1), config, others=others)
    measured = 10 * np.log10(_rms(audio) ** 2 / _rms(noisy - audio) ** 2)
    assert abs(measured - snr_db) < 0.1


def test_pink_noise_falls_3_db_per_octave():
    noise = pink_noise(2**16, np.random.default_rng(0))
    power = np.abs(np.fft.rfft(noise)) ** 2
    frequencies = np.fft.rfftfreq(noise.size, 1 / RATE)
    band = lambda low: power[(frequencies >= low) & (frequencies < 2 * low)].mean()  # noqa: E731
    assert 10 * np.log10(band(500) / band(1000)) == pytest.approx(3.0, abs=0.5)
    assert 10 * np.log10(band(1000) / band(2000)) == pytest.approx(3.0, abs=0.5)


def test_babble_needs_other_clips():
    """Without other clips the noise is white or pink, never an error."""
    config = _only(noise_prob=1.0, noise_kinds=("babble", "white"))
    assert augment_waveform(_speechlike(), np.random.default_rng(0), config).shape == (2 * RATE,)


@pytest.mark.parametrize("gain_db", [-12.0, 6.0])
def test_gain_scales_rms(gain_db):
    audio = _speechlike()
    out = augment_waveform(audio, np.random.default_rng(0), _only(gain_prob=1.0, gain_db_range=(gain_db, gain_db)))
    assert 20 * np.log10(_rms(out) / _rms(audio)) == pytest.approx(gain_db, abs=0.01)


@pytest.mark.parametrize("cutoff", [3_400.0, 7_000.0])
def test_band_limit_removes_energy_above_the_cutoff(cutoff):
    noise = np.random.default_rng(0).standard_normal(2 * RATE).astype(np.float32)
    out = low_pass(noise, cutoff, RATE)
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(noise)) ** 2, np.abs(np.fft.rfft(out)) ** 2
    frequencies = np.fft.rfftfreq(noise.size, 1 / RATE)
    above, below = frequencies > 1.1 * cutoff, frequencies < 0.8 * cutoff
    assert spectrum_out[above].sum() < 1e-2 * spectrum_in[above].sum()  # > 20 dB down from 1.1 × the cutoff
    assert spectrum_out[below].sum() == pytest.approx(spectrum_in[below].sum(), rel=0.05)


@pytest.mark.parametrize("rt60", [0.2, 0.6])
def test_reverb_lengthens_the_decay(rt60):
    """A burst followed by silence: after reverberation the silence holds a tail, longer for a larger rt60."""
    audio = np.zeros(RATE, dtype=np.float32)
    audio[1_000:2_600] = _speechlike(0.1)
    wet = reverberate(audio, rt60, RATE, np.random.default_rng(0))
    assert wet.size == audio.size and _rms(wet) == pytest.approx(_rms(audio), rel=1e-3)
    tail_start = 2_600 + int(0.1 * rt60 * RATE)  # a tenth of the decay time after the burst: ~6 dB down
    assert _rms(audio[tail_start:]) == 0.0
    assert _rms(wet[tail_start : tail_start + 800]) > 1e-3 * _rms(wet[1_000:2_600])
    short, long = (reverberate(audio, t, RATE, np.random.default_rng(0)) for t in (0.2, 0.6))
    late = slice(2_600 + int(0.25 * RATE), None)
    assert _rms(long[late]) > 10 * _rms(short[late])


def test_none_is_the_identity():
    audio, rng = _speechlike(), np.random.default_rng(0)
    assert np.array_equal(augment_waveform(audio, rng, AugmentConfig.none()), audio)
    features = log_mel(audio)
    assert torch.equal(spec_augment(features, rng, AugmentConfig.none()), features)


def test_same_seed_same_output_and_epochs_differ():
    audio, others = _speechlike(), [_speechlike(1.0, seed=3)]
    config = AugmentConfig.default()

    def run(epoch):
        rng = clip_rng(42, epoch, "LJ001-0001")
        waveform = augment_waveform(audio, rng, config, others=others)
        return waveform, spec_augment(log_mel(waveform), rng, config)

    (wave_a, spec_a), (wave_b, spec_b) = run(3), run(3)
    assert np.array_equal(wave_a, wave_b) and torch.equal(spec_a, spec_b)
    draws = {clip_rng(42, epoch, "LJ001-0001").random() for epoch in range(5)}
    assert len(draws) == 5 and clip_rng(42, 0, "LJ001-0001").random() != clip_rng(42, 0, "LJ001-0002").random()


def test_spec_augment_masks_stay_within_widths_and_counts():
    features = torch.randn(300, 80) + 5.0  # no cell equals the fill value by chance
    config = _only(freq_masks=2, freq_mask_width=10, time_masks=3, time_mask_width=40, time_mask_max_fraction=0.1)
    for seed in range(30):
        masked = spec_augment(features, np.random.default_rng(seed), config)
        changed = masked != features
        fill = features.mean()
        assert torch.all(masked[changed] == fill)
        masked_bins = changed.all(dim=0)  # bins masked over every frame
        masked_frames = changed.all(dim=1)
        assert masked_bins.sum() <= 2 * 10 and _runs(masked_bins) <= 2
        assert masked_frames.sum() <= 3 * 30 and _runs(masked_frames) <= 3  # width capped at 10% of 300 frames
        assert torch.equal(changed, masked_bins[None, :] | masked_frames[:, None])  # only whole rows and columns


def _runs(mask: torch.Tensor) -> int:
    """Number of contiguous True stretches."""
    values = mask.int().tolist()
    return sum(1 for i, v in enumerate(values) if v and (i == 0 or not values[i - 1]))


@pytest.mark.parametrize("alpha", [0.9, 1.1])
def test_vtlp_moves_formants_by_alpha(alpha):
    """A spectral peak at mel bin 30 (~1.5 kHz, below the boundary) moves to the bin of alpha × its frequency."""
    features = torch.zeros(5, 80)
    features[:, 30] = 1.0
    warped = vtlp(features, alpha, 4_800.0)
    centres = _mel_centres_hz(80)
    expected = int(np.argmin(np.abs(centres - alpha * centres[30])))
    assert abs(int(warped[0].argmax()) - expected) <= 1 and expected != 30
    assert torch.allclose(vtlp(features, 1.0, 4_800.0), features)


def test_default_changes_speechlike_audio():
    audio = _speechlike()
    changed = [not np.array_equal(augment_waveform(audio, clip_rng(0, 0, str(i)), AugmentConfig.default()), audio)
               for i in range(20)]
    assert sum(changed) >= 15
