"""Speech data: the LJ Speech loader and split, the synthesizer, audio loading, the homework's features, the vocabulary."""
import io
import shutil
import socket

import librosa
import numpy as np
import pytest
import soundfile
import torch

from core.speech import vocabulary
from core.speech.corpus import ljspeech
from core.speech.dataset import bucket_batches
from core.speech.features import FEATURES, load_audio, log_mel, mel_power, pad_features
from core.speech.corpus.synth import VOICES, assign_voice, choose_voices, synth_ljspeech
from core.errors import BadInputError, DataUnavailableError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make voices)")


@pytest.fixture(scope="module")
def metadata():
    return ljspeech.read_metadata(ljspeech.SHARED_LJSPEECH)


def test_metadata_rows_crlf_and_quotes(metadata):
    assert len(metadata) == ljspeech.ROWS == 13_100
    assert metadata[0].id == "LJ001-0001" and metadata[-1].id == "LJ050-0278"
    assert not any(u.text.endswith("\r") for u in metadata)
    assert any('"' in u.text for u in metadata)  # quotes survive: no csv quoting
    assert metadata[0].text.startswith("Printing, in the only sense")


def test_homework_split_boundaries(metadata):
    train, val, test = (ljspeech.split_rows(metadata, split) for split in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (9_825, 655, 2_620)
    assert (train[-1].id, val[0].id, val[-1].id, test[0].id) == ("LJ037-0212", "LJ037-0213", "LJ040-0046", "LJ040-0047")


def test_real_clips_are_train_rows_only():
    clips = ljspeech.real_clips()
    assert len(clips) == 100 and all(clip.row < 9_825 for clip in clips)


def test_download_fails_fast_offline(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(DataUnavailableError, match="synth-ljspeech"):
        ljspeech.download_ljspeech(tmp_path)


def test_missing_corpus_says_how_to_make_one(tmp_path):
    with pytest.raises(DataUnavailableError, match="synth-ljspeech"):
        ljspeech.read_metadata(tmp_path)


def test_voice_assignment_is_deterministic_and_holds_a_voice_out(metadata):
    voices = choose_voices(None)
    held_out = {voice.name for voice in voices if voice.held_out}
    assert held_out
    assignment = {u.id: assign_voice(u, voices).name for u in metadata}
    assert assignment == {u.id: assign_voice(u, voices).name for u in metadata}
    train_voices = {assignment[u.id] for u in ljspeech.split_rows(metadata, "train")}
    test_voices = {assignment[u.id] for u in ljspeech.split_rows(metadata, "test")}
    assert not train_voices & held_out and held_out <= test_voices
    assert len(train_voices) == len(VOICES) - len(held_out)
    # A subset of voices with none marked held out still holds its last voice out.
    assert [v.held_out for v in choose_voices(["espeak-en-us", "mbrola-us1"])] == [False, True]


@needs_espeak
def test_synth_writes_lj_layout_and_resumes(tmp_path):
    out = tmp_path / "lj"
    summary = synth_ljspeech(out, limit=2, voice_names=["espeak-en-us", "espeak-en-us-f3"], workers=2, quiet=True)
    assert summary["clips"] == 6 and summary["synthesized_now"] == 6 and not summary["failed"]
    assert summary["held_out_of_train"] == ["espeak-en-us-f3"]
    utterances = {u.id: u for u in ljspeech.read_metadata(out)}
    voices = ljspeech.read_voices(out)
    for split in ("train", "val", "test"):
        clips = ljspeech.load_split(out, split)
        assert len(clips) == 2
        for clip in clips:
            info = soundfile.info(str(clip.audio_path))
            assert (info.samplerate, info.channels) == (22_050, 1)
            assert 1.0 < info.duration < 20.0
            assert np.abs(soundfile.read(str(clip.audio_path))[0]).max() > 0.05
            assert clip.voice == voices[clip.id]
    assert all(utterances[i].voice == "espeak-en-us" for i in ("LJ001-0001", "LJ001-0002"))
    again = synth_ljspeech(out, limit=2, voice_names=["espeak-en-us", "espeak-en-us-f3"], quiet=True)
    assert again["synthesized_now"] == 0
    grown = synth_ljspeech(out, limit=3, voice_names=["espeak-en-us", "espeak-en-us-f3"], quiet=True, splits=["train"])
    assert grown["clips"] == 3 and grown["synthesized_now"] == 1  # one more train clip, no new val or test clips
    assert [len(ljspeech.load_split(out, split)) for split in ("train", "val", "test")] == [3, 2, 2]


def _wav_bytes(audio, rate, fmt="WAV", subtype=None):
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _tone(seconds=1.0, rate=16_000, frequency=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_features_match_librosa_melspectrogram():
    audio = _tone(1.3) + 0.01 * np.random.default_rng(0).standard_normal(int(1.3 * 16_000)).astype(np.float32)
    expected = librosa.feature.melspectrogram(
        y=audio, sr=16_000, n_fft=400, hop_length=160, n_mels=80, power=2.0, center=True, pad_mode="reflect", norm="slaney", htk=False
    )
    ours = mel_power(audio).numpy()
    assert ours.shape == expected.shape == (80, 131)
    assert np.allclose(ours, expected, rtol=1e-4, atol=1e-6 * expected.max())
    features = log_mel(audio)
    assert features.shape == (131, 80)
    log_expected = np.maximum(np.log10(np.maximum(expected, 1e-10)), np.log10(expected.max()) - 8)
    assert np.allclose(features.numpy(), ((log_expected + 4) / 4).T, atol=1e-4)
    assert float(features.max() - features.min()) <= 8 / 4 + 1e-5  # the max − 8 floor


def test_load_audio_resamples_and_folds_stereo():
    stereo = np.stack([_tone(2.0, 44_100), np.zeros(88_200, dtype=np.float32)], axis=1)
    audio = load_audio(_wav_bytes(stereo, 44_100))
    assert audio.ndim == 1 and abs(len(audio) - 32_000) <= 2
    assert 0.1 < np.abs(audio).max() < 0.2  # mean of a 0.3 tone and silence
    for fmt, subtype in [("FLAC", None), ("OGG", "VORBIS")]:
        assert abs(len(load_audio(_wav_bytes(_tone(1.0, 22_050), 22_050, fmt, subtype))) - 16_000) <= 2


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"this is plainly not audio, just some text" * 10, "could not be read as audio"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00garbage", "could not be read as audio"),
    ],
)
def test_bad_bytes_are_explained(payload, message):
    with pytest.raises(BadInputError, match=message):
        load_audio(payload)


def test_silent_and_too_long_audio_are_explained(tmp_path):
    with pytest.raises(BadInputError, match="silent"):
        load_audio(_wav_bytes(np.zeros(16_000, dtype=np.float32), 16_000))
    with pytest.raises(BadInputError, match="limit is 5 s"):
        load_audio(_wav_bytes(_tone(6.0), 16_000), max_seconds=5)
    with pytest.raises(BadInputError, match="no samples"):
        load_audio(_wav_bytes(np.zeros(0, dtype=np.float32), 16_000))
    with pytest.raises(BadInputError, match="No audio file"):
        load_audio(tmp_path / "missing.wav")


def test_vocabulary_is_the_homeworks():
    assert vocabulary.TOKENS[:9] == ["<", ">", "@", "#", " ", ",", ".", "?", "-"]
    assert vocabulary.TOKENS[9:] == list("abcdefghijklmnopqrstuvwxyz") and len(vocabulary.TOKENS) == 35
    ids = vocabulary.encode('Hi, "Bob"!')
    assert ids[0] == vocabulary.START and ids[-1] == vocabulary.STOP
    assert vocabulary.decode(ids) == "hi, #bob##"
    assert len(vocabulary.encode("a" * 200)) == 99
    assert vocabulary.homework_sequence([0, 9, 10, 1, 2, 2]) == [0, 9, 10, 1]
    assert vocabulary.homework_sequence([0, 9, 10, 11]) == [0, 9, 10, 1]


def test_bucketing_covers_everything_with_little_padding():
    lengths = [int(x) for x in np.random.default_rng(1).integers(50, 1000, 103)]
    batches = bucket_batches(lengths, 10, shuffle_seed=3)
    assert sorted(i for batch in batches for i in batch) == list(range(103))
    assert batches == bucket_batches(lengths, 10, shuffle_seed=3) != bucket_batches(lengths, 10, shuffle_seed=4)
    spread = max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread < 300  # random batches of 10 would spread ~800 frames
    features, sizes = pad_features([torch.ones(3, 80), torch.ones(5, 80)])
    assert features.shape == (2, 5, 80) and sizes.tolist() == [3, 5] and features[0, 3:].abs().sum() == 0


def test_feature_rate_is_100_frames_per_second():
    assert FEATURES.sample_rate / FEATURES.hop_length == 100
