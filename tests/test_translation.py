"""Translation lab core: data and normalisation, the bilinear attention, training protocol, shipped checkpoints, CLI."""
import json

import pytest
import torch

from core import paths
from core.__main__ import REGISTRARS, main
from core.cli import build_parser
from core.errors import BadInputError
from core.translation import data, evaluation, training
from core.translation.cli import recipe_from_args
from core.translation.inference import MODEL_LABELS, load_translator
from core.translation.model import BilinearAttention, Translator, TranslatorConfig


@pytest.fixture(scope="module")
def vocabularies():
    return data.build_vocabularies(data.load_pairs("train"))


def test_splits_have_the_homework_sizes_and_spanish_is_the_source():
    sizes = {split: len(data.load_pairs(split)) for split in data.SPLITS}
    assert sizes == {"train": 10_483, "val": 1_000, "test": 1_000}
    first = data.load_pairs("train")[0]
    assert first == data.Pair(spanish="tom fue despedido .", english="tom was dismissed .")


def test_vocabularies_hold_the_training_characters_after_four_specials(vocabularies):
    source, target = vocabularies
    assert len(source) == len(target) == 34  # 30 characters + PAD, SOS, EOS, UNK
    assert source.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert source.encode("hola", add_sos=True, add_eos=True)[0] == data.SOS
    assert source.encode("h3") == [source.index["h"], data.UNK]
    ids = target.encode("hi .", add_eos=True) + target.encode("junk")
    assert target.decode(ids) == "hi ."  # decoding stops at the stop token


def test_normalise_lowercases_strips_accents_and_reports_each_change(vocabularies):
    source, _ = vocabularies
    result = data.normalise("¿Dónde ESTÁ el niño?", source)
    assert result.text == "donde esta el nino ?"  # as a person reads it
    assert result.model_input == " donde esta el nino ?"  # the course turned '¿' into a space: the encoder reads one
    assert result.unknown == []
    joined = " ".join(result.changes)
    for reported in ("'¿' -> space", "'ó' -> 'o' (accent removed)", "'Á' -> 'a' (lowercased, accent removed)", "'ñ' -> 'n'"):
        assert reported in joined
    assert data.normalise("tengo hambre .", source).changes == []  # already in the data's form


def test_normalise_leaves_data_sentences_as_they_are(vocabularies):
    """The page offers test sentences as input: normalising them must not change what the model is fed. The only
    exceptions are the few questions whose '¿' stood mid-sentence ("tom donde estas ?"): typed without '¿' they
    cannot be told from the 99% whose '¿' began them, and get the leading space those have; and one sentence that
    starts with a space but is no question or exclamation (" no significa no .")."""
    source, _ = vocabularies
    changed = []
    for split in data.SPLITS:
        for pair in data.load_pairs(split):
            result = data.normalise(pair.spanish, source)
            assert result.unknown == [] and result.text == pair.spanish.strip()
            if result.model_input != pair.spanish:
                changed.append(pair.spanish)
            else:  # at most the note on the leading space the encoder reads
                assert [change for change in result.changes if "leading" not in change] == []
    assert 0 < len(changed) <= 12, changed
    for pair in data.example_pairs(8):
        assert data.normalise(pair.spanish, source).model_input == pair.spanish


@pytest.mark.parametrize("typed", ["¿Dónde está la estación?", "donde esta la estacion ?", "donde esta la estacion?",
                                   "  ¿Dónde  está la estación ?  ", "Donde esta la estacion?"])
def test_a_question_normalises_the_same_with_or_without_its_opening_mark(typed, vocabularies):
    """The data writes the opening '¿' as one leading space; a question typed without it is read the same way."""
    result = data.normalise(typed, vocabularies[0])
    assert result.text == "donde esta la estacion ?" and result.model_input == " donde esta la estacion ?"


@pytest.mark.parametrize("typed, expected", [("  hola  amigo .", "hola amigo ."), ("'hola'", "hola"),
                                             ("Tom, ¿dónde estás?", "tom donde estas ?"), ("¡Hola!", "hola !"),
                                             ("¿Dónde está la estación?", "donde esta la estacion ?")])
