"""Speech lab page: AppTest for its logic on small untrained recognizers, one browser test as a user would use it.

The AppTest tests point core.paths.CHECKPOINTS at a folder of tiny untrained models of the shipped classes, so they
do not wait for (or depend on) trained checkpoints; the browser test uses whatever checkpoints/asr/ holds.
"""
import ast
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from streamlit.testing.v1 import AppTest

from core import paths
from core.checkpoints import list_checkpoints, read_card, save_checkpoint
from core.checkpoints import architecture_of
from core.decoding import DecodingOptions
from core.figures import attention_heatmap
from core.speech.model import SpeechRecognizer, SpeechRecognizerConfig, speech_transformer_config
from core.speech import card as cards, decode_queue, evaluation, inference, vocabulary
from core.speech.decode_queue import DecodeQueue
from core.speech.evaluation import comparable_reference, lab_score_table
from core.speech.examples import EXAMPLES_DIR, load_examples
from core.speech.features import log_mel, pad_features
from core.speech.figures import attention_choices, ctc_figure, timed_ctc, timed_cross_attention
from tests.helpers import ARTIFACTS, assert_no_exception, run_lab, wait_for_app

TINY = {"transformer": "asr/tiny-test-transformer", "lstm": "asr/tiny-test-lstm",
        "speech-transformer": "asr/tiny-test-speech-transformer"}
TRANSCRIPTS = len(TINY) + 1  # every model greedy (beam search on request), and PocketSphinx's reference column
OWN_AUDIO_TRANSCRIPTS = len(TINY)  # PocketSphinx's column is on request for a visitor's own audio
SPEECH_PAGE = Path(__file__).resolve().parent.parent / "labs" / "speech.py"


def tiny_recognizer(decoder: str) -> SpeechRecognizer:
    torch.manual_seed(0)
    sizes = dict(d_model=32, n_heads=2, mlp_size=64, encoder_layers=1)
    if decoder == "speech-transformer":
        return SpeechRecognizer(speech_transformer_config(**sizes)).eval()
    if decoder == "lstm":  # one model with a CTC head, decoded jointly, as real-speech recipes train them
        sizes |= dict(ctc_head=True)
    config = SpeechRecognizerConfig(decoder=decoder, **sizes, decoder_layers=2 if decoder == "transformer" else 1)
    return SpeechRecognizer(config).eval()


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkpoints")
    for decoder, name in TINY.items():
        card = {
            "architecture": architecture_of(tiny_recognizer(decoder)), "task": "asr", "title": f"untrained {decoder}",
            "training": {"best_epoch": 2, "epochs_done": 3},
            "decoding": {"ctc_weight": 0.3 if decoder == "lstm" else 0.0},
            "curves": {"train_loss": [2.5, 2.0, 1.8], "val_loss": [2.4, 2.1, 2.0],
                       "val_damerau_levenshtein": [0.2, 0.3, 0.35]},
            "metrics": {"synthetic_test": {"clips": 10, "loss": 2.0, "jaccard": 0.5, "cosine": 0.6,
                                           "damerau_levenshtein": 0.3, "cer": 0.7, "wer": 1.0}},
        }
        if decoder == "transformer":  # scored on real recordings: the lab says what to expect from it
            card["metrics"]["real_ljspeech_whole_clips"] = {"clips": 100, "cer": 0.33, "wer": 0.7}
        if decoder == "lstm":  # a run that kept real validation clips picks its epoch on them
            card["training"]["selected_on"] = "val_real_damerau_levenshtein"
            card["curves"]["val_real_damerau_levenshtein"] = [0.1, 0.25, 0.2]
        save_checkpoint(tiny_recognizer(decoder), card, name, root=root)
    return root


@pytest.fixture
def app(tiny_checkpoints, monkeypatch) -> AppTest:
    monkeypatch.setattr(paths, "CHECKPOINTS", tiny_checkpoints)
    return run_lab("speech", timeout=300)


def wav_bytes(audio: np.ndarray, rate: int = 16_000, subtype: str = "PCM_16", file_format: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, subtype=subtype, format=file_format)
    return buffer.getvalue()


