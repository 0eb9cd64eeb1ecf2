"""The speech recognizers' training data and run bookkeeping: mixing real speech, on-the-fly augmentation, resumes."""
import argparse
import json
from dataclasses import asdict

import numpy as np
import pytest
import soundfile
import torch

from safetensors.torch import save_file

from core import paths
from core.checkpoints import architecture_of, read_card, save_checkpoint
from core.decoding import DecodingOptions
from core.errors import GlassboxError
from core.speech import dataset, evaluation, inference
from core.speech.card import decoding_summary, training_data_summary
from core.speech.cli import corpus_entry
from core.speech.corpus.augment import AUGMENT_PRESETS
from core.speech.corpus.synth import engine_installed, synth_ljspeech
from core.speech.dataset import SpeechSet
from core.speech.evaluation import CHUNK_SECONDS, DECODE_CTC_WEIGHTS, tune_chunk_seconds, tune_ctc_weight
from core.speech.features import FEATURES
from core.speech.inference import card_decoding, load_model
from core.speech.recipe import SpeechRecipe, corpus_and_repeats, epoch_draw, selection_metric, train_command
from core.speech.training import export_checkpoint, resumable_config, warm_start, warm_start_encoder
from core.speech.corpus.real_speech import (
    assert_no_evaluation_leak,
    other_voices_clips,
    real_ljspeech_eval_clips,
    training_clips,
    validation_clips,
)
from core.speech.model import SpeechRecognizer, SpeechRecognizerConfig, speech_transformer_config


@pytest.fixture(scope="module")
def real_set(tmp_path_factory) -> SpeechSet:
    """Three real training clips, their features cached in a temporary folder."""
    cache = tmp_path_factory.mktemp("cache")
    original, paths.CACHE = paths.CACHE, cache
    try:
        yield SpeechSet(training_clips()[:3], paths.SHARED_DATA, quiet=True)
    finally:
        paths.CACHE = original


def test_augmentation_is_fixed_by_epoch_and_position(real_set):
    plain_copy = real_set.select([0, 1, 2, 0])  # the fourth is a second copy of the first clip
    repeated = plain_copy.with_augmentation(AUGMENT_PRESETS["default"](), seed=42)
    assert plain_copy.augment is None  # a new set: the one it came from stays as it was
    first, again, next_epoch = repeated.batch([0, 1, 2, 3], epoch=3), repeated.batch([0, 1, 2, 3], epoch=3), repeated.batch([0, 1, 2, 3], epoch=4)
    assert torch.equal(first["features"], again["features"])  # a resumed epoch sees the same draws
    assert not torch.equal(first["features"], next_epoch["features"])
    copy_a, copy_b = first["features"][0, : first["lengths"][0]], first["features"][3, : first["lengths"][3]]
    assert copy_a.shape != copy_b.shape or not torch.equal(copy_a, copy_b)  # each copy gets its own draw
    plain = real_set.batch([0, 1, 2])
    assert torch.equal(plain["tokens"], first["tokens"][:3])  # augmentation never touches the targets
    ratio = first["lengths"][:3].float() / plain["lengths"].float()
    assert torch.all((ratio > 0.85) & (ratio < 1.15))  # speed perturbation stays within 0.9-1.1


def test_specaugment_only_works_on_cached_features(real_set, monkeypatch):
    part = real_set.select([0, 1]).with_augmentation(AUGMENT_PRESETS["specaugment"](), seed=1)
    monkeypatch.setattr(dataset, "load_audio", lambda *args, **kwargs: pytest.fail("audio was read again"))
    batch = part.batch([0, 1], epoch=0)
    assert torch.equal(batch["lengths"], real_set.batch([0, 1])["lengths"])


def test_evaluation_clips_can_never_train():
    assert_no_evaluation_leak(training_clips())
    with pytest.raises(ValueError):
        assert_no_evaluation_leak(training_clips()[:5] + real_ljspeech_eval_clips()[:1])


