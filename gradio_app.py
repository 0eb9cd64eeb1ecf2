"""Glassbox's Gradio front end: classify, transcribe and translate tabs over `core/`, each one also an API endpoint.

It shares nothing with the Streamlit pages except `core`: the same checkpoints, the same inference functions
and the same plotly figures. Every tab's button is a named endpoint (`/classify`, `/transcribe`,
`/translate`) that `gradio_client` can call. Nothing here reaches the internet: analytics are off, there is no
share link, and the theme uses system fonts instead of Google Fonts.

    python gradio_app.py [--host 127.0.0.1] [--port 7860]
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this at import

import argparse
import functools
import shutil
from pathlib import Path

import gradio as gr
import numpy as np

from core import checkpoints
from core.errors import BadInputError, GlassboxError
from core.speech import examples as speech_examples, figures as speech_figures, inference as speech_inference
from core.speech.card import HOW_TO_GET_CHECKPOINTS
from core.speech.features import FEATURES, load_audio, log_mel
from core.state_dicts import STUDENT_SUFFIXES
from core.translation import data as translation_data
from core.translation import figures as translation_figures
from core.translation import inference as translation
from core.translation.student import VOCABULARY_FORMAT, load_student_file
from core.vision import figures as vision_figures
from core.vision import inference as vision_inference
from core.vision.data import MAX_UPLOAD_BYTES, PreparedImage, prepare_image
from core.vision.figures import YOUR_MODEL
from core.vision.student import AMBIGUOUS_VARIANT, DEFAULT_VARIANT, read_student_cnn

DEFAULT_CNN = "cnn/kmnist-maxpool"
MAX_UPLOAD_MB = 25  # the largest upload any tab takes (audio); .streamlit/config.toml says the same
COLOURS = {"auto": None, "invert": True, "keep": False}
NO_ASR_MESSAGE = ("No speech recognizer is shipped with this copy of Glassbox yet (checkpoints/asr/ holds no model). "
                  f"{HOW_TO_GET_CHECKPOINTS} Then reload this page.")
NO_MT_MESSAGE = "No translator is shipped yet: train them with `python -m core train mt --attention` and `--no-attention`."
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def user_errors(function):
    """Show the message of any error a user can cause (bad upload, missing model) instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GlassboxError as error:
            raise gr.Error(str(error)) from error

    return wrapper


@functools.cache
def load_model(name: str):
    loaders = {"cnn": vision_inference.load_model, "asr": speech_inference.load_model}
    return loaders[name.split("/", 1)[0]](name)


@functools.cache
def load_translator(name: str) -> translation.LoadedTranslator:
    return translation.load_translator(name)


def asr_models() -> list[str]:
    """Shipped recognizers, the default (transformer) first: its attention is the one drawn."""
    names = checkpoints.list_checkpoints("asr")
    return sorted(names, key=lambda name: (name != speech_inference.DEFAULT_MODEL, name))


def shipped_translators() -> list[str]:
    present = set(checkpoints.list_checkpoints("mt"))
    return [name for name in translation.MODEL_LABELS if name in present]


# ---- endpoints: plain functions, so they can be called and tested without a browser -------------------------