def speech_like(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Noise bursts with pauses: something a recognizer can chew on, different for every seed."""
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    envelope = (np.sin(np.linspace(0, 6 * np.pi * seconds, audio.size)) > 0).astype(np.float32)
    return audio * envelope


def plotly_count(app: AppTest) -> int:
    return len(app.get("plotly_chart"))


def open_tab(app: AppTest, name: str) -> AppTest:
    """Open a model's tab in section 3 (only the open tab is drawn)."""
    label = next(subheader.value for subheader in app.subheader if subheader.value.endswith(f"({name.split('/')[1]})"))
    app.session_state["inspected_model"] = label
    return app.run()


def test_example_is_transcribed_by_every_model_with_scores_and_figures(app):
    assert not app.exception
    assert [header.value for header in app.header] == [
        "1 · Audio", "2 · What each model wrote", "3 · Where each decoder listened", "4 · Training and test results"]
    assert len(app.code) == TRANSCRIPTS and not app.toggle(key="with_beam").value  # beam search only when asked
    timings = [markdown.value for markdown in app.markdown if markdown.value.startswith("**greedy** ·")]
    assert len(timings) == 3 and all(value.endswith(" s") for value in timings)
    assert not [markdown for markdown in app.markdown if markdown.value.startswith("**beam")]
    scores = app.dataframe[0].value
    assert scores.shape == (6, 4) and "PocketSphinx" in scores.columns
    assert "Damerau-Levenshtein on homework tokens" in scores.index and "WER (jiwer)" in scores.index
    # waveform, spectrogram, three alignments, the open tab's (the LSTM's) cross-attention under the spectrogram and
    # its CTC head, the training curves and the error rates: hidden tabs draw nothing until opened
    assert plotly_count(app) == 2 + 3 + 2 + 1 + 1
    assert "What the CTC head hears" in [subheader.value for subheader in app.subheader]
    assert "Speech-Transformer (tiny-test-speech-transformer)" in [subheader.value for subheader in app.subheader]
    heard = [caption.value for caption in app.caption if caption.value.startswith("Trained on")]
    assert sorted(heard)[:2] == ["Trained on synthetic voices; 3 epochs."] * 2  # each column, from its card
    assert sorted(heard)[2].startswith("Trained on synthetic voices; 3 epochs. Decodes jointly with its CTC head")
    assert any("CMU 11-785's **Speech-Transformer**" in markdown.value for markdown in app.markdown)  # read from cards
    results = app.dataframe[1].value
    assert any(model.startswith("student report") for model in results["model"])
    assert any(model.startswith("Glassbox, transformer decoder") for model in results["model"])


def test_a_long_example_is_cut_into_each_models_own_chunks_and_the_lab_says_so(app):
    assert not [info for info in app.info if "cut at pauses" in info.value]  # 5.1 s: one chunk at the tiny models' 8 s
    labels = [option for option in app.selectbox(key="example").options]
    app.selectbox(key="example").select_index(next(i for i, label in enumerate(labels) if "9.7 s" in label)).run(timeout=300)
    assert not app.exception
    notice = next(info.value for info in app.info if "cut at pauses" in info.value)
    for name in TINY.values():
        assert f"({name.split('/', 1)[1]}), 2 chunks of at most 8 s (from 0.0, " in notice


def test_pocketsphinx_reference_column_reads_the_example_and_can_be_hidden(app):
    headers = [subheader.value for subheader in app.subheader]
    assert "PocketSphinx (reference)" in headers
    # The example is real LJ Speech read clearly: the classic recognizer gets most of its words.
    reference = comparable_reference(app.text_input[0].value)
    transcript = app.code[-1].value
    assert len(set(transcript.split()) & set(reference.split())) >= len(reference.split()) // 2
    app.toggle(key="pocketsphinx").set_value(False).run()
    assert "PocketSphinx (reference)" not in [subheader.value for subheader in app.subheader]
    assert len(app.code) == 3


def test_results_table_places_pocketsphinx_on_the_real_sets(tiny_checkpoints, monkeypatch, tmp_path):
    shipped = tmp_path / "bench-asr-real.json"
    shipped.write_text('{"systems": {"pocketsphinx": {"real-ljspeech": {"clips": 100, "cer": 0.144, "wer": 0.289}, '
                       '"other-voices": {"clips": 48, "cer": 0.311, "wer": 0.486}}}}')
    monkeypatch.setattr(paths, "CHECKPOINTS", tiny_checkpoints)
    monkeypatch.setattr(evaluation, "BENCHMARK_FILE", shipped)
    lab = run_lab("speech", timeout=300)
    results = lab.dataframe[1].value
    rows = results[results["model"].str.startswith("PocketSphinx")]
    assert sorted(rows["cer"]) == [0.144, 0.311] and set(rows["clips"]) == {100, 48}
    specs = [json.loads(chart.proto.spec) for chart in lab.get("plotly_chart")]
    (bars,) = [spec for spec in specs if "Character error rate" in str(spec["layout"].get("title"))]
    (peer,) = [trace for trace in bars["data"] if trace["name"].startswith("PocketSphinx")]
    assert peer["x"] == ["100 real LJ Speech clips,<br>whole (a-z scoring)", "other voices:<br>Common Voice speakers (a-z scoring)"]
    assert peer["y"] == [0.144, 0.311]


def test_training_curves_star_each_models_epoch_on_the_clips_it_was_chosen_by(app):
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    (curves,) = [spec for spec in specs if any("training loss" in str(note.get("text")) for note in spec["layout"].get("annotations", []))]
    panels = [note["text"].replace("<br>", " ") for note in curves["layout"]["annotations"]]  # long titles wrap
    assert panels == ["training loss", "validation loss", "synthetic validation DL similarity", "real validation DL similarity"]
    real_panel = [trace for trace in curves["data"] if trace.get("xaxis") == "x4"]
    assert [trace["y"] for trace in real_panel] == [[0.1, 0.25, 0.2], [0.25]]  # only the LSTM has it; its star at epoch 2
    (caption,) = [caption.value for caption in app.caption if caption.value.startswith("Per epoch")]
    assert "LSTM decoder (tiny-test-lstm): real validation clips" in caption
    assert "transformer decoder (tiny-test-transformer): synthetic validation clips" in caption


def test_page_explains_the_diagonal_and_offers_every_head(app):
    assert any("diagonal" in info.value for info in app.info)
    open_tab(app, TINY["transformer"])
    assert "Masked self-attention of the transformer decoder" in [subheader.value for subheader in app.subheader]
    assert plotly_count(app) == 2 + 3 + 2 + 1 + 1  # the transformer's cross- and self-attention; the LSTM's are gone
    options = app.selectbox(key=f"heads-{TINY['transformer']}").options
    assert options == ["average of all layers and heads", "layer 1, average of the heads", "layer 1, head 1",
                       "layer 1, head 2", "layer 2, average of the heads", "layer 2, head 1", "layer 2, head 2"]
    open_tab(app, TINY["lstm"])
    assert app.selectbox(key=f"heads-{TINY['lstm']}").options == ["average of the heads", "layer 1, head 1",
                                                                   "layer 1, head 2"]


def test_heads_and_steps_do_not_rerun_the_models(app, monkeypatch):
    calls = []
    original = inference.transcribe_with_attention
    monkeypatch.setattr(decode_queue, "transcribe_with_attention", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    app.radio(key="source").set_value("the microphone").run()
    app.audio_input[0].set_value(("t.wav", wav_bytes(speech_like(2.0, seed=11)), "audio/wav")).run()
    assert not app.exception and len(calls) == len(TINY)  # a new recording: every model, greedy
    open_tab(app, TINY["transformer"])
    app.slider(key=f"step-{TINY['transformer']}").set_value(3).run()
    app.selectbox(key=f"heads-{TINY['transformer']}").set_value(app.selectbox(key=f"heads-{TINY['transformer']}").options[3]).run()
    assert not app.exception and len(calls) == len(TINY)
    app.toggle(key="with_beam").set_value(True).run()  # asked for: every model searches with a beam of 4
    assert len(calls) == len(TINY) * 2 and len(app.code) == OWN_AUDIO_TRANSCRIPTS + len(TINY)
    assert len([markdown for markdown in app.markdown if markdown.value.startswith("**beam 4** ·")]) == len(TINY)
    app.radio(key="inspect_decoding").set_value("beam 4").run()
    assert not app.exception and len(calls) == len(TINY) * 2
    app.slider(key="beam").set_value(3).run()
    assert len(calls) == len(TINY) * 3  # a new beam width decodes again (greedy is reused)


def test_what_to_expect_quotes_a_beam_score_only_for_the_weights_it_was_measured_on(tiny_checkpoints, monkeypatch,
                                                                                       tmp_path):
    card = read_card(TINY["transformer"], root=tiny_checkpoints)  # its real-speech CER is 33% (greedy)
    shipped = tmp_path / "bench-asr-real.json"
    monkeypatch.setattr(evaluation, "BENCHMARK_FILE", shipped)

    def expected_with(sha256: str) -> str:
        system = {"real-ljspeech": {"clips": 100, "cer": 0.25}, "weights_sha256": sha256}
        shipped.write_text(json.dumps({"systems": {f"{TINY['transformer']} beam {cards.EXPECTATION_BEAM}": system}}))
        return cards.expectations({"tiny": card})

    assert "(CER 33% on 100 LJ Speech clips; 25% with a beam of 4)." in expected_with(card["weights"]["sha256"])
    assert "(CER 33% on 100 LJ Speech clips)." in expected_with("0" * 64)  # scored on other weights: not quoted


def test_the_recorder_says_what_to_expect_in_the_words_of_the_cards(app, tiny_checkpoints):
    heard = {name: cards.training_data_summary(read_card(name, root=tiny_checkpoints)) for name in TINY.values()}
    for name, sentence in heard.items():  # each column says what its model trained on, as its card does
        assert any(caption.value.startswith(sentence) for caption in app.caption), name
    app.radio(key="source").set_value("the microphone").run()
    (expected,) = [caption.value for caption in app.caption if caption.value.startswith("**What to expect**")]
    assert all(sentence in expected for sentence in heard.values())  # and the same sentence next to the recorder
    assert ("**transformer decoder (tiny-test-transformer)** gets about one letter in three wrong on real recordings "
            "it never heard (CER 33% on 100 LJ Speech clips).") in expected
    assert "**LSTM decoder (tiny-test-lstm)** has not been scored on real recordings yet." in expected
    assert "**PocketSphinx**, the classic reference" in expected and "one letter in seven wrong" in expected
    app.radio(key="source").set_value("a file").run()
    assert any(caption.value.startswith("**What to expect**") for caption in app.caption)
    assert [header.value for header in app.header] == ["1 · Audio", "2 · Training and test results"]


def test_a_visitor_waiting_for_a_recognizer_is_told_how_many_are_ahead(app, monkeypatch):
    original = DecodeQueue.result

    def crowded(self, job, report, poll_s=0.2):  # every decode waits behind two others' before it runs
        report("Waiting for a free recognizer (2 ahead): all 2 are busy with other visitors' audio.")
        return original(self, job, lambda message: None, poll_s)

    monkeypatch.setattr(DecodeQueue, "result", crowded)
    app.run()
    waiting = [caption.value for caption in app.caption if "Waiting for a free recognizer (2 ahead)" in caption.value]
    assert len(waiting) == TRANSCRIPTS and all(value.startswith("⏳") for value in waiting)


def test_views_redraw_alone_as_fragments():
    """A head, a step, a tab, a reference or an alignment redraws its own section, not the page."""
    tree = ast.parse(SPEECH_PAGE.read_text(encoding="utf-8"))
    fragments = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                 and any(ast.unparse(decorator).startswith("st.fragment") for decorator in node.decorator_list)}
    assert fragments == {"inspection", "against_reference"}


def test_transcripts_are_shown_without_unknown_marks_or_leading_punctuation():
    assert vocabulary.readable([". the cat#s hat,", "# and . so"]) == "the cat's hat, and . so"
    chunk = inference.ChunkAttention(0.0, 1.0, ". in the #old# way", [], [], np.zeros((1, 1, 1, 1)), None, 0.02)
    result = inference.InspectedTranscription(chunk.text, 0.1, 1, [chunk])
    assert decode_queue.shown_text(result) == "in the old way"


def test_stereo_upload_at_another_rate_is_folded_and_resampled(app):
    app.radio(key="source").set_value("a file").run()
    stereo = np.stack([speech_like(1.5, 44_100, seed=3), speech_like(1.5, 44_100, seed=4)], axis=1)
    app.file_uploader(key="upload").set_value(("stereo.flac", wav_bytes(stereo, 44_100, file_format="FLAC"), "audio/flac")).run()
    assert not app.exception and not app.error
    assert any("1.50 s, resampled to 16 kHz mono" in caption.value for caption in app.caption)
    assert len(app.code) == OWN_AUDIO_TRANSCRIPTS and not app.toggle(key="pocketsphinx-own").value
    app.toggle(key="pocketsphinx-own").set_value(True).run()  # the classic recognizer when asked for
    assert len(app.code) == OWN_AUDIO_TRANSCRIPTS + 1 and "PocketSphinx (reference)" in [item.value for item in app.subheader]
    assert "Against the reference" not in [subheader.value for subheader in app.subheader]


@pytest.mark.parametrize("suffix, file_format, subtype", [("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")])
def test_compressed_uploads_are_transcribed(app, suffix, file_format, subtype):
    app.radio(key="source").set_value("a file").run()
    payload = wav_bytes(speech_like(2.0, 22_050, seed=7), 22_050, subtype=subtype, file_format=file_format)
    app.file_uploader(key="upload").set_value((f"clip.{suffix}", payload, f"audio/{suffix}")).run()
    assert not app.exception and not app.error and len(app.code) == OWN_AUDIO_TRANSCRIPTS


def test_typed_reference_is_scored_for_an_upload(app):
    app.radio(key="source").set_value("a file").run()
    app.file_uploader(key="upload").set_value(("noise.wav", wav_bytes(speech_like(1.0, seed=5)), "audio/wav")).run()
    app.text_input(key="reference-own").set_value("Hello, World!").run()
    assert "Against the reference" in [subheader.value for subheader in app.subheader]
    assert any("“hello, world”" in caption.value for caption in app.caption)


BAD_AUDIO = {
    "empty": (b"", "empty"),
    "corrupt": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4, "could not be read as audio"),
    "silent": (wav_bytes(np.zeros(16_000, dtype=np.float32)), "silent"),
    "too long": (wav_bytes(speech_like(inference.LAB_MAX_SECONDS + 2, 8_000), 8_000), "the limit is 30 s"),
    "not audio": (b"%PDF-1.4 this is a document, not a recording\n" * 50, "could not be read as audio"),
    "10 ms": (wav_bytes(np.full(160, 0.3, dtype=np.float32)), "lasts only 10 ms"),
}


