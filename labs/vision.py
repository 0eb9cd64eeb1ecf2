"""Vision lab: the homework CNN, max-pool vs strided, on the same image; inside, parameters, training, test."""
import pandas as pd
import streamlit as st
from PIL import Image

from core.errors import GlassboxError
from core.reference import reference_results
from core.vision import figures
from core.vision.data import MAX_UPLOAD_BYTES, PreparedImage, prepare_image
from core.vision.inference import checkpoint_name, classify, load_examples, load_model
from core.vision.model import VARIANTS
from core.vision.protocol import RECIPES

PRESET_LABELS = {"kmnist": "Kuzushiji-MNIST (10 hiragana)", "octmnist": "OCTMNIST (4 retina diagnoses)"}
COLOUR_CHOICES = {"auto": None, "invert": True, "keep": False}


@st.cache_resource(show_spinner="Loading the CNN checkpoints…")
def load_models(preset: str) -> dict:
    return {variant: load_model(checkpoint_name(preset, variant)) for variant in VARIANTS}


def models_or_how_to_train(preset: str) -> dict:
    """Both variants' (model, card); when they are not shipped, the command that makes them, and the page stops."""
    try:
        return load_models(preset)
    except GlassboxError as error:
        st.warning(f"The {PRESET_LABELS[preset]} models are not available: {error}")
        recipe = RECIPES[preset]
        st.markdown(
            f"To produce them, run `python -m core train cnn --preset {preset}` on a machine that can download the "
            f"{recipe.dataset} data (it trains both variants at learning rates {', '.join(f'{r:g}' for r in recipe.learning_rates)} "
            f"for {recipe.epochs} epochs each and writes `checkpoints/cnn/{preset}-maxpool` and `-strided`). "
            "OCTMNIST comes from MedMNIST on zenodo.org, which this deployment could not reach."
        )
        st.stop()


def image_source(preset: str) -> tuple[bytes, str]:
    """The chosen example or upload, as bytes, with a caption."""
    source = st.radio("Image source", ["Example from the held-out test split", "Upload your own"], horizontal=True)
    if source.startswith("Example"):
        examples = load_examples(preset)
        if not examples:
            st.info(f"No example images are shipped for {preset}; run `python -m core data vision-examples --preset {preset}`.")
            st.stop()
        example = st.selectbox("Example", examples, format_func=lambda item: item["title"])
        return example["path"].read_bytes(), f"true class: {example['class_name']}"
    upload = st.file_uploader("Any image: PNG, JPEG, GIF, BMP, TIFF, WebP (a dark character on a light background is fine)",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)
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


def predictions(models: dict, prepared: PreparedImage, class_names: list[str]) -> None:
    st.header("2 · Both variants, side by side")
    results = {variant: classify(model, model_card, prepared) for variant, (model, model_card) in models.items()}
    columns = st.columns(len(results))
    for column, (variant, result) in zip(columns, results.items()):
        top = float(result.probabilities.max())
        column.metric(f"{variant} predicts", result.label, f"{top:.1%} sure", delta_color="off")
    st.plotly_chart(figures.probabilities_figure(class_names, {variant: r.probabilities for variant, r in results.items()}),
                    key="probabilities")

    st.subheader("Activation maps")
    st.caption("ReLU outputs of conv1 (8 channels) and conv2 (16 channels). Both models share one colour scale, "
               "so equal colours mean equal activations. Max-pool keeps conv1 at 28×28; the strided conv1 is already 14×14.")
    shared_top = max(float(max(r.activations["conv1"].max(), r.activations["conv2"].max())) for r in results.values())
    columns = st.columns(len(results))
    for column, (variant, result) in zip(columns, results.items()):
        column.markdown(f"**{variant}**")
        column.plotly_chart(figures.activation_maps_figure(prepared.pixels, result.activations, zmax=shared_top),
                            key=f"activations-{variant}")