@user_errors
def classify(image_path: str | None, model_name: str = DEFAULT_CNN, colours: str = "auto",
             your_model_path: str | None = None):
    """Image file -> ({class: probability}, what the model sees (28x28 shown at 168x168), probabilities, activation maps,
    and, when your own homework CNN's state_dict is given, what it predicts and its activation maps on the same scale).

    The input is a plain file, not a `gr.Image`: Gradio would decode images itself and answer a bad upload with
    its own error; here `core.vision.data.prepare_image` decodes it and explains what is wrong.
    """
    if not image_path:
        raise BadInputError("Upload an image (or pick an example) first.")
    image_bytes = Path(image_path).read_bytes()
    if len(image_bytes) > MAX_UPLOAD_BYTES:
        raise BadInputError(f"The file is {len(image_bytes) / 1e6:.1f} MB; images up to {MAX_UPLOAD_BYTES // 2**20} MB are accepted.")
    prepared = prepare_image(image_bytes, invert=COLOURS.get(colours))
    model, card = load_model(model_name)
    result = vision_inference.classify(model, card, prepared)
    probabilities = {name: float(p) for name, p in zip(result.class_names, result.probabilities)}
    compared = {card.get("variant", model_name): result}
    summary, theirs = _your_model(your_model_path, prepared)
    if theirs is not None and theirs.class_names == result.class_names:
        compared[YOUR_MODEL] = theirs
    elif theirs is not None:
        summary += " Its classes are not this model's, so the bar chart shows only ours."
    shared_top = max(float(max(r.activations["conv1"].max(), r.activations["conv2"].max()))
                     for r in [result] + ([theirs] if theirs else []))
    seen = np.kron(prepared.pixels, np.ones((6, 6), dtype=np.uint8))  # nearest-neighbour zoom, no blur
    return (
        probabilities,
        seen,
        vision_figures.probabilities_figure(result.class_names, {name: r.probabilities for name, r in compared.items()}),
        vision_figures.activation_maps_figure(prepared.pixels, result.activations, zmax=shared_top),
        summary,
        vision_figures.activation_maps_figure(prepared.pixels, theirs.activations, zmax=shared_top) if theirs else None,
    )


def _your_model(path: str | None, prepared: PreparedImage) -> tuple[str, vision_inference.Classification | None]:
    """What a visitor's own CNN predicts under each reading, in words, and the default reading's classification.

    Read afresh on every call and never cached: one visitor's weights are never served to another."""
    if not path:
        return "Load your own homework CNN (its saved state_dict) to see it classify the same image.", None
    student = read_student_cnn(Path(path))
    results = {variant: vision_inference.classify(model, card, prepared) for variant, (model, card) in student.readings.items()}
    readings = "; ".join(f"read as {variant}: **{r.label}** ({r.probabilities.max():.1%})" for variant, r in results.items())
    summary = (f"**{student.filename}**: {student.detection.architecture}, {student.detection.parameters:,} parameters. "
               f"Prediction, {readings}. {AMBIGUOUS_VARIANT} The plots show the {DEFAULT_VARIANT} reading.")
    return summary, results[DEFAULT_VARIANT]


@user_errors
def transcribe(audio_path: str | None, beam: int = 1):
    """Audio file -> (one row per shipped recognizer: model, transcript, seconds; cross-attention of the first; a
    no-speech warning when the audio seems to hold none, shown beside the transcripts, else "")."""
    names = asr_models()
    if not names:
        raise GlassboxError(NO_ASR_MESSAGE)
    if not audio_path:
        raise BadInputError("Upload or record some speech first.")
    audio = load_audio(audio_path, max_seconds=speech_inference.LAB_MAX_SECONDS)
    duration = len(audio) / FEATURES.sample_rate
    rows, figure = [], None
    for name in names:
        model, card = load_model(name)
        inspected = speech_inference.transcribe_with_attention(model, audio, speech_inference.card_decoding(card, int(beam)))
        rows.append([name, inspected.text, round(inspected.seconds, 3)])
        if figure is None:
            average = speech_figures.AttentionChoice("average of all layers and heads", None, None)
            timed = speech_figures.timed_cross_attention(inspected.chunks, duration, average)
            figure = speech_figures.aligned_attention_figure(log_mel(audio).numpy(), timed, step=0)
            figure.update_layout(title=f"{name}: cross-attention under the spectrogram (step 1 outlined)")
    return rows, figure, f"**{inspected.no_speech}**" if inspected.no_speech else ""


