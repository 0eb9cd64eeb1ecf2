"""Checkpoints: safetensors + card round trip, hash check, refusal of pickles and of damaged files."""
import json

import pytest
import torch

from core.checkpoints import (CheckpointError, architecture_of, list_checkpoints, load_checkpoint, load_model,
                              load_uploaded_model, save_checkpoint)
from core.vision.model import HomeworkCNN, preset_config


@pytest.fixture
def saved(tmp_path):
    model = HomeworkCNN(preset_config("kmnist"))
    card = save_checkpoint(model, {"task": "cnn", "architecture": architecture_of(model), "metrics": {}}, "cnn/tiny", tmp_path)
    return model, card, tmp_path


def test_round_trip_restores_weights_and_card(saved):
    model, card, root = saved
    loaded, loaded_card = load_model("cnn/tiny", HomeworkCNN, root)
    assert loaded_card["trainable_parameters"] == 420_906
    assert loaded_card["weights"]["sha256"] == card["weights"]["sha256"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    assert not loaded.training
    assert list_checkpoints("cnn", root) == ["cnn/tiny"]


def test_tampered_weights_are_refused(saved):
    _, _, root = saved
    weights = root / "cnn" / "tiny.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint("cnn/tiny", root)


def test_missing_weights_and_missing_card_say_what_is_missing(saved):
    _, _, root = saved
    (root / "cnn" / "tiny.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint("cnn/tiny", root)
    with pytest.raises(CheckpointError, match="No model card"):
        load_checkpoint("cnn/absent", root)


def test_pickles_are_refused_before_anything_is_read(tmp_path):
    evil = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, evil)
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(str(evil))


def test_card_that_is_not_json_is_reported(saved):
    _, _, root = saved
    (root / "cnn" / "tiny.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint("cnn/tiny", root)


def test_weights_that_do_not_fit_the_architecture_are_reported(saved):
    _, _, root = saved
    card_path = root / "cnn" / "tiny.json"
    card = json.loads(card_path.read_text())
    card["architecture"]["config"]["hidden1"] = 100
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model("cnn/tiny", HomeworkCNN, root)


def test_an_uploaded_glassbox_checkpoint_loads_with_the_same_checks(tmp_path):
    model = HomeworkCNN(preset_config("kmnist"))
    card = save_checkpoint(model, {"task": "cnn", "architecture": architecture_of(model), "metrics": {}}, "cnn/up", tmp_path)
    weights = (tmp_path / "cnn" / "up.safetensors").read_bytes()
    card_bytes = (tmp_path / "cnn" / "up.json").read_bytes()
    loaded, loaded_card = load_uploaded_model(weights, card_bytes, HomeworkCNN)
    assert loaded_card["weights"]["sha256"] == card["weights"]["sha256"] and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(CheckpointError, match="not the ones this card describes"):
        load_uploaded_model(weights[:-1] + b"\x00", card_bytes, HomeworkCNN)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_uploaded_model(weights, b"{", HomeworkCNN)
    with pytest.raises(CheckpointError, match="not a Translator|holds a HomeworkCNN"):
        load_uploaded_model(weights, card_bytes, type("Translator", (torch.nn.Module,), {}))
