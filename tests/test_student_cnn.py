"""A student's own homework CNN: files saved the way students save them, from classes written the way the course
skeleton writes them, are recognised, loaded strictly into Glassbox's model, and predict what the student's class
predicts; the CLI and the Vision lab show them beside the shipped models."""
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from core.__main__ import main as cli_main
from core.state_dicts import StudentCheckpointError, StudentWeights, read_student_file
from core.vision.data import prepare_image, to_model_input
from core.vision.inference import load_examples, load_model
from core.vision.student import detect_student_cnn, read_student_cnn
from tests.helpers import assert_no_exception, run_lab, wait_for_app

PRESETS = {"kmnist": dict(kernel=5, hidden=600, classes=10), "octmnist": dict(kernel=3, hidden=320, classes=4)}
PARAMETERS = {"kmnist": 420_906, "octmnist": 224_892}


class CNN(nn.Module):
    """The course skeleton's CNN with its own names (Q2.1 max-pool, Q2.2 `no_maxpool`)."""

    def __init__(self, dropout_prob, no_maxpool=False, kernel=5, hidden=600, classes=10):
        super().__init__()
        self.no_maxpool = no_maxpool
        stride = 2 if no_maxpool else 1
        self.conv1 = nn.Conv2d(1, 8, kernel_size=kernel, stride=stride, padding=kernel // 2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=stride, padding=0)
        self.fc1 = nn.Linear(16 * 6 * 6, hidden)
        self.fc2 = nn.Linear(hidden, 120)
        self.fc3 = nn.Linear(120, classes)
        self.drop = nn.Dropout(p=dropout_prob)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        x = F.relu(self.conv1(x))
        if not self.no_maxpool:
            x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.conv2(x))
        if not self.no_maxpool:
            x = F.max_pool2d(x, 2, 2)
        x = x.view(-1, 16 * 6 * 6)
        x = self.drop(F.relu(self.fc1(x)))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class RenamedCNN(nn.Module):
    """A student's rewrite: convolutions inside nn.Sequential, linear layers renamed and defined last-first."""

    def __init__(self, dropout_prob, no_maxpool=False, kernel=5, hidden=600, classes=10):
        super().__init__()
        stride = 2 if no_maxpool else 1
        pool = nn.Identity() if no_maxpool else nn.MaxPool2d(2, 2)
        self.output_layer = nn.Linear(120, classes)
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, kernel, stride, kernel // 2), nn.ReLU(), pool)
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride, 0), nn.ReLU(), pool)
        self.affine_transf1 = nn.Linear(576, hidden)
        self.affine_transf2 = nn.Linear(hidden, 120)
        self.dropout = nn.Dropout(dropout_prob)

    def forward(self, x):
        x = self.conv2(self.conv1(x.view(-1, 1, 28, 28))).flatten(1)
        x = F.relu(self.affine_transf2(self.dropout(F.relu(self.affine_transf1(x)))))
        return F.log_softmax(self.output_layer(x), dim=1)