@pytest.mark.parametrize("kind", list(BAD_AUDIO))
def test_bad_uploads_show_a_message_and_the_page_stays_usable(app, kind):
    payload, message = BAD_AUDIO[kind]
    app.radio(key="source").set_value("a file").run()
    app.file_uploader(key="upload").set_value((f"{kind.replace(' ', '-')}.wav", payload, "audio/wav")).run()
    assert not app.exception
    assert len(app.error) == 1 and "This audio cannot be used" in app.error[0].value and message in app.error[0].value
    assert [header.value for header in app.header] == ["1 · Audio", "2 · Training and test results"]  # as shown
    app.radio(key="source").set_value("an example").run()  # and back to a working clip
    assert not app.exception and not app.error and len(app.code) == TRANSCRIPTS


def test_noise_is_transcribed_with_a_no_speech_warning_beside_it(app):
    assert not [warning for warning in app.warning if "No speech found" in warning.value]  # the example is speech
    app.radio(key="source").set_value("a file").run()
    noise = np.clip(0.8 * np.random.default_rng(0).standard_normal(3 * 16_000), -1, 1).astype(np.float32)
    app.file_uploader(key="upload").set_value(("noise.wav", wav_bytes(noise), "audio/wav")).run()
    assert not app.exception and not app.error and len(app.code) == OWN_AUDIO_TRANSCRIPTS
    assert [warning for warning in app.warning if warning.value.startswith("No speech found")]