def parameters(models: dict) -> None:
    card = models["maxpool"][1]
    table = card["parameter_table"]
    st.write(f"Both variants have **{card['trainable_parameters']:,}** trainable parameters: pooling has no weights, "
             "and a stride changes where a filter is applied, not its size.")
    left, right = st.columns([3, 2])
    left.dataframe(pd.DataFrame(table).drop(columns="times_conv_parameters"), hide_index=True)
    right.plotly_chart(figures.parameter_figure(table), key="parameters")
    replacement = table[-1]
    st.info(f"A fully connected layer producing the same {models['maxpool'][0].fc1.in_features} features straight from "
            f"the 784 pixels would need {replacement['parameters']:,} parameters, "
            f"{replacement['times_conv_parameters']}× the two convolutions: weight sharing and local filters are why CNNs are small.")


def learning_rate_sweep(card: dict) -> None:
    recipe = card["training"]
    st.write(f"Sweep of the homework: {recipe['optimizer'].upper()}, batch {recipe['batch_size']}, {recipe['epochs']} epochs, "
             f"seed {recipe['seed']}, on {card['dataset']['name']} ({', '.join(f'{k} {v:,}' for k, v in card['dataset']['sizes'].items())}). "
             f"Selected learning rate: **{recipe['selected_learning_rate']:g}** ({recipe['selection']}).")
    st.plotly_chart(figures.sweep_figure(card["sweep"], recipe["selected_learning_rate"]), key="sweep")
    sweep_table = pd.DataFrame([{k: run[k] for k in ("variant", "learning_rate", "final_val_accuracy", "test_accuracy")}
                                for run in card["sweep"]])
    st.dataframe(sweep_table.style.format({"final_val_accuracy": "{:.2%}", "test_accuracy": "{:.2%}", "learning_rate": "{:g}"}),
                 hide_index=True)


def test_results(models: dict, preset: str, class_names: list[str]) -> None:
    columns = st.columns(len(models))
    for column, (variant, (_, model_card)) in zip(columns, models.items()):
        metrics = model_card["metrics"]
        column.metric(f"{variant}: test accuracy", f"{metrics['test_accuracy']:.2%}", help=f"n = {metrics['test_n']}")
        column.plotly_chart(figures.confusion_matrix_figure(metrics["test_confusion_matrix"], class_names, variant),
                            key=f"confusion-{variant}")
    reported = [row for row in reference_results("cnn") if preset.lower() in row["dataset"].lower()]
    if reported:
        st.subheader("Beside what students reported")
        ours = pd.DataFrame([{"who": "Glassbox (this checkpoint)", "model": variant, "test accuracy": mc["metrics"]["test_accuracy"],
                              "data": mc["dataset"]["name"]} for variant, (_, mc) in models.items()])
        theirs = pd.DataFrame([{"who": row["source_repo"], "model": row["model"], "test accuracy": row["value"], "data": row["dataset"]}
                               for row in reported])
        st.dataframe(pd.concat([ours, theirs]).style.format({"test accuracy": "{:.2%}"}), hide_index=True)
        st.caption(models["maxpool"][1]["dataset"]["notes"])


def main() -> None:
    st.title("Vision lab")
    st.write(
        "The CNN of the IST Deep Learning homework, trained here in two variants that differ in one thing only: "
        "**max-pool** downsamples with 2×2 max-pooling after each convolution, **strided** lets the convolutions "
        "themselves step by 2. Same feature-map sizes, same parameter count. Feed both the same image and look inside."
    )
    preset = st.segmented_control("Preset", list(PRESET_LABELS), format_func=PRESET_LABELS.get, default="kmnist", required=True)
    models = models_or_how_to_train(preset)
    card = models["maxpool"][1]
    class_names = card["dataset"]["classes"]
    prepared = pick_image(preset)
    predictions(models, prepared, class_names)

    st.header("3 · Inside the models")
    parameters_tab, training_tab, test_tab = st.tabs(["Parameters per layer", "Learning-rate sweep", "Test results"])
    with parameters_tab:
        parameters(models)
    with training_tab:
        learning_rate_sweep(card)
    with test_tab:
        test_results(models, preset, class_names)


main()
