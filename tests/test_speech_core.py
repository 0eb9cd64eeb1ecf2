"""The speech core as a class uses it: many visitors on one cached model, joint decoding at speed, a fast first
request, and bad audio or noise answered in words."""
import io
import json
from concurrent.futures import ThreadPoolExecutor

import librosa
import numba
import numpy as np
import pytest
import soundfile
import torch

from core.__main__ import main as cli_main
from core import ctc
from core.ctc import prefix_recursion
from core.decoding import search
from core.errors import BadInputError
from core.speech import vocabulary
from core.speech.corpus.real_speech import real_ljspeech_eval_clips
from core.speech.examples import EXAMPLES_DIR
from core.speech.features import load_audio, log_mel, loud_intervals, no_speech_message
from core.speech.inference import (DEFAULT_MODEL, card_decoding, load_model, transcribe_audio,
                                   transcribe_with_attention, warm_up)
from core.speech.speed import TimedCTCStepDecoder, TorchLoopCTCStepDecoder

RATE = 16_000
LJ_CLIPS = real_ljspeech_eval_clips()
EXAMPLE_CLIPS = sorted(EXAMPLES_DIR.glob("*.flac"))


@pytest.fixture(scope="module")
def shipped():
    return load_model(DEFAULT_MODEL)


def wav_bytes(audio: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def clipped_noise(seconds: float = 5.0) -> np.ndarray:
    return np.clip(0.8 * np.random.default_rng(0).standard_normal(int(seconds * RATE)), -1, 1)


def inspected_arrays(inspected) -> list[np.ndarray]:
    return [array for chunk in inspected.chunks for array in (chunk.cross_attention, chunk.self_attention)]


def test_concurrent_visitors_on_one_model_get_their_own_transcripts_and_attention(shipped):
    """The Speech lab caches one model for every visitor: attention captured by one decode never lands in another's."""
    model, card = shipped
    clips = [load_audio(path) for path in EXAMPLE_CLIPS[:4]] + [load_audio(u.audio_path) for u in LJ_CLIPS[1:5]]
    jobs = [(index, beam) for index in range(len(clips)) for beam in (1, 3)]

    def decode(job):
        index, beam = job
        return transcribe_with_attention(model, clips[index], card_decoding(card, beam))

    alone = {job: decode(job) for job in jobs}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = dict(zip(jobs * 2, pool.map(decode, jobs * 2)))
    for job, result in together.items():
        assert result.text == alone[job].text
        assert all(chunk.self_attention is not None for chunk in result.chunks)
        for mine, reference in zip(inspected_arrays(result), inspected_arrays(alone[job]), strict=True):
            np.testing.assert_array_equal(mine, reference)


@pytest.mark.parametrize("beam", [1, 4])
def test_the_compiled_ctc_loop_equals_the_torch_loop_it_replaced(shipped, beam):
    """Every step's forward variables and prefix scores, on a real clip's CTC emissions, agree to 1e-4."""
    model, card = shipped
    features = log_mel(load_audio(LJ_CLIPS[3].audio_path))[None]
    lengths = torch.tensor([features.shape[1]])
    weight = card_decoding(card).ctc_weight
    joint = model.step_decoder(features, lengths, ctc_weight=weight)
    compared = []

    class Checked(TimedCTCStepDecoder):
        def _recursion(self, *arguments):
            compiled = super()._recursion(*arguments)
            reference = TorchLoopCTCStepDecoder._recursion(self, *arguments)
            for mine, theirs in zip(compiled, reference):
                assert torch.equal(torch.isfinite(mine), torch.isfinite(theirs))
                assert torch.equal(mine[torch.isneginf(mine)], theirs[torch.isneginf(theirs)])
                finite = torch.isfinite(mine)
                torch.testing.assert_close(mine[finite], theirs[finite], rtol=0, atol=1e-4)
            compared.append(True)
            return compiled

    with torch.no_grad():
        decoder = Checked(joint.decoder, joint.emissions, model.encoder.output_lengths(lengths), weight,
                          blank=vocabulary.PAD, sos=vocabulary.START, eos=vocabulary.STOP)
        search(decoder, 1, vocabulary.START, vocabulary.STOP, 98, beam_width=beam)
    assert len(compared) > 10


def test_the_ctc_loop_is_compiled_when_the_package_is_imported():
    assert prefix_recursion.signatures  # compiled (or read from numba's cache) at import, not in a first request
    assert warm_up() < 5.0


def test_without_a_folder_to_cache_in_the_loop_compiles_in_memory(monkeypatch):
    """A read-only install with no NUMBA_CACHE_DIR: numba cannot cache, the loop still compiles."""
    def njit_without_cache(*arguments, cache=False):
        if cache:
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(*arguments)

    def add_one(value):
        return value + 1

    real_njit = numba.njit
    monkeypatch.setattr(numba, "njit", njit_without_cache)
    assert ctc._compiled("int64(int64)")(add_one)(41) == 42


@pytest.mark.parametrize("clip", [u.audio_path for u in LJ_CLIPS[:8]] + EXAMPLE_CLIPS[:3], ids=lambda path: path.name)
def test_pause_finding_equals_librosa_split(clip):
    audio = load_audio(clip)
    expected = librosa.effects.split(audio, top_db=35, frame_length=1024, hop_length=256)
    np.testing.assert_array_equal(loud_intervals(audio, top_db=35, frame_length=1024, hop_length=256), expected)


def test_a_clip_shorter_than_the_encoder_reads_is_refused_in_words(shipped, tmp_path, capsys):
    tiny = 0.3 * np.random.default_rng(1).standard_normal(RATE // 100)  # 10 ms
    with pytest.raises(BadInputError, match="lasts only 10 ms"):
        load_audio(wav_bytes(tiny))
    with pytest.raises(BadInputError, match="at least 100 ms"):
        transcribe_with_attention(shipped[0], tiny.astype(np.float32))
    path = tmp_path / "tiny.wav"
    path.write_bytes(wav_bytes(tiny))
    assert cli_main(["transcribe", str(path)]) == 2
    assert "lasts only 10 ms" in capsys.readouterr().err


def test_a_silent_clip_is_refused_and_room_tone_is_no_speech(shipped, tmp_path, capsys):
    path = tmp_path / "silent.wav"
    path.write_bytes(wav_bytes(np.zeros(2 * RATE)))
    assert cli_main(["transcribe", str(path)]) == 2
    assert "silent" in capsys.readouterr().err
    room_tone = 0.003 * np.random.default_rng(2).standard_normal(3 * RATE)
    assert no_speech_message(room_tone.astype(np.float32)).startswith("No speech found")
    path.write_bytes(wav_bytes(room_tone))
    result = transcribe_audio(shipped[0], path, card_decoding(shipped[1]))
    assert result["no_speech"] and result["warning"].startswith("No speech found")


def test_noise_is_transcribed_with_a_no_speech_warning_beside_it(shipped, tmp_path, capsys):
    model, card = shipped
    noise = clipped_noise()
    path = tmp_path / "noise.wav"
    path.write_bytes(wav_bytes(noise))
    assert cli_main(["transcribe", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["no_speech"] and result["warning"].startswith("No speech found") and "text" in result
    inspected = transcribe_with_attention(model, load_audio(path), card_decoding(card))
    assert inspected.no_speech.startswith("No speech found") and inspected.chunks  # the transcript is still there
    gated = noise * (np.sin(2 * np.pi * 2 * np.arange(len(noise)) / RATE) > 0)  # noise switched on and off
    for sound in (gated, 0.3 * np.sin(2 * np.pi * 50 * np.arange(3 * RATE) / RATE)):
        assert no_speech_message(sound.astype(np.float32)) is not None


def test_real_speech_is_never_flagged(shipped, capsys):
    for clip in [u.audio_path for u in LJ_CLIPS] + EXAMPLE_CLIPS:
        assert no_speech_message(load_audio(clip)) is None, clip.name
    assert cli_main(["transcribe", str(LJ_CLIPS[0].audio_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["no_speech"] is False
    assert transcribe_with_attention(shipped[0], load_audio(EXAMPLE_CLIPS[0]), card_decoding(shipped[1])).no_speech is None