def test_a_run_started_before_new_config_fields_still_resumes(tmp_path):
    config, recipe = SpeechRecognizerConfig(), SpeechRecipe()
    current = {"config": asdict(config), "recipe": asdict(recipe), "features": asdict(FEATURES)}
    older = json.loads(json.dumps(current))
    del older["config"]["ctc_head"], older["recipe"]["augment"]  # fields the code gained since the run started
    (tmp_path / "config.json").write_text(json.dumps(older))
    (tmp_path / "state.json").write_text("{}")
    assert resumable_config(tmp_path, current, SpeechRecognizerConfig) == older
    changed = json.loads(json.dumps(current))
    changed["recipe"]["augment"] = "default"  # a new field set to something else is a different experiment
    assert resumable_config(tmp_path, changed, SpeechRecognizerConfig) == changed


def test_train_command_rebuilds_each_recipe():
    staged = SpeechRecipe(stages=[{"name": "p1", "epochs": 6, "encoder_blocks": False, "trains": "all"}])
    assert "--architecture speech-transformer --part1-epochs 6" in train_command("x", speech_transformer_config(), staged)
    mixed = SpeechRecipe(real_speech_repeats=4, augment="default", ctc_loss_weight=0.3, corpora=["original", "wide"],
                        init_from="asr/lj-lstm", clips_per_epoch=9000, real_val_clips=80, learning_rate=5e-4, warmup_epochs=1)
    command = train_command("x", SpeechRecognizerConfig(decoder="lstm"), mixed)
    for part in ["--decoder lstm", "--real-speech-repeats 4", "--augment default", "--ctc-loss-weight 0.3",
                 "--corpora original wide", "--init-from asr/lj-lstm", "--clips-per-epoch 9000", "--real-val-clips 80",
                 "--learning-rate 0.0005", "--warmup-epochs 1"]:
        assert part in command
    assert "--learning-rate" not in train_command("x", SpeechRecognizerConfig(), SpeechRecipe())


def test_a_small_corpus_of_new_voices_can_fill_more_of_each_epochs_pool_but_never_with_evaluation_sentences(
        tmp_path, monkeypatch):
    if not engine_installed("espeak-ng"):
        pytest.skip("espeak-ng is not installed (`make voices`)")
    corpus = tmp_path / "lj"
    synth_ljspeech(corpus, limit=3, voice_names=["espeak-en-us", "espeak-en-us-f3"], workers=1, quiet=True, splits=["train"])
    evaluation = [u for u in real_ljspeech_eval_clips() if u.id == "LJ001-0002"]
    monkeypatch.setattr(dataset, "real_ljspeech_eval_clips", lambda: evaluation)  # the real clip of the second row
    once = dataset.training_set(SpeechRecipe(corpora=["original"]), corpus_root=corpus, quiet=True)
    thrice = dataset.training_set(SpeechRecipe(corpora=["original:3"]), corpus_root=corpus, quiet=True)
    assert [u.id for u in once.utterances] == ["LJ001-0001", "LJ001-0003"]  # LJ001-0002's sentence is an evaluation clip's
    assert [u.id for u in thrice.utterances] == [u.id for u in once.utterances] * 3
    assert corpus_and_repeats("kokoro") == ("kokoro", 1) and corpus_and_repeats("kokoro:8") == ("kokoro", 8)
    for bad in ("kokoro:0", "kokoro:x", "kokoro:-2"):
        with pytest.raises(ValueError, match="whole number"):
            corpus_and_repeats(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="unknown voice set 'nope'"):
        corpus_entry("nope:2")
    recipe = SpeechRecipe(corpora=["original", "wide", "kokoro:8"])
    assert "--corpora original wide kokoro:8" in train_command("x", SpeechRecognizerConfig(), recipe)


