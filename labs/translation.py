"""Translation lab: the homework's character-level Spanish->English seq2seq, without and with bilinear attention."""
import pandas as pd
import streamlit as st

from core.errors import GlassboxError
from core.figures import CHART_CONFIG, shown_label
from core.state_dicts import STUDENT_SUFFIXES
from core.translation import data, figures
from core.translation.evaluation import evaluate_translator, metric_suffix, results_table, training_data_summary
from core.translation.inference import (
    ATTENTION_MODEL, MODEL_LABELS, LoadedTranslator, Translation, decoding_label,
)
from core.translation.student import VOCABULARY_FORMAT, load_student_upload
from labs.resources import shipped_translator

STUDENT = "student"  # the visitor's own translator among the page's models; st.session_state[STUDENT] holds it


@st.cache_data
def examples() -> list[tuple[str, str]]:
    return [(pair.spanish, pair.english) for pair in data.example_pairs(8)]


def use_example(spanish: str) -> None:
    st.session_state["spanish"] = spanish


def source() -> tuple[str, list[str], int]:
    """The sentence (typed or a test example), the models to compare and the beam width."""
    st.header("1 · A Spanish sentence")
    if "spanish" not in st.session_state:
        st.session_state["spanish"] = examples()[0][0]
    text = st.text_input("Spanish", key="spanish",
                         help="Lowercased and accent-stripped as the training data was; the models saw sentences under 20 characters.")
    st.caption("Or try a sentence from the held-out test split:")
    example_columns = st.columns(4)
    for index, (spanish, english) in enumerate(examples()):
        example_columns[index % 4].button(spanish, key=f"example-{index}", help=f"reference: {english}",
                                          on_click=use_example, args=(spanish,), width="stretch")
    chosen = st.multiselect("Models", list(MODEL_LABELS), default=list(MODEL_LABELS), format_func=MODEL_LABELS.get)
    beam_width = st.slider("Beam width", min_value=2, max_value=10, value=4,
                           help="For the beam search column. Greedy keeps one hypothesis; beam search keeps this many, "
                                "ranked by mean log-probability per character.")
    return text, chosen, beam_width


def normalisation(normalised: data.Normalised) -> None:
    """Say what normalising changed and which characters the models never saw."""
    if changed := normalised.changes_note():
        st.info(changed)
    if unknown := normalised.unknown_note():
        st.warning(unknown)


def reference(text: str) -> None:
    """A test sentence's human reference, in plain sight beside the models' outputs."""
    english = next((english for spanish, english in examples() if spanish.strip() == text.strip()), None)
    if english is not None:
        st.markdown(f"**Reference** (a person's translation, from the test split): `{english}`")
    else:
        st.caption("No reference for a sentence you typed: judge the translations yourself.")


def student_model() -> dict | None:
    """The visitor's own homework translator, read from an upload into their session only (nothing goes to disk).

    Returns {"upload", "translator", "score"}; the upload is parsed once, not on every rerun of the page."""
    with st.expander("Your model: the translator you trained in the homework", expanded=STUDENT in st.session_state):
        st.caption('The file your homework script saved with `torch.save(model.state_dict(), "model.pt")`, with or '
                   "without attention. Its characters are not in the file: if your vocabulary sizes differ from the "
                   f"course data's, add {VOCABULARY_FORMAT}.")
        weights = st.file_uploader("Weights", type=sorted(suffix[1:] for suffix in STUDENT_SUFFIXES), key="student_weights")
        vocabulary = st.file_uploader("Vocabulary (optional)", type=["json"], key="student_vocabulary")
    if weights is None:
        st.session_state.pop(STUDENT, None)
        return None
    upload = (weights.file_id, vocabulary.file_id if vocabulary else None)
    if st.session_state.get(STUDENT, {}).get("upload") != upload:
        st.session_state.pop(STUDENT, None)
        try:
            vocabulary_upload = (vocabulary.getvalue(), vocabulary.name) if vocabulary else ()
            translator = load_student_upload(weights.getvalue(), weights.name, *vocabulary_upload)
        except GlassboxError as error:
            st.error(str(error))
            return None
        st.session_state[STUDENT] = {"upload": upload, "translator": translator, "score": None}
    st.caption(f"Your model: {st.session_state[STUDENT]['translator'].card['architecture']}.")
    return st.session_state[STUDENT]


def results(translations: dict[tuple[str, int], Translation], chosen: list[str], beam_width: int,
            labels: dict[str, str]) -> None:
    """Each chosen model's greedy and beam translation, side by side."""
    st.header("2 · Each model, greedy and beam search")
    reference(next(iter(translations.values())).normalised.original)
    for column, name in zip(st.columns(len(chosen)), chosen):
        with column:
            st.subheader(labels[name])
            if name in MODEL_LABELS:
                st.caption(training_data_summary(shipped_translator(name).card))
            for width in (1, beam_width):
                result = translations[(name, width)]
                st.metric(decoding_label(width), result.translation or "(empty)")
                st.caption(f"score {result.score:.3f} (mean log-prob per character) · {result.milliseconds:.1f} ms"
                           + ("" if result.output_tokens[-1:] == ["<eos>"] else " · stopped at the length limit"))