def test_without_checkpoints_the_page_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    app = run_lab("speech")
    assert not app.exception
    assert any("No speech recognizer checkpoint" in warning.value for warning in app.warning)
    assert plotly_count(app) == 2  # the audio is still shown: waveform and spectrogram
    assert len(app.code) == 0


def test_inspection_repeats_the_search_attention_and_adds_every_head():
    model, audio = tiny_recognizer("transformer"), speech_like(3.0, seed=1)
    inspected = inference.transcribe_with_attention(model, audio)
    features, lengths = pad_features([log_mel(audio)])
    hypothesis = inference.transcribe_batch(model, features, lengths)[0]
    chunk = inspected.chunks[0]
    assert chunk.cross_attention.shape[:2] == (2, 2) and chunk.self_attention.shape[:2] == (2, 2)
    assert np.allclose(chunk.cross_attention[-1].mean(axis=0), hypothesis.attention.numpy(), atol=1e-5)
    assert chunk.text.strip() == inspected.text and len(chunk.output_labels) == len(chunk.input_labels) == chunk.cross_attention.shape[2]
    assert np.allclose(np.triu(chunk.self_attention[0, 0], k=1), 0)  # the mask hides the future
    assert inspected.seconds > 0


def test_long_recordings_are_chunked_and_each_chunk_placed_in_time():
    audio = np.concatenate([speech_like(6.0, seed=2), np.zeros(8_000, np.float32), speech_like(6.0, seed=3)])
    inspected = inference.transcribe_with_attention(tiny_recognizer("lstm"), audio)
    assert len(inspected.chunks) == 2 and inspected.chunks[1].start_s > 5.5
    timed = timed_cross_attention(inspected.chunks, len(audio) / 16_000, attention_choices(1, 2)[0])
    first_rows = len(inspected.chunks[0].output_labels)
    second_chunk_start = int(round(inspected.chunks[1].start_s / 0.02))
    assert timed.weights.shape[0] == first_rows + len(inspected.chunks[1].output_labels)
    assert timed.weights[first_rows:, :second_chunk_start].sum() == 0  # chunk 2 only attends to its own audio
    assert np.allclose(timed.weights.sum(axis=1), 1, atol=1e-4)