def test_real_validation_clips_are_fixed_training_clips_and_choose_the_epoch():
    chosen = validation_clips(80)
    assert [u.id for u in chosen] == [u.id for u in validation_clips(80)]
    assert {u.id for u in chosen} <= {u.id for u in training_clips()}
    assert not {u.id for u in chosen} & {u.id for u in other_voices_clips() + real_ljspeech_eval_clips()}
    assert len({u.voice.split(":")[0] for u in chosen}) >= 2  # a draw over the sources, not the first folder
    assert selection_metric(SpeechRecipe(real_val_clips=80)) == "val_real_damerau_levenshtein"
    assert selection_metric(SpeechRecipe()) == "val_damerau_levenshtein"


def test_a_capped_epoch_draws_a_fixed_different_subset_each_epoch():
    recipe = SpeechRecipe(clips_per_epoch=100, seed=3)
    first, again, second = epoch_draw(1000, recipe, 0), epoch_draw(1000, recipe, 0), epoch_draw(1000, recipe, 1)
    assert first == again and len(first) == 100 == len(set(first)) and first != second
    assert all(0 <= index < 1000 for index in first + second)
    assert epoch_draw(1000, SpeechRecipe(), 0) is None and epoch_draw(50, recipe, 0) is None  # nothing to cap


def test_encoder_warm_start_copies_only_the_encoder_and_ctc_head_and_refuses_another_encoder(tmp_path, monkeypatch):
    torch.manual_seed(0)
    source = SpeechRecognizer(SpeechRecognizerConfig(decoder="transformer", encoder_layers=4, ctc_head=True))
    save_checkpoint(source, {"architecture": architecture_of(source), "task": "asr", "training": {"epochs_done": 5}},
                    "asr/base", root=tmp_path)
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    target = SpeechRecognizer(SpeechRecognizerConfig(decoder="lstm", encoder_layers=4, ctc_head=True))
    fresh_decoder = {key: value.clone() for key, value in target.decoder.state_dict().items()}
    origin = warm_start_encoder(target, "asr/base")
    for key, value in source.state_dict().items():
        if key.startswith(("encoder.", "ctc.")):
            assert torch.equal(target.state_dict()[key], value)
    assert all(torch.equal(target.decoder.state_dict()[key], value) for key, value in fresh_decoder.items())
    assert origin["loaded"] == ["encoder", "ctc"] and origin["sha256"] and origin["epochs"] == 5
    without_ctc = SpeechRecognizer(SpeechRecognizerConfig(decoder="lstm", encoder_layers=4))
    assert warm_start_encoder(without_ctc, "asr/base")["loaded"] == ["encoder"]
    with pytest.raises(GlassboxError, match="encoder_layers 4"):
        warm_start_encoder(SpeechRecognizer(SpeechRecognizerConfig(decoder="lstm", encoder_layers=2)), "asr/base")
    command = train_command("x", target.config, SpeechRecipe(init_encoder_from="asr/base"))
    assert "--init-encoder-from asr/base" in command and "--init-from " not in command
    card = {"dataset": {}, "training": {"epochs_done": 2, "init_from": origin}}
    assert training_data_summary(card).endswith("2 epochs, encoder warm-started from asr/base (5 epochs).")


def test_warm_start_copies_a_checkpoint_and_refuses_another_architecture(tmp_path, monkeypatch):
    torch.manual_seed(0)
    source = SpeechRecognizer(SpeechRecognizerConfig(decoder="lstm"))
    save_checkpoint(source, {"task": "asr", "training": {"epochs_done": 3}, "metrics": {"real_ljspeech": {"cer": 0.7}}},
                    "asr/base", root=tmp_path)
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    target = SpeechRecognizer(SpeechRecognizerConfig(decoder="lstm", ctc_head=True))  # a fresh CTC head is fine
    origin = warm_start(target, "asr/base")
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    assert origin["sha256"] and origin["metrics"] == {"real_ljspeech": {"cer": 0.7}} and origin["epochs"] == 3
    with pytest.raises(GlassboxError):
        warm_start(SpeechRecognizer(SpeechRecognizerConfig(decoder="transformer")), "asr/base")


