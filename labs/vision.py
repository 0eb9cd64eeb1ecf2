"""Vision lab: the homework CNN, max-pool vs strided (and your own, if you load it) on the same image; inside,
parameters, training, test."""
from typing import NamedTuple

import pandas as pd
import streamlit as st
from PIL import Image

from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.figures import CHART_CONFIG
from core.reference import reference_results
from core.state_dicts import MAX_UPLOAD_BYTES as MAX_WEIGHTS_BYTES
from core.state_dicts import SAVE_STATE_DICT, STUDENT_SUFFIXES
from core.vision import domain, figures
from core.vision.data import MAX_UPLOAD_BYTES, PreparedImage, prepare_image
from core.vision.figures import YOUR_MODEL
from core.vision.inference import classify, load_examples
from core.vision.protocol import RECIPES, evaluate_on_card_data, training_data_summary
from core.vision.student import AMBIGUOUS_VARIANT, PRESET_TITLES, StudentCNN, read_student_cnn
from labs.resources import shipped_cnns

PRESET_LABELS = {"kmnist": "Kuzushiji-MNIST (10 hiragana)", "octmnist": "OCTMNIST (4 retina diagnoses)"}
SHORT_LABELS = {"kmnist": "Kuzushiji-MNIST", "octmnist": "OCTMNIST"}  # a phone fits these side by side
NOT_SHIPPED = ": your model only"
COLOUR_CHOICES = {"auto": None, "invert": True, "keep": False}
UPLOAD_SOURCE = "Upload your own"


class YourModel(NamedTuple):
    """The visitor's own CNN and the reading of it they chose (the file cannot tell max-pool from strided)."""

    loaded: StudentCNN
    variant: str

    @property
    def reading(self) -> tuple:
        return self.loaded.readings[self.variant]  # (model, card)


def models_or_how_to_train(preset: str, student_loaded: bool) -> dict:
    """Both variants' (model, card); when they are not shipped, the command that makes them, and the page stops
    unless the visitor's own model is there to look at."""
    try:
        return shipped_cnns(preset)
    except GlassboxError as error:
        st.warning(f"The {PRESET_LABELS[preset]} models are not available: {error}")
        recipe = RECIPES[preset]
        st.markdown(
            f"To produce them, run `python -m core train cnn --preset {preset}` on a machine that can download the "
            f"{recipe.dataset} data (it trains both variants at learning rates {', '.join(f'{r:g}' for r in recipe.learning_rates)} "
            f"for {recipe.epochs} epochs each and writes `checkpoints/cnn/{preset}-maxpool` and `-strided`). "
            "OCTMNIST comes from MedMNIST on zenodo.org, which this deployment could not reach."
        )
        if not student_loaded:
            st.stop()
        return {}