def test_cross_attention_hover_names_the_character_and_the_time():
    figure = attention_heatmap(np.full((2, 3), 1 / 3), ["a", " "], ["0.00 s", "0.02 s", "0.04 s"],
                               input_title="time (s)", input_positions=[0.0, 0.02, 0.04])
    trace = figure.data[0]
    assert list(trace.y) == ["a (step 1)", "␣ (step 2)"] and list(trace.x) == [0.0, 0.02, 0.04]
    assert "%{y}" in trace.hovertemplate and "%{x:.2f}" in trace.hovertemplate


def test_references_are_compared_as_the_models_can_write_them():
    assert comparable_reference('The "lower-case";  Middle Ages.') == "the lower-case middle ages."
    assert evaluation.lab_scores("the lower-case middle ages.", 'The "lower-case"; Middle Ages.')["cer"] == 0


def test_example_notes_agree_with_what_the_shipped_models_heard():
    """A note once said the models trained on synthetic voices only, while each column said it heard real speech."""
    heard_real = [name for name in list_checkpoints("asr")
                  if read_card(name)["training"]["recipe"].get("real_speech_repeats")]
    for example in load_examples():
        assert not (heard_real and "synthetic voices only" in example.note), (example.id, heard_real)
        if example.kind == "real":  # the real examples are evaluation clips: no model trained on them
            assert (paths.SHARED_DATA / "ljspeech-1.1" / "wavs" / f"{example.id}.wav").exists() or not paths.SHARED_DATA.exists()
            assert "no model heard it in training" in example.note


