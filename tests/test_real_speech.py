"""Real speech: the training / evaluation sets and the guard between them, transcript normalization, PocketSphinx
and `bench asr-real` (issue 10)."""
import json
from dataclasses import replace

import pytest

from core.__main__ import main as cli_main
from core.checkpoints import read_card
from core.speech import vocabulary
from core.speech.corpus import real_speech
from core.speech.features import load_audio
from core.errors import DataUnavailableError
from core.metrics import normalize_for_scoring
from core.speech.evaluation import score_transcripts
from core.speech.pocketsphinx import pocketsphinx_transcribe


@pytest.fixture(scope="module")
def training():
    return real_speech.training_clips()


@pytest.fixture(scope="module")
def other_voices():
    return real_speech.other_voices_clips()


def test_other_voices_is_a_tenth_of_common_voice_and_disjoint_from_training(training, other_voices):
    common_voice = [u for u in real_speech.usable_clips() if real_speech.source_of(u) == "common-voice-en"]
    assert len(common_voice) == 484
    assert abs(len(other_voices) - len(common_voice) / 10) <= 1
    assert all(real_speech.source_of(u) == "common-voice-en" for u in other_voices)
    assert not {u.id for u in other_voices} & {u.id for u in training}
    assert not {u.audio_path for u in other_voices} & {u.audio_path for u in training}
    assert len(training) + len(other_voices) == len(real_speech.usable_clips())


def test_other_voices_choice_does_not_depend_on_file_order(other_voices, monkeypatch):
    shuffled = list(reversed(real_speech._real_speech_raw()))
    monkeypatch.setattr(real_speech, "_real_speech_raw", lambda: shuffled)
    real_speech._all_clips.cache_clear()
    try:
        assert [u.id for u in real_speech.other_voices_clips()] == [u.id for u in other_voices]
    finally:
        real_speech._all_clips.cache_clear()


def test_training_clips_hold_every_source_and_no_evaluation_clip(training):
    counts = {}
    for utterance in training:
        counts[real_speech.source_of(utterance)] = counts.get(real_speech.source_of(utterance), 0) + 1
    assert counts == {"ljspeech": 271, "rhasspy-kathleen": 781, "cmu-arctic": 6, "common-voice-en": 436}
    wavs = {u.id for u in real_speech.real_ljspeech_eval_clips()}
    assert len(wavs) == 100 and not wavs & {u.id for u in training}
    assert all(u.audio_path.exists() for u in training)
    real_speech.assert_no_evaluation_leak(training)  # the sets as shipped pass the guard


def test_transcripts_use_only_the_vocabulary_and_the_apostrophe(training):
    allowed = set(vocabulary.TOKENS[4:]) | {"'"}
    assert all(set(u.text) <= allowed and u.text == u.text.strip() for u in training)
    assert real_speech.dropped_clips() == []  # no digits or foreign characters in today's data


@pytest.mark.parametrize("raw, normalized", [
    ('The "cabin side," so called; he said: Go!', "the cabin side, so called, he said, go."),
    ("Dig in; you're sure good, was Daylight's answer.", "dig in, you're sure good, was daylight's answer."),
    ("praecipe (one pound, five shillings), capias", "praecipe one pound, five shillings, capias"),
    ("well-looking  \u2019em", "well-looking 'em"),
])
def test_normalize_transcript(raw, normalized):
    assert real_speech.normalize_transcript(raw) == normalized


@pytest.mark.parametrize("raw, reason", [("in 1908 he left", "digits"), ("caf\u00e9 au lait", "outside"), ('""', "no words")])
def test_normalize_transcript_refuses_what_it_cannot_spell(raw, reason):
    with pytest.raises(ValueError, match=reason):
        real_speech.normalize_transcript(raw)


def test_leak_check_raises_on_a_planted_leak(training, other_voices):
    wavs_clip = real_speech.real_ljspeech_eval_clips()[0]
    for planted in (wavs_clip, other_voices[0], replace(other_voices[0], id="renamed")):
        with pytest.raises(ValueError, match="evaluation clips"):
            real_speech.assert_no_evaluation_leak(training + [planted])


def test_leak_check_allows_synthesized_clips_with_wavs_ids(tmp_path):
    synthetic = [replace(u, audio_path=tmp_path / f"{u.id}.wav", voice="espeak-en-us")
                 for u in real_speech.real_ljspeech_eval_clips()[:3]]
    real_speech.assert_no_evaluation_leak(synthetic)


def test_missing_shared_folder_fails_fast_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(real_speech, "REAL_SPEECH", tmp_path / "real-speech")
    with pytest.raises(DataUnavailableError, match="real-speech"):
        real_speech._real_speech_raw()


def test_scoring_normalization_reads_unknown_token_inside_a_word_as_apostrophe():
    assert normalize_for_scoring('I DON#T, "know" well-known #quote#') == "i don't know well known quote"
    scores = score_transcripts(["i don#t know"], ["I don't know."], decode_seconds=1.0, audio_seconds=4.0)
    assert scores["cer"] == scores["wer"] == 0 and scores["real_time_factor"] == 0.25


def test_pocketsphinx_transcribes_a_real_clip():
    clip = real_speech.real_ljspeech_eval_clips()[1]  # LJ001-0002, "in being comparatively modern." (1.9 s)
    hypothesis = pocketsphinx_transcribe(load_audio(clip.audio_path))
    assert score_transcripts([hypothesis], [clip.text])["cer"] < 0.5


def test_bench_asr_real_through_the_cli(capsys):
    assert cli_main(["bench", "asr-real", "--limit", "3", "--models", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sets"] == {"real-ljspeech": 3, "other-voices": 3}
    scores = result["systems"]["pocketsphinx"]
    assert set(scores) == {"real-ljspeech", "other-voices"}
    for entry in scores.values():
        assert {"clips", "cer", "wer", "mean_clip_cer", "real_time_factor", "cpu_real_time_factor", "examples"} <= set(entry)
        assert entry["clips"] == 3 and 0 <= entry["cer"] < 0.6 and entry["real_time_factor"] > 0


def test_bench_asr_real_refuses_an_unknown_model(capsys):
    assert cli_main(["bench", "asr-real", "--models", "asr/no-such-model", "--json"]) == 2
    assert "No such ASR checkpoint" in capsys.readouterr().err


def test_bench_asr_real_with_a_beam_names_its_systems_by_width(capsys):
    """The shipped transformer decoder on one clip of each set, greedy and with a beam of 2: two systems, each with the
    sha256 of the weights it scored."""
    assert cli_main(["bench", "asr-real", "--limit", "1", "--models", "asr/lj-transformer", "--no-pocketsphinx",
                     "--widths", "1", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["systems"]) == ["asr/lj-transformer", "asr/lj-transformer beam 2"]
    sha256 = read_card("asr/lj-transformer")["weights"]["sha256"]
    for system in result["systems"].values():
        assert system["weights_sha256"] == sha256 and system["real-ljspeech"]["clips"] == 1
