"""Vision lab: the homework CNN, max-pool vs strided, on the same image; inside, parameters, training, test."""
import pandas as pd
import streamlit as st
from PIL import Image

from core import checkpoints, vision
from core.data.images import MAX_UPLOAD_BYTES, prepare_image
from core.reference import reference_results
from core.errors import GlassboxError
from core.viz import vision as figures

PRESET_LABELS = {"kmnist": "Kuzushiji-MNIST (10 hiragana)", "octmnist": "OCTMNIST (4 retina diagnoses)"}


@st.cache_resource(show_spinner="Loading the CNN checkpoints…")
def load_models(preset: str) -> dict:
    return {variant: vision.load_model(vision.checkpoint_name(preset, variant)) for variant in vision.VARIANTS}


st.title("Vision lab")
st.write(
    "The CNN of the IST Deep Learning homework, trained here in two variants that differ in one thing only: "
    "**max-pool** downsamples with 2×2 max-pooling after each convolution, **strided** lets the convolutions "
    "themselves step by 2. Same feature-map sizes, same parameter count. Feed both the same image and look inside."
)
preset = st.segmented_control("Preset", list(PRESET_LABELS), format_func=PRESET_LABELS.get, default="kmnist", required=True)

try:
    models = load_models(preset)
except GlassboxError as error:
    st.warning(f"The {PRESET_LABELS[preset]} models are not available: {error}")
    recipe = vision.RECIPES[preset]
    st.markdown(
        f"To produce them, run `python -m core train cnn --preset {preset}` on a machine that can download the "
        f"{recipe.dataset} data (it trains both variants at learning rates {', '.join(f'{r:g}' for r in recipe.learning_rates)} "
        f"for {recipe.epochs} epochs each and writes `checkpoints/cnn/{preset}-maxpool` and `-strided`). "
        "OCTMNIST comes from MedMNIST on zenodo.org, which this deployment could not reach."
    )
    st.stop()

card = models["maxpool"][1]
class_names = card["dataset"]["classes"]

# ---- input -----------------------------------------------------------------------------------------------------
st.header("1 · Pick an image")
source = st.radio("Image source", ["Example from the held-out test split", "Upload your own"], horizontal=True)
image_bytes, caption = None, ""
if source.startswith("Example"):
    examples = vision.load_examples(preset)
    if not examples:
        st.info(f"No example images are shipped for {preset}; run `python -m core data vision-examples --preset {preset}`.")
        st.stop()
    example = st.selectbox("Example", examples, format_func=lambda item: item["title"])
    image_bytes, caption = example["path"].read_bytes(), f"true class: {example['class_name']}"
else:
    upload = st.file_uploader("Any image: PNG, JPEG, GIF, BMP, TIFF, WebP (a dark character on a light background is fine)",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    if upload is None:
        st.info("Upload an image to classify it.")
        st.stop()
    image_bytes, caption = upload.getvalue(), upload.name
colours = st.radio("Colours", ["auto", "invert", "keep"], horizontal=True,
                   help="The model was trained on light strokes on a dark background; 'auto' inverts images with a light border.")

try:
    prepared = prepare_image(image_bytes, invert={"auto": None, "invert": True, "keep": False}[colours])
except GlassboxError as error:
    st.error(f"This image cannot be used: {error}")
    st.stop()

shown, seen = st.columns(2)
shown.image(image_bytes, caption=f"your image · {caption} · {prepared.original_size[0]}×{prepared.original_size[1]} "
            f"{prepared.original_mode}", width=168)
seen.image(Image.fromarray(prepared.pixels).resize((168, 168), Image.Resampling.NEAREST),
           caption="what the model sees: 28×28 grayscale" + (", inverted" if prepared.inverted else ""), width=168)

# ---- predictions ---------------------------------------------------------------------------------------------
st.header("2 · Both variants, side by side")
results = {variant: vision.classify(model, model_card, prepared) for variant, (model, model_card) in models.items()}
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

# ---- inside the models -----------------------------------------------------------------------------------------
st.header("3 · Inside the models")
parameters_tab, training_tab, test_tab = st.tabs(["Parameters per layer", "Learning-rate sweep", "Test results"])

with parameters_tab:
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

with training_tab:
    recipe = card["training"]
    st.write(f"Sweep of the homework: {recipe['optimizer'].upper()}, batch {recipe['batch_size']}, {recipe['epochs']} epochs, "
             f"seed {recipe['seed']}, on {card['dataset']['name']} ({', '.join(f'{k} {v:,}' for k, v in card['dataset']['sizes'].items())}). "
             f"Selected learning rate: **{recipe['selected_learning_rate']:g}** ({recipe['selection']}).")
    st.plotly_chart(figures.sweep_figure(card["sweep"], recipe["selected_learning_rate"]), key="sweep")
    sweep_table = pd.DataFrame([{k: run[k] for k in ("variant", "learning_rate", "final_val_accuracy", "test_accuracy")}
                                for run in card["sweep"]])
    st.dataframe(sweep_table.style.format({"final_val_accuracy": "{:.2%}", "test_accuracy": "{:.2%}", "learning_rate": "{:g}"}),
                 hide_index=True)

with test_tab:
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
        st.caption(card["dataset"]["notes"])