def test_shipped_examples_have_references_and_stay_small():
    examples = load_examples()
    assert {example.kind for example in examples} == {"real", "synthesized"}
    assert all(example.text.strip() for example in examples)
    total = sum((EXAMPLES_DIR / example.file).stat().st_size for example in examples)
    assert total < 3_000_000


@pytest.mark.browser
def test_user_picks_an_example_then_uploads_a_clip_and_a_corrupt_file(page, app_url, tmp_path):
    page.goto(f"{app_url}/speech")
    wait_for_app(page, "1 · Audio", timeout_ms=180_000)
    assert_no_exception(page)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(BAD_AUDIO["corrupt"][0])
    if not list_checkpoints("asr"):
        page.get_by_text("No speech recognizer checkpoint").first.wait_for()
    else:
        examples = load_examples()
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name=examples[-1].label).click()
        wait_for_app(page, "Where each decoder listened", timeout_ms=300_000)
        assert_no_exception(page)
        assert page.get_by_test_id("stCode").count() == len(list_checkpoints("asr")) + 1  # greedy, and PocketSphinx
        assert page.get_by_text("PocketSphinx (reference)").count() == 1
        assert page.locator(".js-plotly-plot").count() >= 6  # waveform, spectrogram, alignments, heatmaps
        page.screenshot(path=str(ARTIFACTS / "speech-lab-desktop-greedy.png"))
        page.get_by_text("Also search with a beam").click()  # beam search only when asked for
        wait_for_app(page, "beam search", timeout_ms=300_000)  # "… beam search changed n character(s) …"
        assert page.get_by_test_id("stCode").count() == 2 * len(list_checkpoints("asr")) + 1
        page.get_by_text("beam 4").last.click()  # inspect the beam-search decode
        wait_for_app(page, "Where each decoder listened", timeout_ms=300_000)
        assert_no_exception(page)
        assert page.get_by_role("radio", name="beam 4").last.is_checked()
        page.screenshot(path=str(ARTIFACTS / "speech-lab-example-transcribed.png"))  # the step the final shot replaces
        for name in list_checkpoints("asr"):  # a model trained with a CTC head shows what that head hears, in its tab
            card = read_card(name)
            if card["architecture"]["config"].get("ctc_head"):
                page.get_by_role("tab", name=f"({name.split('/')[-1]})").click()
                heading = page.locator("text=What the CTC head hears >> visible=true").first  # the open tab's own
                heading.wait_for(timeout=60_000)
                heading.evaluate("node => node.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / f"speech-lab-ctc-{name.split('/')[-1]}.png"))

        page.get_by_text("a file").first.click()
        wait_for_app(page)
        page.locator('input[type="file"][accept*=".wav"]').set_input_files(str(EXAMPLES_DIR / "LJ001-0004.flac"))
        page.wait_for_timeout(1_000)
        wait_for_app(page, "Where each decoder listened", timeout_ms=300_000)
        assert page.get_by_text("Against the reference").count() == 0  # an upload has no reference until one is typed
        reference = page.get_by_label("Reference transcript (to score against; leave empty to skip)")
        reference.fill("produced the block books, which were the immediate predecessors of the true printed book,")
        reference.press("Enter")
        wait_for_app(page, "Against the reference", timeout_ms=300_000)
        assert_no_exception(page)
        assert page.get_by_text("Damerau-Levenshtein on homework tokens").count() >= 1
    page.get_by_text("a file").first.click()
    wait_for_app(page)
    page.locator('input[type="file"][accept*=".wav"]').set_input_files(str(corrupt))
    wait_for_app(page, "This audio cannot be used", timeout_ms=120_000)
    assert_no_exception(page)


@pytest.mark.browser
def test_on_a_phone_the_controls_come_first_and_the_heatmap_scrolls_sideways(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{app_url}/speech")
    wait_for_app(page, "1 · Audio", timeout_ms=300_000)
    assert page.get_by_text("Audio from").first.bounding_box()["y"] < 844  # on the first screen, the intro folded away
    assert not page.get_by_text("homework's speech recognizer").first.is_visible()
    if list_checkpoints("asr"):
        wait_for_app(page, "Where each decoder listened", timeout_ms=300_000)
        assert_no_exception(page)
        heatmap = page.locator("[class*='st-key-attention-']").first
        scroll_width, client_width = heatmap.evaluate("node => [node.scrollWidth, node.clientWidth]")
        assert client_width < 390 < 720 <= scroll_width  # kept readable: wider than the phone, scrolled sideways
        assert page.locator("[class*='st-key-cross-'] .main-svg").first.bounding_box()["width"] >= 720  # drawn wide
        heatmap.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "speech-lab-phone-heatmap.png"))
    page.set_viewport_size({"width": 390, "height": 4000})
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(ARTIFACTS / "speech-lab-phone.png"))
    context.close()