@user_errors
def translate(text: str, beam: int = 1, student_weights: str | None = None, student_vocabulary: str | None = None):
    """Spanish text -> (one row per shipped translator, then the student's if uploaded: model, translation, score,
    ms; attention heatmap; what normalising changed and which characters the models never saw, as the Streamlit
    page says it). The student's file is read on each call and kept nowhere."""
    if not text or not text.strip():
        raise BadInputError("Type a Spanish sentence first.")
    names = shipped_translators()
    if not names:
        raise GlassboxError(NO_MT_MESSAGE)
    translators = {f"{name} ({translation.MODEL_LABELS[name]})": load_translator(name) for name in names}
    if student_weights:
        translators[f"your model ({Path(student_weights).name})"] = load_student_file(
            Path(student_weights), Path(student_vocabulary) if student_vocabulary else None)
    rows, figure, result = [], None, None
    for label, translator in translators.items():
        result = translator.translate(text, max(int(beam), 1))
        rows.append([label, result.translation, round(result.score, 4), round(result.milliseconds, 1)])
        if result.attention is not None and figure is None:
            figure = translation_figures.attention_figure(
                result, title=f"{translator.name}: where each English character looked (input normalised to “{result.normalised.text}”)")
    changed, unknown = result.normalised.changes_note(), result.normalised.unknown_note()
    notes = [changed or "", f"**Warning:** {unknown}" if unknown else ""]
    return rows, figure, "\n\n".join(note for note in notes if note)


# ---- layout ------------------------------------------------------------------------------------------------

def _status(names: list[str], missing: str) -> str:
    return f"Models: {', '.join(f'`{name}`' for name in names)}." if names else f"**{missing}**"


def _audio_label() -> str:
    """Which uploads work: libsndfile reads WAV, FLAC, OGG and MP3 itself; webm and m4a go through ffmpeg."""
    ffmpeg = "webm and m4a too (ffmpeg is installed)" if shutil.which("ffmpeg") else "not webm or m4a: they need ffmpeg, which this server lacks"
    return f"Speech (English): WAV, FLAC, OGG/Opus or MP3 files, or the microphone; {ffmpeg}"


def _translation_examples() -> list[list[str]]:
    try:
        return [[pair.spanish] for pair in translation_data.example_pairs(8)]
    except GlassboxError:  # the test split is not in this deployment; the tab works without examples
        return []