def test_no_stray_leading_or_doubled_spaces(typed, expected, vocabularies):
    result = data.normalise(typed, vocabularies[0])
    assert result.text == expected and not result.text.startswith(" ") and "  " not in result.text
    assert result.model_input.lstrip(" ") == expected  # the encoder's input differs by the leading space alone


def test_normalise_names_characters_the_model_never_saw(vocabularies):
    source, _ = vocabularies
    result = data.normalise("tengo 3 gatos €", source)
    assert result.unknown == ["3", "€"]
    assert source.encode(result.text).count(data.UNK) == 2


@pytest.mark.parametrize("text", ["", "   ", "¿¡"])
def test_empty_input_is_a_user_error(text, vocabularies):
    with pytest.raises(BadInputError, match="nothing to translate"):
        data.normalise(text, vocabularies[0])


def test_too_long_input_is_a_user_error(vocabularies):
    with pytest.raises(BadInputError, match="more than the 10 these models can read"):
        data.normalise("una frase bastante larga .", vocabularies[0], max_characters=10)


def test_bilinear_attention_matches_the_formula_and_ignores_padding():
    torch.manual_seed(0)
    attention = BilinearAttention(8)
    queries, states = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    attended, weights = attention(queries, states, mask)
    assert attended.shape == (2, 3, 8) and weights.shape == (2, 3, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 2:] == 0)
    # One cell by hand: s_i = (W_q^T q)^T h_i, p = softmax(s), a = tanh(W_o [q; c] + b)
    q, h = queries[1, 2], states[1, :2]
    scores = h @ (attention.linear_in.weight @ q)
    p = scores.softmax(0)
    expected = torch.tanh(attention.linear_out(torch.cat([q, p @ h])))
    assert torch.allclose(weights[1, 2, :2], p, atol=1e-6)
    assert torch.allclose(attended[1, 2], expected, atol=1e-6)


def test_encoder_uses_half_the_hidden_size_per_direction():
    model = Translator(TranslatorConfig(source_vocab_size=34, target_vocab_size=34, hidden_size=128, attention=False))
    assert model.encoder.hidden_size == 64 and model.encoder.bidirectional
    assert model.attention is None
    ids, lengths = data.pad_batch([[4, 5, 6], [7]])
    states, mask, (h, c) = model.eval().encode(ids, lengths)
    assert states.shape == (2, 3, 128) and h.shape == c.shape == (1, 2, 128)
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert model(ids, lengths, torch.tensor([[1, 4], [1, 5]])).shape == (2, 2, 34)


def test_a_wider_encoder_is_reduced_back_to_the_decoder_size():
    model = Translator(TranslatorConfig(source_vocab_size=34, target_vocab_size=34, encoder_per_direction=128)).eval()
    assert model.encoder.hidden_size == 128 and model.bridge.in_features == 256 and model.bridge.out_features == 128
    ids, lengths = data.pad_batch([[4, 5, 6], [7]])
    states, _, (h, c) = model.encode(ids, lengths)
    assert states.shape == (2, 3, 128) and h.shape == c.shape == (1, 2, 128)
    legacy = {key: value for key, value in TranslatorConfig(34, 34).__dict__.items() if key != "encoder_per_direction"}
    assert Translator(TranslatorConfig(**legacy)).bridge is None  # cards written before the option still load


@pytest.fixture
def tiny_data(monkeypatch, tmp_path):
    """Train on 96 pairs and score on 20, into temporary runs/ and checkpoints/ folders."""
    load_pairs = data.load_pairs
    sizes = {"train": 96, "val": 20, "test": 20}
    monkeypatch.setattr(data, "load_pairs", lambda split, root=None: load_pairs(split, root)[: sizes[split]])
    monkeypatch.setattr(paths, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path / "checkpoints")
    monkeypatch.setattr(evaluation, "REPORTED_BEAMS", (1, 2))
    return tmp_path