def test_ctc_head_probabilities_are_placed_in_time_beside_the_attention():
    model, audio = tiny_recognizer("lstm"), speech_like(11.0, seed=2)  # two chunks
    inspected = inference.transcribe_with_attention(model, audio, DecodingOptions(beam_width=2, ctc_weight=0.3))
    assert len(inspected.chunks) == 2
    for chunk in inspected.chunks:
        assert chunk.ctc_posteriors.shape == (chunk.cross_attention.shape[-1], 35)
        assert np.allclose(chunk.ctc_posteriors.sum(axis=1), 1, atol=1e-4)
    timed = timed_ctc(inspected.chunks, 11.0)
    assert timed.output_labels[0] == "@" and "<" not in timed.output_labels and ">" not in timed.output_labels
    assert timed.weights.shape[1] == len(timed.times) == round(11.0 / inspected.chunks[0].frame_seconds) + 1
    second = inspected.chunks[1]
    first_column = round(second.start_s / second.frame_seconds)  # the second chunk's frames start where its audio does
    assert np.allclose(timed.weights[0, first_column], second.ctc_posteriors[0, 2], atol=1e-6)
    assert len(ctc_figure(log_mel(audio).numpy(), timed).data) == 3  # spectrogram, not-blank curve, probabilities
    assert tiny_recognizer("transformer").ctc is None  # and without a CTC head nothing is computed
    assert inference.transcribe_with_attention(tiny_recognizer("transformer"), audio[:16000]).chunks[0].ctc_posteriors is None


