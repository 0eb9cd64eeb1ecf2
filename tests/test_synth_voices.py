"""Every voice family the Makefile installs speaks plausibly; voice sets are deterministic, hold a voice out, respect licences."""
import hashlib
import shutil

import numpy as np
import pytest
import soundfile

from core.speech.corpus import kokoro, ljspeech, synth
from core.speech.corpus.synth import VOICE_SETS, VOICES_BY_NAME, assign_voice, choose_voices, engine_installed, synthesize, variation
from core.errors import GlassboxError

TEXT = "The printing press changed the way people shared their ideas."
CHARACTERS_PER_SECOND = 15.0  # LJ Speech reads ~15 characters a second
# One voice per family `make voices` installs (piper through requirements-voices.txt).
FAMILY_VOICES = {
    "espeak-ng": "espeak-en-us-f3",
    "mbrola": "mbrola-us1",
    "flite": "flite-slt",
    "festival": "festival-slt-hts",
    "rhvoice": "rhvoice-slt",
    "pico": "pico-en-gb",
    "piper": "piper-joe",
    "kokoro": "kokoro-bf-emma",
}
# sha256 of "ID|voice\n" over all 13,100 rows: the corpus in ~/.cache/glassbox/ljspeech-synth was built with it.
ORIGINAL_ASSIGNMENT_SHA256 = "f4af2cbeb34b16e9c9943c3ae5a4e31e26d3e44abcd3cab2d98a3e4946452d2b"


@pytest.fixture(scope="module")
def metadata():
    return ljspeech.read_metadata(ljspeech.SHARED_LJSPEECH)


def _speak(voice_name, tmp_path, clip_id="LJ001-0001"):
    voice = VOICES_BY_NAME[voice_name]
    if not engine_installed(voice.engine):
        pytest.skip(f"{voice.engine} is not installed (`make voices`; piper: `pip install -r requirements-voices.txt`)")
    path = tmp_path / f"{voice_name}-{clip_id}.wav"
    synthesize(TEXT, voice, path, clip_id)
    audio, rate = soundfile.read(str(path), dtype="float32")
    assert rate == synth.CORPUS_SAMPLE_RATE and audio.ndim == 1
    return audio, rate