def test_training_writes_a_card_with_curves_and_resumes(tiny_data):
    recipe = training.TranslationRecipe(epochs=2, batch_size=32, seed=3)
    partial = training.train("tiny", attention=True, recipe=recipe, quiet=True, stop_after_epoch=1)
    assert partial["training"]["epochs_completed"] == 1 and partial["training"]["epochs"] == 2
    card = training.train("tiny", attention=True, recipe=recipe, quiet=True)  # resumes the same run
    assert card["curves"]["train_loss"][0] == partial["curves"]["train_loss"][0]
    assert card["training"]["epochs_completed"] == 2
    assert card["name"] == "mt/tiny"
    assert card["curves"]["epoch"] == [1, 2]
    assert card["curves"]["train_loss"][1] < card["curves"]["train_loss"][0]
    assert {"test_error_rate_greedy", "test_exact_matches_beam2", "test_ms_per_sentence_greedy"} <= set(card["metrics"])
    assert card["dataset"]["splits"] == {"train": 96, "val": 20, "test": 20}
    assert card["architecture"]["config"]["hidden_size"] == 128
    command = card["training"]["command"].split()
    assert command[:5] == ["python", "-m", "core", "train", "mt"]
    rerun = build_parser(REGISTRARS).parse_args(command[3:])  # the card's command reruns this recipe
    assert (rerun.name, rerun.attention, recipe_from_args(rerun)) == ("tiny", True, recipe)

    again = training.train("tiny", attention=True, recipe=recipe, quiet=True)
    assert again["curves"] == card["curves"]  # the finished run is picked up from runs/, not trained again
    assert again["weights"]["sha256"] == card["weights"]["sha256"]

    loaded = load_translator("mt/tiny")
    result = loaded.translate("Tengo hambre.", beam_width=2)
    assert result.normalised.text == "tengo hambre ."
    assert len(result.attention) == len(result.output_tokens)
    assert all(len(row) == len(result.source_characters) for row in result.attention)


# ---- shipped checkpoints -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {name: load_translator(name) for name in MODEL_LABELS}


def test_shipped_models_beat_the_students_and_beam_search_helps(shipped):
    """Students reported (greedy) 0.3488-0.3808 with attention and 0.5002-0.5048 without."""
    attention = shipped["mt/spa-eng-attn"].card["metrics"]
    plain = shipped["mt/spa-eng-noattn"].card["metrics"]
    assert attention["test_error_rate_greedy"] < 0.3488
    assert plain["test_error_rate_greedy"] <= 0.50
    assert attention["test_error_rate_greedy"] < plain["test_error_rate_greedy"] - 0.1
    for metrics in (attention, plain):
        assert metrics["test_error_rate_beam4"] < metrics["test_error_rate_greedy"]
        assert metrics["test_error_rate_beam8"] < metrics["test_error_rate_greedy"]
    for card in (shipped["mt/spa-eng-attn"].card, shipped["mt/spa-eng-noattn"].card):
        assert len(card["curves"]["val_error_rate"]) == card["training"]["epochs"] == 50
        assert card["training"]["learning_rate"] == 0.003 and card["training"]["batch_size"] == 64
        assert card["metrics"]["val_error_rate"] == min(card["curves"]["val_error_rate"])


def test_shipped_cards_reproduce_when_rescored(shipped):
    """Re-decode the card's example sentences: the checkpoint must give exactly what was recorded."""
    for loaded in shipped.values():
        for example in loaded.card["examples"][:6]:
            assert loaded.translate(example["spanish"]).translation == example["prediction"]


def test_evaluate_command_scores_a_slice_of_the_test_split(capsys):
    assert main(["evaluate", "mt/spa-eng-attn", "--split", "test", "--limit", "40", "--beam", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sentences"] == 40 and result["beam_width"] == 3
    assert 0 <= result["error_rate"] < 0.6


def test_translate_command_reports_normalisation_and_unknown_characters(capsys):
    assert main(["translate", "¡Tengo 2 perros!", "--beam", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["normalised"] == "tengo 2 perros !" and result["model_input"] == " tengo 2 perros !"
    assert result["unknown_characters"] == ["2"]
    assert any("'¡' -> space" in change for change in result["changes"])
    assert result["translation"] and result["milliseconds"] > 0


def test_translate_command_refuses_empty_input(capsys):
    assert main(["translate", "  ", "--json"]) == 2
    assert "nothing to translate" in capsys.readouterr().err
