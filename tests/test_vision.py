"""The Vision lab's protocol and commands, on the shipped KMNIST checkpoints and on a shortened run."""
import json
import subprocess
import sys

import numpy as np
import pytest

from core import paths
from core.checkpoints import read_card
from core.vision import protocol
from core.vision.data import load_kmnist_10k, prepare_image
from core.vision.inference import checkpoint_name, classify, load_examples, load_model
from core.vision.model import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_shipped_kmnist_cards_carry_the_whole_sweep(variant):
    card = read_card(checkpoint_name("kmnist", variant))
    assert card["trainable_parameters"] == 420_906
    assert {(run["variant"], run["learning_rate"]) for run in card["sweep"]} == {
        (v, rate) for v in VARIANTS for rate in (0.00001, 0.0005, 0.01)}
    assert all(len(run["val_accuracy"]) == len(run["train_loss"]) == 20 for run in card["sweep"])
    assert card["dataset"]["sizes"] == {"train": 8000, "val": 1000, "test": 1000}


def test_shipped_maxpool_model_reaches_the_target_and_its_card_is_honest():
    model, card = load_model("cnn/kmnist-maxpool")
    assert card["metrics"]["test_accuracy"] >= 0.90
    data = load_kmnist_10k(seed=card["dataset"]["split_seed"])
    report = protocol.test_report(model, data)
    assert report["accuracy"] == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-6)
    assert np.asarray(report["confusion_matrix"]).sum() == 1000


def test_evaluate_and_classify_commands_print_json():
    run = lambda *args: subprocess.run([sys.executable, "-m", "core", *args], cwd=paths.REPO_ROOT,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    evaluated = run("evaluate", "cnn/kmnist-maxpool", "--split", "test", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["n"] == 1000 and result["accuracy"] == pytest.approx(read_card("cnn/kmnist-maxpool")["metrics"]["test_accuracy"])

    example = load_examples("kmnist")[0]
    classified = run("classify", str(example["path"]), "--model", "cnn/kmnist-maxpool", "--json")
    assert classified.returncode == 0, classified.stderr
    result = json.loads(classified.stdout)
    assert set(result["probabilities"]) == set(read_card("cnn/kmnist-maxpool")["dataset"]["classes"])
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    missing = run("classify", "no-such-file.png", "--json")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_shipped_models_classify_most_shipped_examples_correctly():
    examples = load_examples("kmnist")
    assert len(examples) == 30
    for variant in VARIANTS:
        model, card = load_model(checkpoint_name("kmnist", variant))
        right = sum(classify(model, card, prepare_image(ex["path"].read_bytes())).label == ex["class_name"]
                    for ex in examples)
        assert right >= 24, f"{variant}: {right}/30"


def test_protocol_picks_the_rate_by_validation_and_writes_both_checkpoints(tmp_path, monkeypatch):
    small = load_kmnist_10k()
    images, labels = small.splits["train"]
    small.splits["train"] = (images[:400], labels[:400])
    monkeypatch.setattr(protocol, "load_dataset", lambda name: small)
    recipe = protocol.recipe_for("kmnist", epochs=2)
    result = protocol.run_protocol("kmnist", recipe, checkpoints_dir=tmp_path / "ckpt", runs_dir=tmp_path / "runs", quiet=True)
    maxpool = {run["learning_rate"]: run["final_val_accuracy"] for run in result["sweep"] if run["variant"] == "maxpool"}
    assert result["selected_learning_rate"] == max(maxpool, key=maxpool.get)
    for variant in VARIANTS:
        card = read_card(checkpoint_name("kmnist", variant), tmp_path / "ckpt")
        assert card["training"]["selected_learning_rate"] == result["selected_learning_rate"]
        assert len(card["sweep"]) == 6 and len(card["curves"]["val_accuracy"]) == 2
    # A second call resumes every finished run instead of training again.
    again = protocol.run_protocol("kmnist", recipe, checkpoints_dir=tmp_path / "ckpt", runs_dir=tmp_path / "runs", quiet=True)
    assert again["sweep"] == result["sweep"]