def test_a_recognizer_trained_elsewhere_joins_as_a_column_for_this_visitor_only(app, tmp_path):
    model = tiny_recognizer("transformer")
    card = {"architecture": architecture_of(model), "task": "asr", "title": "trained elsewhere",
            "training": {"best_epoch": 1, "epochs_done": 1}, "decoding": {"ctc_weight": 0.0}, "metrics": {}}
    save_checkpoint(model, card, "asr/on-a-gpu", root=tmp_path)
    files = [(f"on-a-gpu{suffix}", (tmp_path / "asr" / f"on-a-gpu{suffix}").read_bytes(), "application/octet-stream")
             for suffix in (".safetensors", ".json")]
    app.file_uploader(key="your_asr").set_value(files).run(timeout=300)
    assert not app.exception and not app.error
    headings = [subheader.value for subheader in app.subheader]
    assert any("on-a-gpu-" in heading for heading in headings)
    assert len(app.code) == TRANSCRIPTS + 1  # its transcript beside the shipped models'
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert any(f": {parameters:,} parameters." in success.value for success in app.success)  # its size, counted
    app.file_uploader(key="your_asr").set_value([files[0]]).run(timeout=300)
    assert "exactly two files" in app.error[0].value and len(app.code) == TRANSCRIPTS
    tampered = (files[0][0], files[0][1][:-4] + b"\x00\x00\x00\x00", files[0][2])
    app.file_uploader(key="your_asr").set_value([tampered, files[1]]).run(timeout=300)
    assert "not the ones this card describes" in app.error[0].value and len(app.code) == TRANSCRIPTS


def test_the_score_table_shows_edit_counts_whole_and_scores_to_three_decimals():
    shown = lab_score_table({"greedy": "that situ"}, "that situation").to_html()
    assert ">5<" in shown and ">5.000<" not in shown and ">0.357<" in shown  # Levenshtein 5, CER 5/14
