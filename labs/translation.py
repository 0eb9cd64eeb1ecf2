"""Translation lab: the homework's character-level Spanish->English seq2seq, without and with bilinear attention."""
import re

import pandas as pd
import streamlit as st

from core import translation
from core.reference import reference_results
from core.errors import GlassboxError
from core.figures import attention_heatmap, shown_label, training_curves_figure

MODEL_LABELS = {"mt/spa-eng-noattn": "without attention", "mt/spa-eng-attn": "with attention"}


@st.cache_resource(show_spinner="Loading the translation checkpoints…")
def load(name: str) -> translation.LoadedTranslator:
    return translation.load_translator(name)


@st.cache_data
def examples() -> list[tuple[str, str]]:
    return [(pair.spanish, pair.english) for pair in translation.test_examples(8)]


def use_example(spanish: str) -> None:
    st.session_state["spanish"] = spanish


st.title("Translation lab")
st.write(
    "The IST Deep Learning 2022-23 homework's character-level translator: a BiLSTM reads the Spanish sentence one "
    "character at a time and an LSTM writes the English one, character by character. One model must squeeze the "
    "whole sentence into the encoder's final state; the other may look back at every source character through "
    "**bilinear attention** at each step. Type a sentence and compare them."
)

try:
    translators = {name: load(name) for name in MODEL_LABELS}
except GlassboxError as error:
    st.warning(f"The translation models are not available: {error}")
    st.markdown("Train them with `python -m core train mt --attention` and `python -m core train mt --no-attention`.")
    st.stop()

# ---- input -----------------------------------------------------------------------------------------------------
st.header("1 · A Spanish sentence")
st.caption("Sentences from the held-out test split (click one to use it):")
example_columns = st.columns(4)
for index, (spanish, english) in enumerate(examples()):
    example_columns[index % 4].button(spanish, key=f"example-{index}", help=f"reference: {english}",
                                      on_click=use_example, args=(spanish,))
if "spanish" not in st.session_state:
    st.session_state["spanish"] = examples()[0][0]
text = st.text_input("Spanish", key="spanish", max_chars=200,
                     help="Lowercased and accent-stripped as the training data was; the models saw sentences under 20 characters.")
chosen = st.multiselect("Models", list(MODEL_LABELS), default=list(MODEL_LABELS), format_func=MODEL_LABELS.get)
beam_width = st.slider("Beam width (beam search column)", min_value=2, max_value=10, value=4,
                       help="Greedy keeps one hypothesis; beam search keeps this many, ranked by mean log-probability per character.")

if not chosen:
    st.info("Pick at least one model.")
    st.stop()
try:
    results = {(name, width): translators[name].translate(text, width) for name in chosen for width in (1, beam_width)}
except GlassboxError as error:
    st.error(str(error))
    st.stop()

normalised = next(iter(results.values())).normalised
if normalised.changes:
    st.info(f"Normalised to `{normalised.text}`, as the training data was: " + "; ".join(normalised.changes) + ".")
if normalised.unknown:
    st.warning(
        "The models never saw these characters in training: "
        + ", ".join(f"'{shown_label(character)}'" for character in normalised.unknown)
        + ". Each is fed to the encoder as the unknown token <unk>, so expect a poor translation."
    )

# ---- translations -------------------------------------------------------------------------------------------------
st.header("2 · Both models, greedy and beam search")
columns = st.columns(len(chosen))
for column, name in zip(columns, chosen):
    with column:
        st.subheader(MODEL_LABELS[name])
        for width in (1, beam_width):
            result = results[(name, width)]
            label = "greedy" if width == 1 else f"beam {width}"
            st.metric(label, result.translation or "(empty)")
            st.caption(f"score {result.score:.3f} (mean log-prob per character) · {result.milliseconds:.1f} ms"
                       + ("" if result.output_tokens[-1:] == ["<eos>"] else " · stopped at the length limit"))

# ---- attention ----------------------------------------------------------------------------------------------------
st.header("3 · Where the attention model looked")
if "mt/spa-eng-attn" not in chosen:
    st.info("Add the model with attention to see its weights.")
else:
    decoding = st.radio("Decoding", ["greedy", f"beam {beam_width}"], horizontal=True, key="heatmap_decoding")
    result = results[("mt/spa-eng-attn", 1 if decoding == "greedy" else beam_width)]
    steps = len(result.output_tokens)
    step = st.slider("Output step", 1, steps, 1, key="step") if steps > 1 else 1
    row = result.attention[step - 1]
    focus = max(range(len(row)), key=row.__getitem__)
    st.write(
        f"Step {step}: writing **{shown_label(result.output_tokens[step - 1])}**, the model looked most at source "
        f"character #{focus + 1} **{shown_label(result.source_characters[focus])}** (weight {row[focus]:.2f})."
    )
    st.plotly_chart(
        attention_heatmap(result.attention, result.output_tokens, result.source_characters, highlight_row=step - 1),
        width="stretch", key="attention",
    )
    st.caption("Rows: output characters, ending with the stop token <eos>. Columns: the normalised source. "
               "Each row sums to 1; hover a cell for its weight.")

# ---- training and test results ----------------------------------------------------------------------------------
st.header("4 · Training and test results")
cards = {MODEL_LABELS[name]: translators[name].card for name in MODEL_LABELS}
st.plotly_chart(
    training_curves_figure({label: card["curves"] for label, card in cards.items()}, ["val_error_rate", "train_loss"],
                           titles={"val_error_rate": "validation error rate (greedy)", "train_loss": "training loss"},
                           marker_epoch={label: card["training"]["weights_from_epoch"] for label, card in cards.items()}),
    width="stretch", key="curves",
)
rows = []
for label, card in cards.items():
    metrics = card["metrics"]
    for key, decoding in (("greedy", "greedy"), ("beam4", "beam 4"), ("beam8", "beam 8")):
        rows.append({"model": f"Glassbox, {label}", "decoding": decoding,
                     "test error rate": metrics[f"test_error_rate_{key}"],
                     "exact matches / 1000": metrics[f"test_exact_matches_{key}"],
                     "ms per sentence": metrics[f"test_ms_per_sentence_{key}"]})
for reference in reference_results("mt"):
    exact = re.search(r"(\d+)/1000 exact", reference["notes"])
    rows.append({"model": f"student report ({reference['source_repo'].split('/')[0]}), "
                          + ("without attention" if "no attention" in reference["model"] else "with attention"),
                 "decoding": "greedy", "test error rate": reference["value"],
                 "exact matches / 1000": int(exact.group(1)) if exact else None, "ms per sentence": None})
st.dataframe(pd.DataFrame(rows).style.format({"test error rate": "{:.4f}", "ms per sentence": "{:.2f}",
                                              "exact matches / 1000": "{:.0f}"}, na_rep="–"),
             hide_index=True, key="results", placeholder="–")
st.caption(
    "Error rate = Levenshtein distance / reference length, averaged over the 1,000 test sentences (lower is better). "
    "Weights come from the epoch with the lowest validation error rate (star on the curve). Milliseconds per "
    "sentence were measured decoding the test set in batches of 250 on a shared 2-core CPU. "
    + cards["with attention"].get("encoder_note", "")
)