def student_model(style=CNN, preset="kmnist", variant="maxpool", seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return style(0.3, no_maxpool=variant == "strided", **PRESETS[preset]).eval()


def saved(model: nn.Module, path):
    torch.save(model.state_dict(), path)
    return path


def pixels_over_256(count=6, seed=1) -> torch.Tensor:
    images = np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    return to_model_input(images)  # the homework's input: uint8 pixels / 256


def cli_json(capsys, *argv) -> dict:
    assert cli_main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# ---- detection and loading ------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESETS)
def test_the_skeleton_is_recognised_in_both_presets(tmp_path, preset):
    detection = detect_student_cnn(read_student_file(saved(student_model(preset=preset), tmp_path / "model.pt")))
    assert detection.task == "cnn" and detection.parameters == PARAMETERS[preset]
    assert detection.config["num_classes"] == PRESETS[preset]["classes"]
    assert detection.config["conv1_kernel"] == PRESETS[preset]["kernel"] and "variant" not in detection.config
    assert detection.variants == ["maxpool", "strided"] and "cannot tell" in detection.notes[0]
    assert detection.renamed == {}


def test_renamed_layers_are_mapped_onto_glassbox_names(tmp_path):
    detection = detect_student_cnn(read_student_file(saved(student_model(RenamedCNN), tmp_path / "model.pt")))
    assert detection.renamed == {
        "conv1.0.weight": "conv1.weight", "conv1.0.bias": "conv1.bias", "conv2.0.weight": "conv2.weight",
        "conv2.0.bias": "conv2.bias", "affine_transf1.weight": "fc1.weight", "affine_transf1.bias": "fc1.bias",
        "affine_transf2.weight": "fc2.weight", "affine_transf2.bias": "fc2.bias",
        "output_layer.weight": "fc3.weight", "output_layer.bias": "fc3.bias"}


@pytest.mark.parametrize("style", [CNN, RenamedCNN])
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("variant", ["maxpool", "strided"])
def test_the_matching_reading_predicts_what_the_students_class_predicts(tmp_path, style, preset, variant):
    theirs = student_model(style, preset, variant)
    loaded = read_student_cnn(saved(theirs, tmp_path / "model.pth"))
    assert loaded.preset == preset and set(loaded.readings) == {"maxpool", "strided"}
    images = pixels_over_256()
    ours, card = loaded.readings[variant]
    with torch.no_grad():
        torch.testing.assert_close(ours(images), theirs(images), rtol=0, atol=1e-5)
        other = loaded.readings["strided" if variant == "maxpool" else "maxpool"][0]
        assert not torch.allclose(other(images), theirs(images), atol=1e-3)  # the two readings really differ
    assert card["trainable_parameters"] == PARAMETERS[preset] and len(card["dataset"]["classes"]) == PRESETS[preset]["classes"]


def test_safetensors_and_training_checkpoints_load_too(tmp_path):
    model = student_model()
    save_file(dict(model.state_dict()), str(tmp_path / "model.safetensors"))
    torch.save({"epoch": 20, "model_state_dict": model.state_dict()}, tmp_path / "checkpoint.pt")
    for name in ("model.safetensors", "checkpoint.pt"):
        loaded = read_student_cnn(tmp_path / name)
        torch.testing.assert_close(loaded.readings["maxpool"][0].fc3.bias, model.fc3.bias)


def weights_of(model: nn.Module, **changes) -> StudentWeights:
    tensors = dict(model.state_dict())
    for key, value in changes.items():
        if value is None:
            tensors.pop(key)
        else:
            tensors[key] = value
    return StudentWeights(tensors, "torch.save zip")


@pytest.mark.parametrize("changes, message", [
    ({"fc2.weight": torch.zeros(100, 600), "fc3.weight": torch.zeros(10, 100)}, r"fc2 has a weight of shape \(100, 600\); "
     r"the Kuzushiji-MNIST preset \(conv1 kernel 5\) expects \(120, 600\)"),
    ({"fc3.weight": torch.zeros(4, 120), "fc3.bias": torch.zeros(4)}, r"fc3 has a weight of shape \(4, 120\).*expects \(10, 120\)"),
    ({"conv1.weight": torch.zeros(8, 1, 7, 7)}, r"expected \(8, 1, 5, 5\).*or \(8, 1, 3, 3\)"),
    ({"fc1.bias": None}, "fc1 has no bias"),
    ({"fc3.weight": None, "fc3.bias": None}, "2 linear layers"),
    ({"bn1.running_mean": torch.zeros(8)}, "bn1.running_mean belongs to no convolution"),
])
def test_wrong_or_partial_tensors_name_the_first_layer_that_does_not_fit(changes, message):
    with pytest.raises(StudentCheckpointError, match=message):
        detect_student_cnn(weights_of(student_model(), **changes))


def test_a_renamed_layer_that_does_not_fit_is_named_both_ways():
    with pytest.raises(StudentCheckpointError, match=r"fc1 \(affine_transf1\) has a weight of shape \(600, 400\)"):
        detect_student_cnn(weights_of(student_model(RenamedCNN), **{"affine_transf1.weight": torch.zeros(600, 400)}))


def test_what_is_clearly_no_cnn_is_left_to_the_other_labs():
    translator = {"encoder.embedding.weight": torch.zeros(40, 64), "encoder.lstm.weight_ih_l0": torch.zeros(256, 64),
                  "generator.weight": torch.zeros(30, 128), "generator.bias": torch.zeros(30)}
    assert detect_student_cnn(StudentWeights(translator, "torch.save zip")) is None
    mlp = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    assert detect_student_cnn(StudentWeights(dict(mlp.state_dict()), "torch.save zip")) is None


def test_a_whole_pickled_model_is_refused_before_anything_runs(tmp_path):
    torch.save(student_model(), tmp_path / "model.pt")
    with pytest.raises(StudentCheckpointError, match="whole pickled model"):
        read_student_cnn(tmp_path / "model.pt")


# ---- command line ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESETS)
def test_inspect_checkpoint_describes_a_student_file(tmp_path, capsys, preset):
    path = saved(student_model(RenamedCNN, preset), tmp_path / "model.pt")
    report = cli_json(capsys, "inspect-checkpoint", str(path))
    assert report["parameters"] == PARAMETERS[preset]
    [detection] = report["detections"]
    assert detection["task"] == "cnn" and detection["variants"] == ["maxpool", "strided"]
    assert detection["renamed"]["affine_transf1.weight"] == "fc1.weight"


def test_classify_with_a_student_file_shows_both_readings_unless_told(tmp_path, capsys):
    path = saved(student_model(variant="strided"), tmp_path / "model.pt")
    image = load_examples("kmnist")[0]["path"]
    both = cli_json(capsys, "classify", str(image), "--model", str(path))
    assert both["variant"] == "maxpool" and "cannot tell" in both["variant_note"]
    assert set(both["readings"]) == {"maxpool", "strided"}
    strided = cli_json(capsys, "classify", str(image), "--model", str(path), "--variant", "strided")
    assert "readings" not in strided and "variant_note" not in strided
    assert strided["label"] == both["readings"]["strided"]["label"]
    expected = student_model(variant="strided")(to_model_input(prepare_image(image.read_bytes()).pixels)).exp()[0]
    assert list(strided["probabilities"].values()) == pytest.approx(expected.tolist(), abs=1e-5)


def shipped_as_skeleton(path):
    """The shipped max-pool model's weights copied into the skeleton's class and saved as a student would."""
    shipped, card = load_model("cnn/kmnist-maxpool")
    theirs = student_model()
    theirs.load_state_dict(shipped.state_dict())
    return saved(theirs, path), card


def test_evaluate_a_student_file_scores_what_the_shipped_model_scores(tmp_path, capsys):
    path, card = shipped_as_skeleton(tmp_path / "student.pt")
    report = cli_json(capsys, "evaluate", str(path), "--split", "test")
    assert report["accuracy"] == card["metrics"]["test_accuracy"] and report["n"] == card["metrics"]["test_n"]
    assert report["variant"] == "maxpool" and "cannot tell" in report["variant_note"]
    strided = cli_json(capsys, "evaluate", str(path), "--split", "test", "--variant", "strided", "--limit", "200")
    assert "variant_note" not in strided and strided["accuracy"] < report["accuracy"]


def test_a_bad_variant_is_a_user_error(tmp_path, capsys):
    path = saved(student_model(), tmp_path / "model.pt")
    assert cli_main(["evaluate", str(path), "--variant", "avgpool"]) == 2
    assert "maxpool, strided" in capsys.readouterr().err


# ---- the Vision lab -------------------------------------------------------------------------------------------

def upload_model(app, name: str, data: bytes):
    return app.file_uploader(key="student_upload").set_value((name, data, "application/octet-stream")).run()


def file_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_the_lab_shows_your_model_as_a_third_column_and_evaluates_it():
    app = upload_model(run_lab("vision"), "model.pt", file_bytes(student_model(RenamedCNN).state_dict()))
    assert not app.exception and not app.error
    labels = [metric.label for metric in app.metric]
    assert labels[:3] == ["maxpool predicts", "strided predicts", "your model predicts"]
    assert any("read as strided instead" in caption.value for caption in app.caption)
    assert app.radio(key="student_variant").value == "maxpool"
    app.radio(key="student_variant").set_value("strided").run()
    assert not app.exception
    app.button(key="evaluate-student").click().run()
    assert not app.exception and not app.error
    assert any(metric.label == "your model (strided): test accuracy" for metric in app.metric)


@pytest.mark.parametrize("name, data, message", [
    ("model.pt", file_bytes(student_model()), "whole pickled model"),
    ("random.pt", np.random.default_rng(0).bytes(4096), "not a checkpoint torch can write"),
    ("mlp.pt", file_bytes(nn.Linear(784, 10).state_dict()), "match no homework model"),
])
def test_files_that_are_no_homework_cnn_get_a_message_and_the_page_keeps_working(name, data, message):
    app = upload_model(run_lab("vision"), name, data)
    assert not app.exception
    assert any(message in error.value for error in app.error)
    assert [metric.label for metric in app.metric][:2] == ["maxpool predicts", "strided predicts"]
    assert "your model predicts" not in [metric.label for metric in app.metric]


def test_an_octmnist_model_is_usable_without_shipped_octmnist_models_or_examples():
    app = upload_model(run_lab("vision"), "oct.pt", file_bytes(student_model(preset="octmnist").state_dict()))
    assert any("choose the OCTMNIST preset" in warning.value for warning in app.warning)
    app.get("button_group")[0].set_value("octmnist").run()
    assert not app.exception and any("No OCTMNIST" in info.value for info in app.info)
    scan = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, size=(28, 28), dtype=np.uint8)).save(scan, format="PNG")
    app.file_uploader(key="image_upload").set_value(("scan.png", scan.getvalue(), "image/png")).run()
    assert not app.exception
    assert [metric.label for metric in app.metric] == ["your model predicts"]