@pytest.mark.parametrize("family", sorted(FAMILY_VOICES))
def test_each_family_speaks_plausibly(family, tmp_path):
    if family == "mbrola" and shutil.which("mbrola") is None:
        pytest.skip("mbrola is not installed (`make voices`)")
    audio, rate = _speak(FAMILY_VOICES[family], tmp_path)
    expected = len(TEXT) / CHARACTERS_PER_SECOND
    assert 0.5 * expected < audio.size / rate < 3 * expected
    assert np.sqrt(np.mean(audio**2)) > 0.01  # louder than −40 dBFS
    assert np.mean(np.abs(audio) > 0.98) < 1e-3  # hardly any clipped samples
    # Speech comes in syllables and pauses: loud and quiet 20 ms frames, not a steady tone or hiss.
    frames = audio[: audio.size // 441 * 441].reshape(-1, 441)
    frame_rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-6
    assert np.percentile(frame_rms, 90) > 5 * np.percentile(frame_rms, 10)


def test_rate_varies_per_clip(tmp_path):
    """The clip id sets the speaking rate: the fast clip is shorter than the slow one by about the rate ratio."""
    ids = [f"LJ050-{n:04d}" for n in range(200)]
    slow, fast = min(ids, key=lambda i: variation(i)[0]), max(ids, key=lambda i: variation(i)[0])
    ratio = variation(fast)[0] / variation(slow)[0]
    assert ratio > 1.25
    slow_audio, _ = _speak("pico-en-us", tmp_path, slow)
    fast_audio, _ = _speak("pico-en-us", tmp_path, fast)
    assert 1.1 < slow_audio.size / fast_audio.size < 1.2 * ratio


def test_original_assignment_is_frozen(metadata):
    voices = choose_voices(None)
    listing = "".join(f"{u.id}|{assign_voice(u, voices).name}\n" for u in metadata)
    assert hashlib.sha256(listing.encode()).hexdigest() == ORIGINAL_ASSIGNMENT_SHA256


@pytest.mark.parametrize("voice_set", sorted(VOICE_SETS))
def test_assignment_is_deterministic_and_holds_a_voice_out(voice_set, metadata):
    voices = choose_voices(None, voice_set)
    held_out = {voice.name for voice in voices if voice.held_out}
    assert held_out
    assignment = {u.id: assign_voice(u, voices).name for u in metadata}
    assert assignment == {u.id: assign_voice(u, voices).name for u in reversed(metadata)}
    assert [variation(u.id) for u in metadata[:50]] == [variation(u.id) for u in metadata[:50]]
    train_voices = {assignment[u.id] for u in ljspeech.split_rows(metadata, "train")}
    test_voices = {assignment[u.id] for u in ljspeech.split_rows(metadata, "test")}
    assert not train_voices & held_out and held_out <= test_voices
    assert train_voices == {voice.name for voice in voices} - held_out


def test_wide_set_is_wider_and_licensed_for_use():
    wide = VOICE_SETS["wide"]
    assert {voice.engine for voice in wide} >= {"piper", "rhvoice", "pico", "festival", "flite", "espeak-ng"}
    assert all(voice.licence and not voice.non_commercial for voice in wide)
    assert not {"rhvoice-lyubov", "rhvoice-evgeniy-eng"} & {voice.name for voice in wide}
    with pytest.raises(GlassboxError, match="commercial"):
        choose_voices(["rhvoice-slt", "rhvoice-lyubov"])
    card = synth.voice_card(wide)
    assert [row["name"] for row in card] == [voice.name for voice in wide] and all(row["licence"] for row in card)


def test_a_folder_is_never_relabelled_with_another_voice(tmp_path):
    if not engine_installed("espeak-ng"):
        pytest.skip("espeak-ng is not installed (`make voices`)")
    out = tmp_path / "lj"
    synth.synth_ljspeech(out, limit=1, voice_names=["espeak-en-us"], workers=1, quiet=True)
    with pytest.raises(GlassboxError, match="another folder"):
        synth.synth_ljspeech(out, limit=1, voice_names=["espeak-en-us-f3"], workers=1, quiet=True)
    assert set(ljspeech.read_voices(out).values()) == {"espeak-en-us"}


def test_kokoro_set_is_many_speakers_of_both_sexes_and_accents_with_two_held_out():
    voices = VOICE_SETS["kokoro"]
    assert len(voices) == 28 and all(voice.engine == "kokoro" and voice.licence == kokoro.LICENCE for voice in voices)
    speakers = [voice.speaker for voice in voices]
    for kind in ("F, US", "M, US", "F, British", "M, British"):
        assert sum(speaker.startswith(kind) for speaker in speakers) >= 4, kind
    assert {voice.voice for voice in voices if voice.held_out} == {"bm_lewis", "af_river"}
    assert all(voice.voice.startswith(kokoro.ENGLISH_PREFIXES) for voice in voices)


def test_kokoro_refuses_a_model_whose_parts_do_not_join_to_the_published_one(tmp_path, monkeypatch):
    if not kokoro.installed():
        pytest.skip("Kokoro is not installed (`make voices`)")
    monkeypatch.setattr(kokoro, "KOKORO_DIR", tmp_path)
    monkeypatch.setattr(kokoro, "MODEL_SHA256", "0" * 64)
    with pytest.raises(GlassboxError, match="wrong sha256"):
        kokoro.model_path()
    assert not list(tmp_path.iterdir())  # nothing half-written is left to be trusted later


def test_evaluate_finds_a_voice_set_or_a_voice_in_its_own_corpus():
    assert synth.evaluation_corpus("kokoro") == (synth.CORPUS_FOLDERS["kokoro"], None)
    assert synth.evaluation_corpus("kokoro-af-river") == (synth.CORPUS_FOLDERS["kokoro"], "kokoro-af-river")
    assert synth.evaluation_corpus("piper-joe") == (synth.CORPUS_FOLDERS["wide"], "piper-joe")
    assert synth.evaluation_corpus("flite-awb") == (synth.CORPUS_FOLDERS["original"], "flite-awb")  # in both sets
    with pytest.raises(GlassboxError, match="Unknown data 'nobody'"):
        synth.evaluation_corpus("nobody")