def test_the_lab_says_what_each_model_heard():
    synthetic = {"dataset": {"voices": ["a", "b", "awb"], "held_out_of_train": ["awb"]}, "training": {"epochs_done": 15}}
    assert training_data_summary(synthetic) == "Trained on 2 synthetic voices; 15 epochs."
    mixed = {"dataset": {"voices": ["a", "b", "c"], "held_out_of_train": [], "augmentation": {"preset": "default"},
                         "real_training_speech": {"repeats_per_epoch": 6, "training": {"clips": 1414, "minutes": 93.6}}},
             "training": {"epochs_done": 6, "init_from": {"checkpoint": "asr/lj-transformer", "epochs": 15}}}
    assert training_data_summary(mixed) == ("Trained on 3 synthetic voices, 94 min of real speech (1,414 clips, 6× per "
                                            "epoch), augmented (default); 6 epochs, warm-started from asr/lj-transformer "
                                            "(15 epochs).")
    mixed["training"]["init_from"]["init_from"] = {"checkpoint": "asr/first", "epochs": 15}
    assert training_data_summary(mixed).endswith("warm-started from asr/lj-transformer (15 epochs), itself warm-started "
                                                 "from asr/first (15 epochs).")
    assert decoding_summary(synthetic) is None and decoding_summary(mixed | {"decoding": {"ctc_weight": 0.0}}) is None
    assert "weight 0.3" in decoding_summary(mixed | {"decoding": {"ctc_weight": 0.3}})


def test_joint_decoding_weight_is_chosen_on_real_validation_clips_and_travels_with_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(inference, "MAX_DECODE_STEPS", 8)  # an untrained decoder would otherwise write 97 characters
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SpeechRecognizer(SpeechRecognizerConfig(d_model=32, n_heads=2, mlp_size=64, encoder_layers=1, ctc_head=True)).eval()
    with torch.no_grad():  # a CTC head that only ever emits blank: any weight on it makes the decoder stop at once
        model.ctc.weight.zero_()
        model.ctc.bias.fill_(-10.0)
        model.ctc.bias[2] = 10.0  # `@`, the blank
    assert tune_ctc_weight(model, SpeechRecipe()) is None  # no real validation clips held out: nothing to tune on
    chosen = tune_ctc_weight(model, SpeechRecipe(real_val_clips=3))
    assert set(chosen["real_validation_cer_by_ctc_weight"]) == {str(weight) for weight in DECODE_CTC_WEIGHTS}
    by_weight = chosen["real_validation_cer_by_ctc_weight"]
    assert by_weight[str(chosen["ctc_weight"])] == min(by_weight.values())
    assert all(by_weight[str(weight)] == 1.0 for weight in DECODE_CTC_WEIGHTS if weight >= 0.5)  # empty transcripts
    save_checkpoint(model, {"task": "asr", "architecture": architecture_of(model), "decoding": {"ctc_weight": 0.3}},
                    "asr/joint", root=tmp_path)
    loaded, card = load_model("asr/joint", root=tmp_path)
    assert card_decoding(card) == DecodingOptions(ctc_weight=0.3)  # the card carries the decoding, the model only the network
    assert loaded.step_decoder(torch.randn(1, 30, 80), torch.tensor([30]), ctc_weight=0.3).weight == 0.3
    assert tune_ctc_weight(SpeechRecognizer(SpeechRecognizerConfig(d_model=32, n_heads=2, mlp_size=64)), SpeechRecipe(real_val_clips=3)) is None