# ---- a real browser -------------------------------------------------------------------------------------------

def model_uploader(page):
    uploader = page.locator('[data-testid="stFileUploader"]', has_text="Your model's weights")
    return uploader.locator('[data-testid="stFileUploaderDropzoneInput"]')


@pytest.mark.browser
def test_browser_user_loads_their_model_beside_ours(app_url, page, tmp_path):
    good = saved(student_model(RenamedCNN), tmp_path / "my_cnn.pt")
    page.goto(f"{app_url}/vision")
    wait_for_app(page, "strided predicts")
    page.get_by_text("Your own model: load the CNN").click()
    model_uploader(page).set_input_files(str(good))
    wait_for_app(page, "your model predicts")
    assert_no_exception(page)
    assert page.get_by_text("affine_transf1.weight").first.is_visible()
    assert page.locator(".js-plotly-plot").count() >= 4  # probabilities, then three columns of activation maps
    page.get_by_text("your model (read as maxpool)").wait_for(state="visible")  # drawn after "your model predicts"
    page.get_by_role("tab", name="Test results").click()
    page.get_by_role("button", name="Evaluate on the test split").click()
    wait_for_app(page, "your model (maxpool): test accuracy")
    assert_no_exception(page)


@pytest.mark.browser
def test_browser_user_uploads_a_pickled_model_and_a_random_file(app_url, page, tmp_path):
    pickled, random_file = tmp_path / "whole_model.pt", tmp_path / "random.bin"
    torch.save(student_model(), pickled)
    random_file.write_bytes(np.random.default_rng(0).bytes(4096))
    page.goto(f"{app_url}/vision")
    wait_for_app(page, "strided predicts")
    page.get_by_text("Your own model: load the CNN").click()
    uploader = model_uploader(page)
    uploader.set_input_files(str(pickled))
    page.get_by_text("whole pickled model").wait_for(timeout=60_000)
    uploader.set_input_files(str(random_file))
    page.get_by_text("not a checkpoint torch can write").wait_for(timeout=60_000)
    assert_no_exception(page)
    assert page.get_by_text("strided predicts").is_visible()