def inspection(translations: dict[tuple[str, int], Translation], chosen: list[str], beam_width: int,
               labels: dict[str, str]) -> None:
    """The attention weights of each chosen model that has attention, one output step at a time."""
    st.header("3 · Where the attention model looked")
    drawn = [name for name in chosen if translations[(name, 1)].attention is not None]
    if not drawn:
        st.info("Add the model with attention to see its weights.")
        return
    decoding = st.radio("Decoding", ["greedy", f"beam {beam_width}"], horizontal=True, key="heatmap_decoding")
    for column, name in zip(st.columns(len(drawn)), drawn):
        with column:
            if len(drawn) > 1:
                st.subheader(labels[name])
            attention_steps(translations[(name, 1 if decoding == "greedy" else beam_width)],
                            "" if name == ATTENTION_MODEL else f"{name}-")
    st.caption("Rows: output characters, ending with the stop token <eos>. Columns: the normalised source. "
               "Each row sums to 1; hover a cell for its weight.")


def attention_steps(result: Translation, key_prefix: str) -> None:
    """One model's heatmap with a step slider that outlines the row being written."""
    steps = len(result.output_tokens)
    step = st.slider("Output step", 1, steps, 1, key=f"{key_prefix}step") if steps > 1 else 1
    row = result.attention[step - 1]
    focus = max(range(len(row)), key=row.__getitem__)
    st.write(
        f"Step {step}: writing **{shown_label(result.output_tokens[step - 1])}**, the model looked most at source "
        f"character #{focus + 1} **{shown_label(result.source_characters[focus])}** (weight {row[focus]:.2f})."
    )
    st.plotly_chart(figures.attention_figure(result, highlight_step=step), width="stretch", key=f"{key_prefix}attention",
                    config=CHART_CONFIG)


def training(translators: dict[str, LoadedTranslator]) -> None:
    """Training curves and test results from the model cards, beside the students' reports."""
    st.header("4 · Training and test results")
    cards = {MODEL_LABELS[name]: translator.card for name, translator in translators.items()}
    st.plotly_chart(figures.training_curves(cards), width="stretch", key="curves", config=CHART_CONFIG)
    st.dataframe(pd.DataFrame(results_table(cards)).style.format(
                     {"test error rate": "{:.4f}", "ms per sentence": "{:.2f}", "exact matches / 1000": "{:.0f}"},
                     na_rep="–"),
                 hide_index=True, key="results", placeholder="–")
    st.caption(
        "Error rate = Levenshtein distance / reference length, averaged over the 1,000 test sentences (lower is better). "
        "Weights come from the epoch with the lowest validation error rate (star on the curve). Milliseconds per "
        "sentence were measured decoding the test set in batches of 250 on a shared 2-core CPU. "
        + translators[ATTENTION_MODEL].card.get("encoder_note", "")
    )


def student_score(student: dict, translators: dict[str, LoadedTranslator], label: str) -> None:
    """The visitor's model on the test split (greedy), on demand, beside the shipped models' figures from their cards."""
    st.subheader("Your model on the test split")
    if st.button("Score your model on the 1,000 test sentences (greedy)", key="student_score"):
        bar = st.progress(0.0, text="Translating the test sentences…")
        try:
            student["score"] = evaluate_translator(
                student["translator"], progress=lambda done: bar.progress(done, text=f"{done:.0%} of the test sentences"))
        except GlassboxError as error:
            st.error(str(error))
        bar.empty()
    greedy = metric_suffix(1)
    rows = [{"model": f"Glassbox, {MODEL_LABELS[name]}", "test error rate": translator.card["metrics"][f"test_error_rate_{greedy}"],
             "exact matches / 1000": translator.card["metrics"][f"test_exact_matches_{greedy}"]}
            for name, translator in translators.items()]
    if student["score"]:
        rows.append({"model": label, "test error rate": student["score"]["error_rate"],
                     "exact matches / 1000": student["score"]["exact_matches"]})
    st.dataframe(pd.DataFrame(rows).style.format({"test error rate": "{:.4f}"}), hide_index=True, key="student_results")


st.title("Translation lab")
st.caption("Type Spanish, read two small models' English, and see where the one with attention looked.")
with st.expander("What is this?"):
    st.write(
        "The IST Deep Learning 2022-23 homework's character-level translator: a BiLSTM (a reader that runs over the "
        "sentence forwards and backwards) reads the Spanish one character at a time and an LSTM writes the English "
        "one, character by character. One model must squeeze the whole sentence into the encoder's final state; the "
        "other may look back at every source character through **bilinear attention** (a learned score between what "
        "it is writing and each source character) at each step. Type a sentence and compare them, or load yours."
    )
try:
    translators = {name: shipped_translator(name) for name in MODEL_LABELS}
except GlassboxError as error:
    st.warning(f"The translation models are not available: {error}")
    st.markdown("Train them with `python -m core train mt --attention` and `python -m core train mt --no-attention`.")
    st.stop()

text, chosen, beam_width = source()
student = student_model()
models, labels = dict(translators), dict(MODEL_LABELS)
if student:
    models[STUDENT], labels[STUDENT] = student["translator"], f"your model ({student['translator'].name})"
    chosen = chosen + [STUDENT]
if not chosen:
    st.info("Pick at least one model.")
    st.stop()
try:
    translations = {(name, width): models[name].translate(text, width) for name in chosen for width in (1, beam_width)}
except GlassboxError as error:
    st.error(str(error))
    st.stop()
normalisation(next(iter(translations.values())).normalised)
results(translations, chosen, beam_width, labels)
inspection(translations, chosen, beam_width, labels)
training(translators)
if student:
    student_score(student, translators, labels[STUDENT])
