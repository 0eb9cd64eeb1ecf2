"""checkpoints/README.md is generated from the JSON cards and must match them."""
import json

from core import cards, paths
from core.__main__ import main as cli_main
from core.checkpoints import save_checkpoint
from core.checkpoints import architecture_of
from core.vision.model import HomeworkCNN, preset_config


def test_shipped_readme_matches_the_cards():
    assert cards.readme_is_current(), (
        f"{paths.CHECKPOINTS / cards.README_NAME} is out of date with the JSON cards: run `python -m core cards`."
    )


def _write_card(root, name, dataset_name, metrics):
    model = HomeworkCNN(preset_config("kmnist", "maxpool"))
    card = {"title": "a test card", "architecture": architecture_of(model), "metrics": metrics,
            "dataset": {"name": dataset_name, "source": "tests"}}
    return save_checkpoint(model, card, name, root)


def test_readme_lists_data_licence_metrics_and_hash(tmp_path):
    cnn = _write_card(tmp_path, "cnn/tiny", "kmnist-10k",
                      {"test_accuracy": 0.912345, "test_confusion_matrix": [[1, 0], [0, 1]], "test_n": 1000})
    asr = _write_card(tmp_path, "asr/tiny", "LJ Speech 1.1 transcripts spoken by Debian TTS voices",
                      {"real_ljspeech": {"cer": 0.25, "examples": [{"id": "x"}]}})
    text = cards.render_readme(tmp_path)
    assert text.index("`asr/tiny`") < text.index("`cnn/tiny`")  # name order, so the page is stable
    assert cnn["weights"]["sha256"] in text and asr["weights"]["sha256"] in text
    assert "CC BY-SA 4.0" in text and "public domain" in text
    assert "| test_accuracy | 0.9123 |" in text and "| test_n | 1,000 |" in text
    assert "| real_ljspeech.cer | 0.2500 |" in text
    assert "confusion_matrix" not in text and "examples" not in text  # lists are left in the JSON card


def test_check_fails_once_a_card_changes(tmp_path, capsys):
    _write_card(tmp_path, "mt/tiny", "ist-char-mt-spa-eng", {"test_error_rate_greedy": 0.5})
    assert cli_main(["cards", "--check", "--root", str(tmp_path)]) == 2
    assert cli_main(["cards", "--root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoints"] == 1
    assert "as provided by the course" in (tmp_path / "README.md").read_text()
    assert cli_main(["cards", "--check", "--root", str(tmp_path)]) == 0

    card_path = tmp_path / "mt" / "tiny.json"
    card = json.loads(card_path.read_text())
    card["metrics"]["test_error_rate_greedy"] = 0.25
    card_path.write_text(json.dumps(card))
    assert not cards.readme_is_current(tmp_path)
    assert cli_main(["cards", "--check", "--root", str(tmp_path)]) == 2
    assert "out of date" in capsys.readouterr().err