def build_app() -> gr.Blocks:
    cnn_models = checkpoints.list_checkpoints("cnn")
    with gr.Blocks(title="Glassbox", analytics_enabled=False) as app:
        gr.Markdown("# Glassbox\nSmall, real, trained models from deep-learning coursework, with their insides shown. "
                    "Every tab is also an API endpoint (see “Use via API” at the bottom).")
        with gr.Tab("Classify", id="classify"):
            gr.Markdown("The homework CNN on a Kuzushiji-MNIST character: class probabilities and the ReLU activation "
                        "maps of both convolutions. " + _status(cnn_models, "No CNN checkpoint is shipped yet: "
                                                              "run `python -m core train cnn --preset kmnist`."))
            with gr.Row():
                with gr.Column():
                    image = gr.File(type="filepath", file_types=["image"], height=140,
                                    label="Image (PNG, JPEG, GIF, BMP, TIFF, WebP; shown to the model as 28×28 grayscale)")
                    model_name = gr.Radio(cnn_models or [DEFAULT_CNN], value=DEFAULT_CNN if DEFAULT_CNN in cnn_models or not cnn_models
                                          else cnn_models[0], label="Model")
                    colours = gr.Radio(list(COLOURS), value="auto", label="Colours",
                                       info="Trained on light strokes on dark; 'auto' inverts images with a light border.")
                    your_model = gr.File(type="filepath", file_types=sorted(STUDENT_SUFFIXES), height=100,
                                         label="Your own model (optional): the homework CNN's torch.save(model.state_dict())")
                    classify_button = gr.Button("Classify", variant="primary")
                with gr.Column():
                    label = gr.Label(num_top_classes=3, label="Prediction")
                    seen = gr.Image(label="What the model sees", height=180, width=180, interactive=False)
            examples = vision_inference.load_examples("kmnist")
            if examples:
                shown = examples[::3][:10]
                gr.Examples([[str(example["path"])] for example in shown], inputs=[image], label="Held-out test images",
                            example_labels=[f"{example['class_name']} (test #{example['row']})" for example in shown])
            probabilities_plot = gr.Plot(label="Class probabilities")
            activations_plot = gr.Plot(label="Activation maps")
            your_summary = gr.Markdown()
            your_activations_plot = gr.Plot(label="Your model's activation maps (same colour scale)")
            classify_button.click(classify, [image, model_name, colours, your_model],
                                  [label, seen, probabilities_plot, activations_plot, your_summary, your_activations_plot],
                                  api_name="classify")

        with gr.Tab("Transcribe", id="transcribe"):
            speech_inference.warm_up()  # once per process: the first visitor's clip does not wait for audio I/O
            gr.Markdown("Every shipped speech recognizer on the same recording (up to "
                        f"{speech_inference.LAB_MAX_SECONDS:.0f} s), and where the first one listened while writing each character. "
                        + _status(asr_models(), NO_ASR_MESSAGE))
            with gr.Row():
                with gr.Column():
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label=_audio_label())
                    asr_beam = gr.Slider(1, 8, value=1, step=1, label="Beam width (1 = greedy)")
                    transcribe_button = gr.Button("Transcribe", variant="primary")
                with gr.Column():
                    transcripts = gr.Dataframe(headers=["model", "transcript", "seconds"], label="Transcripts", wrap=True)
                    speech_found = gr.Markdown()
            speech = speech_examples.load_examples()
            if speech:
                gr.Examples([[str(speech_examples.example_path(example))] for example in speech], inputs=[audio],
                            label="Recordings (real LJ Speech and synthesized voices)",
                            example_labels=[example.label for example in speech])
            cross_attention_plot = gr.Plot(label="Cross-attention")
            transcribe_button.click(transcribe, [audio, asr_beam], [transcripts, cross_attention_plot, speech_found],
                                    api_name="transcribe")

        with gr.Tab("Translate", id="translate"):
            _translate_tab()
    return app


def _translate_tab() -> None:
    gr.Markdown("The homework's character-level Spanish → English translators, without and with bilinear "
                "attention. " + _status(shipped_translators(), NO_MT_MESSAGE))
    with gr.Row():
        with gr.Column():
            spanish = gr.Textbox(label="Spanish", value="tengo hambre .")
            mt_beam = gr.Slider(1, 10, value=1, step=1, label="Beam width (1 = greedy)")
            with gr.Accordion("Your model (optional)", open=False):
                gr.Markdown('The translator you trained in the homework, saved with `torch.save(model.state_dict(), '
                            f'"model.pt")`. If your vocabulary sizes differ from the course data\'s, add {VOCABULARY_FORMAT}.')
                student_weights = gr.File(type="filepath", file_types=sorted(STUDENT_SUFFIXES), label="Weights", height=100)
                student_vocabulary = gr.File(type="filepath", file_types=[".json"], label="Vocabulary", height=100)
            translate_button = gr.Button("Translate", variant="primary")
        with gr.Column():
            translations = gr.Dataframe(headers=["model", "translation", "score", "ms"], label="Translations", wrap=True)
            notes = gr.Markdown()
    sentences = _translation_examples()
    if sentences:
        gr.Examples(sentences, inputs=[spanish], label="Held-out test sentences")
    attention_plot = gr.Plot(label="Attention")
    translate_button.click(translate, [spanish, mt_beam, student_weights, student_vocabulary],
                           [translations, attention_plot, notes], api_name="translate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    args = parser.parse_args()
    demo.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False, theme=THEME,
                max_file_size=MAX_UPLOAD_MB * 2**20)


demo = build_app()  # Spaces and `gradio gradio_app.py` (auto-reload) look for a module-level Blocks

if __name__ == "__main__":
    main()
