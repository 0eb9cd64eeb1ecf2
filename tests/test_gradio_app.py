"""The Gradio front end: a real `python gradio_app.py` on 127.0.0.1, called through gradio_client and a browser.

Each endpoint is checked against the shipped checkpoints when they exist (the API must give what `core` gives),
and against the message a visitor reads when they do not (trained speech models may not be shipped yet).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from core import checkpoints, paths
from core.speech import examples as speech_examples
from core.translation.inference import MODEL_LABELS, load_translator
from core.translation.student import load_student_file
from core.vision import inference as vision_inference
from core.vision.data import prepare_image
from tests.helpers import free_port, serve
from tests.test_student_translator import skeleton

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

START_TIMEOUT_S = 180  # import of torch + gradio on a busy 2-core machine


def shipped(name: str) -> bool:
    return (paths.CHECKPOINTS / f"{name}.json").exists()


@pytest.fixture(scope="module")
def gradio_url():
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "gradio_app.py", "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, port, "/config", "gradio.log", timeout_s=START_TIMEOUT_S, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def client(gradio_url):
    return gradio_client.Client(gradio_url, verbose=False)


def test_every_tab_is_a_named_endpoint(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/classify", "/transcribe", "/translate"} <= set(endpoints)
    assert [p["parameter_name"] for p in endpoints["/translate"]["parameters"]] == [
        "text", "beam", "student_weights", "student_vocabulary"]


def test_classify_gives_what_core_gives(client):
    example = vision_inference.load_examples("kmnist")[0]
    if not shipped("cnn/kmnist-maxpool"):
        with pytest.raises(AppError, match="No model card for 'cnn/kmnist-maxpool'"):
            client.predict(handle_file(str(example["path"])), "cnn/kmnist-maxpool", "auto", api_name="/classify")
        return
    label, seen_path, probabilities_plot, activations_plot, your_summary, your_activations = client.predict(
        handle_file(str(example["path"])), "cnn/kmnist-maxpool", "auto", None, api_name="/classify")
    model, card = vision_inference.load_model("cnn/kmnist-maxpool")
    expected = vision_inference.classify(model, card, prepare_image(example["path"].read_bytes()))
    assert label["label"] == expected.label
    confidences = {item["label"]: item["confidence"] for item in label["confidences"]}
    assert confidences[expected.label] == pytest.approx(float(expected.probabilities.max()), abs=1e-5)
    assert Image.open(seen_path).size == (168, 168)
    assert probabilities_plot["type"] == "plotly" and activations_plot["type"] == "plotly"
    heatmaps = [trace for trace in json.loads(activations_plot["plot"])["data"] if trace["type"] == "heatmap"]
    assert len(heatmaps) == 1 + 8 + 16  # the input, then every channel of conv1 and conv2
    assert "Load your own" in your_summary and your_activations is None


def test_classify_shows_your_own_model_beside_ours(client, tmp_path):
    if not shipped("cnn/kmnist-maxpool"):
        pytest.skip("no shipped CNN to compare with")
    example = vision_inference.load_examples("kmnist")[0]
    model, _ = vision_inference.load_model("cnn/kmnist-maxpool")
    torch.save(model.state_dict(), tmp_path / "model.pt")  # our weights under the skeleton's names
    label, _, probabilities_plot, _, your_summary, your_activations = client.predict(
        handle_file(str(example["path"])), "cnn/kmnist-maxpool", "auto", handle_file(str(tmp_path / "model.pt")),
        api_name="/classify")
    assert f"read as maxpool: **{label['label']}**" in your_summary and "420,906 parameters" in your_summary
    bars = [trace["name"] for trace in json.loads(probabilities_plot["plot"])["data"]]
    assert bars == ["maxpool", "your model"] and your_activations["type"] == "plotly"


def test_classify_explains_a_file_that_is_not_an_image(client, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text, not pixels")
    with pytest.raises(AppError) as raised:
        client.predict(handle_file(str(not_an_image)), "cnn/kmnist-maxpool", "auto", api_name="/classify")
    message = str(raised.value)
    assert "image" in message.lower() and "Traceback" not in message


def test_transcribe_lists_every_recognizer_or_says_none_is_shipped(client):
    clip = speech_examples.example_path(speech_examples.load_examples()[0])
    models = checkpoints.list_checkpoints("asr")
    if not models:
        with pytest.raises(AppError, match="No speech recognizer is shipped"):
            client.predict(handle_file(str(clip)), 1, api_name="/transcribe")
        return
    table, attention_plot, no_speech = client.predict(handle_file(str(clip)), 1, api_name="/transcribe")
    assert sorted(row[0] for row in table["data"]) == models
    assert all(isinstance(row[1], str) and row[1].strip() for row in table["data"])
    assert attention_plot["type"] == "plotly" and no_speech == ""


def test_transcribe_says_no_speech_beside_the_transcripts_of_noise(client, tmp_path):
    if not checkpoints.list_checkpoints("asr"):
        pytest.skip("no speech recognizer is shipped")
    noise = tmp_path / "noise.wav"
    soundfile.write(noise, np.clip(0.8 * np.random.default_rng(0).standard_normal(3 * 16_000), -1, 1), 16_000)
    table, _, no_speech = client.predict(handle_file(str(noise)), 1, api_name="/transcribe")
    assert "No speech found" in no_speech and len(table["data"]) == len(checkpoints.list_checkpoints("asr"))
    tiny = tmp_path / "tiny.wav"
    soundfile.write(tiny, np.full(160, 0.3), 16_000)
    with pytest.raises(AppError, match="lasts only 10 ms"):
        client.predict(handle_file(str(tiny)), 1, api_name="/transcribe")


def test_translate_gives_what_core_gives(client):
    names = [name for name in MODEL_LABELS if shipped(name)]
    if not names:
        with pytest.raises(AppError, match="No translator is shipped yet"):
            client.predict("tengo hambre .", 1, api_name="/translate")
        return
    table, attention_plot, notes = client.predict("tengo hambre .", 2, api_name="/translate")
    assert notes == ""  # already in the data's form, and every character known
    expected = {name: load_translator(name).translate("tengo hambre .", 2).translation for name in names}
    assert {row[0].split(" ")[0]: row[1] for row in table["data"]} == expected
    if "mt/spa-eng-attn" in names:
        assert json.loads(attention_plot["plot"])["data"][0]["type"] == "heatmap"


def test_translate_adds_a_row_for_an_uploaded_student_model(client, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(skeleton(seed=11).state_dict(), path)
    table, _, _ = client.predict("tengo hambre .", 1, handle_file(str(path)), None, api_name="/translate")
    assert table["data"][-1][:2] == ["your model (model.pt)", load_student_file(path).translate("tengo hambre .").translation]
    assert len(table["data"]) == len([name for name in MODEL_LABELS if shipped(name)]) + 1
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(AppError, match="broken.pt is not a checkpoint torch can write"):
        client.predict("tengo hambre .", 1, handle_file(str(broken)), None, api_name="/translate")


def test_translate_says_what_it_normalised_and_which_characters_the_models_never_saw(client):
    """The same words the Streamlit page shows, from the same `Normalised`."""
    if not shipped("mt/spa-eng-attn"):
        pytest.skip("no translator shipped")
    _, _, notes = client.predict("¿Tengo 3 perros?", 1, api_name="/translate")
    normalised = load_translator("mt/spa-eng-attn").translate("¿Tengo 3 perros?").normalised
    assert normalised.changes_note() in notes and "'¿' -> space" in notes
    assert f"**Warning:** {normalised.unknown_note()}" in notes and "'3'" in notes
    long_text = "hola " * 50
    with pytest.raises(AppError, match="more than the 50 these models can read"):
        client.predict(long_text, 1, api_name="/translate")


def test_translate_refuses_empty_text(client):
    with pytest.raises(AppError, match="Type a Spanish sentence"):
        client.predict("   ", 1, api_name="/translate")


@pytest.mark.browser
def test_browser_clicks_through_the_tabs(gradio_url, page):
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((gradio_url, "data:", "blob:")) else None)
    page.goto(gradio_url)
    page.get_by_role("tab", name="Translate").click()
    page.get_by_role("button", name="Translate", exact=True).click()
    if shipped("mt/spa-eng-attn"):
        page.get_by_text("mt/spa-eng-attn: where each English character looked").first.wait_for(timeout=60_000)
    elif not shipped("mt/spa-eng-noattn"):
        page.get_by_text("No translator is shipped yet").first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Transcribe").click()
    page.get_by_role("button", name="Transcribe", exact=True).click()
    expected = "Upload or record some speech first." if checkpoints.list_checkpoints("asr") else "No speech recognizer is shipped"
    page.get_by_text(expected).first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Classify").click()
    first = vision_inference.load_examples("kmnist")[0]
    page.get_by_text(f"{first['class_name']} (test #{first['row']})", exact=True).click()
    page.get_by_role("button", name="Classify", exact=True).click()
    if shipped("cnn/kmnist-maxpool"):
        page.get_by_text("conv2·16").first.wait_for(timeout=60_000)  # the last activation map's title
    else:
        page.get_by_text("No model card for 'cnn/kmnist-maxpool'").first.wait_for(timeout=60_000)
    assert outside == [], f"the page fetched from outside the app: {outside[:5]}"