def test_an_export_without_scoring_keeps_the_decoding_its_scores_were_measured_with(tmp_path, monkeypatch):
    """A resumed run re-exports after every epoch without scoring: if the best epoch is unchanged, the card keeps the
    metrics and the joint decoding weight chosen with them."""
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path / "checkpoints")
    run = tmp_path / "run"
    run.mkdir()
    config = SpeechRecognizerConfig(d_model=32, n_heads=2, mlp_size=64, encoder_layers=1, ctc_head=True)
    recipe = SpeechRecipe(epochs=2, ctc_loss_weight=0.3, real_val_clips=3)
    (run / "config.json").write_text(json.dumps({"config": asdict(config), "recipe": asdict(recipe), "features": asdict(FEATURES)}))
    history = [{"epoch": epoch, "seconds": 1.0, "train_clips": 10, "val_real_damerau_levenshtein": 0.1 * epoch} for epoch in (1, 2)]
    (run / "state.json").write_text(json.dumps({"history": history}))
    save_file(SpeechRecognizer(config).state_dict(), str(run / "best.safetensors"))
    first = export_checkpoint("joint", run, tmp_path / "no-corpus", evaluate=False, quiet=True)
    assert read_card("asr/joint")["decoding"] == {"ctc_weight": 0.0, "max_chunk_seconds": 8.0} and "metrics" not in read_card("asr/joint")
    card = read_card("asr/joint") | {"metrics": {"real_ljspeech": {"cer": 0.5}},
                                     "decoding": {"ctc_weight": 0.7, "chosen_on": "real validation clips", "max_chunk_seconds": 4.0}}
    save_checkpoint(load_model("asr/joint")[0], card, "asr/joint")
    export_checkpoint("joint", run, tmp_path / "no-corpus", evaluate=False, quiet=True)
    again = read_card("asr/joint")
    assert again["metrics"] == {"real_ljspeech": {"cer": 0.5}} and again["decoding"]["ctc_weight"] == 0.7
    assert again["decoding"]["max_chunk_seconds"] == 4.0
    assert card_decoding(again) == DecodingOptions(ctc_weight=0.7, max_chunk_seconds=4.0)
    assert again["dataset"]["train_clips_per_epoch"] == [10, 10] and first


def test_the_chunk_length_is_chosen_on_long_validation_clips(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    (corpus / "wavs").mkdir(parents=True)
    long_text = "a transcript far longer than the ninety seven characters one decoder pass can write, so it must be cut up."
    rows = [f"LJ000-{row:04d}|x|{long_text if row % 2 else 'short.'}" for row in range(9_830)]
    (corpus / "metadata.csv").write_text("\n".join(rows) + "\n")
    for row in range(9_825, 9_830):
        soundfile.write(corpus / "wavs" / f"LJ000-{row:04d}.wav", np.zeros(1600, dtype=np.float32), 16_000)
    heard = []

    def transcribe(model, path, options):  # only 6 s chunks come out right
        heard.append((path.name, options.max_chunk_seconds))
        return {"text": long_text if options.max_chunk_seconds == 6.0 else "a transcript"}

    monkeypatch.setattr(evaluation, "transcribe_audio", transcribe)
    model = SpeechRecognizer(SpeechRecognizerConfig(d_model=32, n_heads=2, mlp_size=64, encoder_layers=1))
    trained_on_all_real_speech = SpeechRecipe(real_speech_repeats=6)  # no real clip is unseen: synthetic ones only
    chosen = tune_chunk_seconds(model, trained_on_all_real_speech, DecodingOptions(), corpus)
    assert chosen["max_chunk_seconds"] == 6.0
    assert chosen["validation_cer_by_chunk_seconds"]["6"] == 0.0
    assert set(chosen["validation_cer_by_chunk_seconds"]) == {f"{seconds:g}" for seconds in CHUNK_SECONDS}
    assert {name for name, _ in heard} == {"LJ000-9825.wav", "LJ000-9827.wav", "LJ000-9829.wav"}  # the long ones only
    heard.clear()
    for recipe in (SpeechRecipe(), SpeechRecipe(real_speech_repeats=6, real_val_clips=80)):  # real validation clips unseen
        assert "real validation clips" in tune_chunk_seconds(model, recipe, DecodingOptions(), corpus)["chunk_chosen_on"]
    real = {path.name for path in (u.audio_path for u in validation_clips(80))}
    assert {name for name, _ in heard} == real | {"LJ000-9825.wav", "LJ000-9827.wav", "LJ000-9829.wav"}