def your_model(preset: str) -> YourModel | None:
    """The visitor's own homework CNN and the reading they chose, when one is loaded for this preset."""
    with st.expander("Your own model: load the CNN you trained in the homework"):
        st.markdown(f"Save the weights in your homework script with `{SAVE_STATE_DICT}` and upload the file: your "
                    "network joins the comparison as a third column, on the same image and colour scale. Nothing in the "
                    "file is executed, and it stays in your session only.")
        upload = st.file_uploader("Your model's weights", type=sorted(suffix[1:] for suffix in STUDENT_SUFFIXES),
                                  key="student_upload", max_upload_size=MAX_WEIGHTS_BYTES // 2**20)
        student = session_student(upload)
        if student is None:
            return None
        detection = student.detection
        st.success(f"**{student.filename}**: {detection.architecture}, {detection.parameters:,} parameters.")
        if detection.renamed:
            st.caption("Your layer names, mapped onto Glassbox's: " + ", ".join(
                f"`{theirs}` → `{ours}`" for theirs, ours in detection.renamed.items()))
        variant = st.radio("Read your model as", detection.variants, horizontal=True, key="student_variant",
                           help=AMBIGUOUS_VARIANT)
        st.caption(AMBIGUOUS_VARIANT + " Section 2 shows what the other reading predicts.")
    if student.preset != preset:
        st.warning(f"Your model is a {PRESET_TITLES[student.preset]} model ({len(student.class_names)} classes); "
                   f"choose the {PRESET_TITLES[student.preset]} preset above to compare it.")
        return None
    return YourModel(student, variant)


def session_student(upload) -> StudentCNN | None:
    """An upload read once and kept in this visitor's st.session_state, never in a cache shared between visitors."""
    if upload is None:
        st.session_state.pop("student", None)
        return None
    held = st.session_state.get("student")
    if held is None or held["file_id"] != upload.file_id:
        try:
            loaded = read_student_cnn(upload.getvalue(), upload.name)
        except GlassboxError as error:
            loaded = error
        held = st.session_state["student"] = {"file_id": upload.file_id, "model": loaded, "evaluations": {}}
    if isinstance(held["model"], GlassboxError):
        st.error(f"Your model cannot be loaded. {held['model']}")
        return None
    return held["model"]


def image_source(preset: str) -> tuple[bytes, str]:
    """The chosen example or upload, as bytes, with a caption."""
    examples = load_examples(preset)
    if examples:
        source = st.radio("Image source", ["Example from the held-out test split", UPLOAD_SOURCE], horizontal=True,
                          key="image_source")
    else:
        st.info(f"No {PRESET_LABELS[preset]} example images ship with Glassbox: upload one shaped like the data set's "
                f"(28×28 grey; larger images are shrunk to that). `python -m core data vision-examples --preset "
                f"{preset}` writes examples where the data can be downloaded.")
        source = UPLOAD_SOURCE
    if source != UPLOAD_SOURCE:
        example = st.selectbox("Example", examples, format_func=lambda item: item["title"])
        return example["path"].read_bytes(), f"true class: {example['class_name']}"
    upload = st.file_uploader("Any image: PNG, JPEG, GIF, BMP, TIFF, WebP (a dark character on a light background is fine)",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20, key="image_upload")
    if upload is None:
        st.info("Upload an image to classify it.")
        st.stop()
    return upload.getvalue(), upload.name


def pick_image(preset: str) -> PreparedImage:
    st.header("1 · Pick an image")
    image_bytes, caption = image_source(preset)
    colours = st.radio("Colours", list(COLOUR_CHOICES), horizontal=True,
                       help="The model was trained on light strokes on a dark background; 'auto' inverts images with a light border.")
    try:
        prepared = prepare_image(image_bytes, invert=COLOUR_CHOICES[colours])
    except GlassboxError as error:
        st.error(f"This image cannot be used: {error}")
        st.stop()
    shown, seen = st.columns(2)
    shown.image(image_bytes, caption=f"your image · {caption} · {prepared.original_size[0]}×{prepared.original_size[1]} "
                f"{prepared.original_mode}", width=168)
    seen.image(Image.fromarray(prepared.pixels).resize((168, 168), Image.Resampling.NEAREST),
               caption="what the model sees: 28×28 grayscale" + (", inverted" if prepared.inverted else ""), width=168)
    return prepared


def predictions(models: dict, prepared: PreparedImage, class_names: list[str], student: YourModel | None) -> None:
    st.header("2 · Both variants" + (" and yours" if student else "") + ", side by side")
    compared = dict(models)
    if student:
        compared[YOUR_MODEL] = student.reading
    results = {name: classify(model, model_card, prepared) for name, (model, model_card) in compared.items()}
    columns = st.columns(len(results))
    for column, (name, result) in zip(columns, results.items()):
        top = float(result.probabilities.max())
        column.metric(f"{name} predicts", result.label)
        column.progress(top, text=f"{top:.0%} sure")
        if name != YOUR_MODEL and (low := domain.confidence_warning(top)):
            column.warning(low, icon=":material/help:")
    if student:
        columns[-1].caption(other_readings(student, prepared))
    domain_warnings(prepared, {name: result.label for name, result in results.items()})
    st.plotly_chart(figures.probabilities_figure(class_names, {name: r.probabilities for name, r in results.items()}),
                    key="probabilities", config=CHART_CONFIG)

    st.subheader("Activation maps")
    st.caption("ReLU outputs of conv1 (8 channels) and conv2 (16 channels). All models share one colour scale, "
               "so equal colours mean equal activations. Max-pool keeps conv1 at 28×28; the strided conv1 is already 14×14.")
    shared_top = max(float(max(r.activations["conv1"].max(), r.activations["conv2"].max())) for r in results.values())
    columns = st.columns(len(results))
    for column, (name, result) in zip(columns, results.items()):
        column.markdown(f"**{name}**" + (f" (read as {student.variant})" if name == YOUR_MODEL else ""))
        column.plotly_chart(figures.activation_maps_figure(prepared.pixels, result.activations, zmax=shared_top),
                            key=f"activations-{name}", config=CHART_CONFIG)


def domain_warnings(prepared: PreparedImage, labels: dict[str, str]) -> None:
    """Out-of-domain warnings under the predictions they qualify: the image's statistics, then disagreement."""
    if unlike := domain.input_warnings(prepared):
        st.warning(domain.summary(unlike), icon=":material/warning:")
    if disagreement := domain.disagreement_warning(labels):
        st.warning(disagreement, icon=":material/call_split:")


def other_readings(student: YourModel, prepared: PreparedImage) -> str:
    """What the readings not chosen predict: one forward pass each, so the visitor sees whether the choice matters."""
    others = []
    for variant, (model, card) in student.loaded.readings.items():
        if variant != student.variant:
            result = classify(model, card, prepared)
            others.append(f"read as {variant} instead, it predicts {result.label} ({result.probabilities.max():.1%} sure)")
    return f"Your model, read as {student.variant}; " + "; ".join(others) + "."


def parameters(models: dict, student: YourModel | None) -> None:
    if models:
        card = models["maxpool"][1]
        table = card["parameter_table"]
        st.write(f"Both variants have **{card['trainable_parameters']:,}** trainable parameters: pooling has no weights, "
                 "and a stride changes where a filter is applied, not its size.")
        left, right = st.columns([3, 2])
        left.dataframe(pd.DataFrame(table).drop(columns="times_conv_parameters"), hide_index=True)
        right.plotly_chart(figures.parameter_figure(table), key="parameters", config=CHART_CONFIG)
        replacement = table[-1]
        st.info(f"A fully connected layer producing the same {models['maxpool'][0].fc1.in_features} features straight "
                f"from the 784 pixels would need {replacement['parameters']:,} parameters, {replacement['times_conv_parameters']}× "
                "the two convolutions: weight sharing and local filters are why CNNs are small.")
    if student:
        card = student.reading[1]
        st.subheader(f"Your model: {card['trainable_parameters']:,} trainable parameters")
        table = [row for row in card["parameter_table"] if "times_conv_parameters" not in row]
        st.dataframe(pd.DataFrame(table), hide_index=True)


def learning_rate_sweep(card: dict) -> None:
    recipe = card["training"]
    st.write(f"Sweep of the homework: {recipe['optimizer'].upper()}, batch {recipe['batch_size']}, {recipe['epochs']} epochs, "
             f"seed {recipe['seed']}, on {card['dataset']['name']} ({', '.join(f'{k} {v:,}' for k, v in card['dataset']['sizes'].items())}). "
             f"Selected learning rate: **{recipe['selected_learning_rate']:g}** ({recipe['selection']}).")
    st.plotly_chart(figures.sweep_figure(card["sweep"], recipe["selected_learning_rate"]), key="sweep", config=CHART_CONFIG)
    sweep_table = pd.DataFrame([{k: run[k] for k in ("variant", "learning_rate", "final_val_accuracy", "test_accuracy")}
                                for run in card["sweep"]])
    st.dataframe(sweep_table.style.format({"final_val_accuracy": "{:.2%}", "test_accuracy": "{:.2%}", "learning_rate": "{:g}"}),
                 hide_index=True)


def test_results(models: dict, preset: str, class_names: list[str], student: YourModel | None) -> None:
    columns = st.columns(len(models) + (1 if student else 0))
    for column, (variant, (_, model_card)) in zip(columns, models.items()):
        metrics = model_card["metrics"]
        column.metric(f"{variant}: test accuracy", f"{metrics['test_accuracy']:.2%}", help=f"n = {metrics['test_n']}")
        column.plotly_chart(figures.confusion_matrix_figure(metrics["test_confusion_matrix"], class_names, variant),
                            key=f"confusion-{variant}", config=CHART_CONFIG)
    if student:
        your_test_results(columns[-1], student, class_names)
    reported = [row for row in reference_results("cnn") if preset.lower() in row["dataset"].lower()]
    if reported and models:
        st.subheader("Beside what students reported")
        ours = pd.DataFrame([{"who": "Glassbox (this checkpoint)", "model": variant, "test accuracy": mc["metrics"]["test_accuracy"],
                              "data": mc["dataset"]["name"]} for variant, (_, mc) in models.items()])
        theirs = pd.DataFrame([{"who": row["source_repo"], "model": row["model"], "test accuracy": row["value"], "data": row["dataset"]}
                               for row in reported])
        st.dataframe(pd.concat([ours, theirs]).style.format({"test accuracy": "{:.2%}"}), hide_index=True)
        st.caption(models["maxpool"][1]["dataset"]["notes"])


def your_test_results(column, student: YourModel, class_names: list[str]) -> None:
    """Your model on the test split the shipped models were scored on, run on demand and kept in your session."""
    (model, card), variant = student.reading, student.variant
    evaluations = st.session_state["student"]["evaluations"]
    column.caption(f"The {card['dataset']['name']} test split the shipped models were scored on: drawn from the "
                   "official test set, so a model trained on the official training set has never seen it.")
    if column.button("Evaluate on the test split", key="evaluate-student"):
        bar = column.progress(0.0, text=f"Your model ({variant}) on {card['dataset']['name']} test…")
        try:
            evaluations[variant] = evaluate_on_card_data(model, card, "test", on_progress=bar.progress, batch_size=100)
        except GlassboxError as error:
            column.error(f"Your model cannot be evaluated here: {error}")
        bar.empty()
    if variant in evaluations:
        report = evaluations[variant]
        column.metric(f"{YOUR_MODEL} ({variant}): test accuracy", f"{report['accuracy']:.2%}",
                      help=f"n = {report['n']}, {report['dataset']}")
        column.plotly_chart(figures.confusion_matrix_figure(report["confusion_matrix"], class_names, YOUR_MODEL),
                            key="confusion-student", config=CHART_CONFIG)


def shipped(preset: str) -> bool:
    return any(name.startswith(f"cnn/{preset}-") for name in list_checkpoints("cnn"))


def preset_label(preset: str) -> str:
    """The option's name, and plainly when choosing it shows nothing until you load your own model."""
    return SHORT_LABELS[preset] + ("" if shipped(preset) else NOT_SHIPPED)


def preset_help() -> str:
    return " ".join(f"**{SHORT_LABELS[preset]}**: {PRESET_LABELS[preset]}" + (
        "." if shipped(preset) else ", no model shipped here (its data could not be downloaded): choose it to "
        "look at an OCTMNIST model you trained yourself.") for preset in PRESET_LABELS)


def main() -> None:
    st.title("Vision lab")
    preset = st.segmented_control("Data set", list(PRESET_LABELS), format_func=preset_label, default="kmnist",
                                  required=True, help=preset_help())
    with st.expander("What is this?"):
        st.write(
            "The CNN of the IST Deep Learning homework, trained here in two variants that differ in one thing only: "
            "**max-pool** downsamples with 2×2 max-pooling after each convolution, **strided** lets the convolutions "
            "themselves step by 2. Same feature-map sizes, same parameter count. Feed both the same image and look "
            "inside, beside your own homework model if you load it. Off its training data (a photo, a Latin letter) "
            "a CNN still picks one of its classes: the page warns when an image does not look like what it learned from."
        )
    student = your_model(preset)
    models = models_or_how_to_train(preset, student is not None)
    card = models["maxpool"][1] if models else student.reading[1]
    if models:
        st.caption(training_data_summary(card))
    class_names = card["dataset"]["classes"]
    prepared = pick_image(preset)
    predictions(models, prepared, class_names, student)

    st.header("3 · Inside the models")
    parameters_tab, training_tab, test_tab = st.tabs(["Parameters per layer", "Learning-rate sweep", "Test results"])
    with parameters_tab:
        parameters(models, student)
    with training_tab:
        if models:
            learning_rate_sweep(card)
        else:
            st.info("No shipped models for this preset, so no sweep to show.")
    with test_tab:
        test_results(models, preset, class_names, student)


main()
