"""Speech lab: the ASR homework's recognizers side by side on an example, an upload or the microphone, and their attention."""
import itertools
from concurrent.futures import Future

import streamlit as st

from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.figures import alignment_figure, training_curves_figure
from core.metrics import transposition_alignment
from core.speech import card as cards, examples, figures, inference, vocabulary
from core.speech.decode_queue import shown_text
from core.speech.evaluation import comparable_reference, lab_score_table
from core.speech.features import FEATURES
from core.speech.pocketsphinx import INSTALLED, POCKETSPHINX
from labs.resources import (
    MODELS, audio_key, decode_queues, prepared_audio, shipped_recognizer, submit_decodes, submit_pocketsphinx,
)
from labs.your_recognizer import uploaded_recognizer

EXAMPLE_SOURCE = "an example"


def finished(queue: str, job: Future) -> inference.InspectedTranscription:
    status = st.empty()  # while the decode waits: where it stands in the line
    return decode_queues()[queue].result(job, lambda message: status.caption(f"⏳ {message}") if message else status.empty())


def audio_section(number: int, by_label: dict) -> tuple:
    """The audio chosen (key, samples, features; None without one), its reference transcript and reference box key."""
    st.header(f"{number} · Audio")
    source = st.radio("Audio from", [EXAMPLE_SOURCE, "a file", "the microphone"], horizontal=True, key="source")
    audio_bytes, reference, reference_key = None, "", "reference-own"
    if source != EXAMPLE_SOURCE:
        given = (st.file_uploader("Audio file", figures.AUDIO_TYPES, key="upload", help=figures.UPLOAD_HELP) if source == "a file"
                 else st.audio_input("Record a sentence in English", key="microphone"))
        st.caption(cards.expectations(by_label))
        audio_bytes = given.getvalue() if given is not None else None
    elif not (shipped := examples.load_examples()):
        st.warning("No example clips found in assets/speech/. Rebuild them with `python -m core data speech-examples`.")
    else:
        example = st.selectbox("Example", shipped, format_func=lambda item: item.label, key="example")
        st.caption(f"{example.note} Reference: “{example.text}”")
        audio_bytes, reference = examples.example_path(example).read_bytes(), example.text
        reference_key = f"reference-{example.file}"
    audio = features = None
    try:
        audio, features = prepared_audio(audio_bytes) if audio_bytes is not None else (None, None)
    except GlassboxError as error:
        st.error(f"This audio cannot be used: {error}")
    if audio_bytes is None:
        st.info("Choose an example, upload a file or record something to transcribe.")
    elif audio is not None:
        st.audio(audio, sample_rate=FEATURES.sample_rate)
        st.plotly_chart(figures.waveform_figure(audio), width="stretch", key="waveform")
        st.plotly_chart(figures.spectrogram_figure(features), width="stretch", key="spectrogram")
        st.caption(f"{len(audio) / FEATURES.sample_rate:.2f} s, resampled to 16 kHz mono. {figures.SPECTROGRAM_NOTE}")
    return (audio_key(audio_bytes) if audio is not None else None), audio, features, reference, reference_key


def transcripts(number: int, audio_key, audio, loaded, labels):
    """Every chosen model greedy, and with a beam when asked; each column appears as its decode finishes."""
    st.header(f"{number} · What each model wrote", help=vocabulary.READABLE_NOTE)
    left, right = st.columns([3, 1])  # pills show every model's full name (a multiselect's chips cut them)
    chosen = left.pills("Models", list(loaded), selection_mode="multi", default=list(loaded), format_func=labels.get, wrap=True,
                        key=f"models of {len(loaded)}") or []  # a model uploaded later joins the chosen ones
    own_audio = st.session_state.get("source") != EXAMPLE_SOURCE
    beam_width = right.slider("Beam width", 2, 8, cards.EXPECTATION_BEAM, key="beam", help=figures.BEAM_HELP) if right.toggle(
        "Also search with a beam", key="with_beam", help=figures.BEAM_ON_REQUEST_HELP) else 0
    with_pocketsphinx = right.toggle(  # on for the examples (transcribed when the server started), asked for otherwise
        "PocketSphinx column", value=INSTALLED and not own_audio, key="pocketsphinx-own" if own_audio else "pocketsphinx", disabled=not INSTALLED,
        help=(figures.POCKETSPHINX_ON_REQUEST_HELP if own_audio else figures.POCKETSPHINX_HELP) if INSTALLED
        else figures.POCKETSPHINX_MISSING)
    if not chosen:
        st.info("Pick at least one model.")
        return None
    decodings = {"greedy": 1} | ({f"beam {beam_width}": beam_width} if beam_width else {})
    jobs = submit_decodes(audio_key, audio, loaded, chosen, decodings)
    sphinx = with_pocketsphinx and submit_pocketsphinx(audio_key, audio)
    columns, results = st.columns(len(chosen) + with_pocketsphinx), {}
    for column, name in zip(columns, chosen):
        with column:
            st.subheader(labels[name])
            st.caption(cards.column_caption(loaded[name][1]))
            for label in decodings:
                results[(name, label)] = result = finished(MODELS, jobs[(name, label)])
                st.markdown(figures.decoding_heading(label, result.seconds, shown_text(result), shown_text(results[(name, "greedy")])))
                st.code(shown_text(result) or "(nothing)", language=None, wrap_lines=True)
    if no_speech := results[(chosen[0], "greedy")].no_speech:  # beside the transcripts, never instead of them
        st.warning(no_speech)
    if note := figures.chunking_note({labels[name]: (results[(name, "greedy")].chunks, loaded[name][1]) for name in chosen}):
        st.info(note)
    return chosen, decodings, results, (columns[-1], sphinx) if sphinx else None, st.container()


@st.fragment
def against_reference(default_reference: str, reference_key: str, labels, results, sphinx_text: dict[str, str]) -> None:
    """Every transcript's scores (PocketSphinx's too), and each model's alignment to the reference."""
    if not (reference := st.text_input("Reference transcript (to score against; leave empty to skip)",
                                       value=default_reference, key=reference_key)).strip():
        return
    st.subheader("Against the reference")
    texts = {f"{labels[name]} · {label}": shown_text(result) for (name, label), result in results.items()}
    st.dataframe(lab_score_table(texts | sphinx_text, reference), key="scores")
    st.caption(f"Reference as the models can write it: “{comparable_reference(reference)}” {figures.LAB_SCORES_NOTE}")
    shown = st.radio("Alignment of", list(dict.fromkeys(label for _, label in results)), horizontal=True, key="alignment_decoding")
    for name in dict.fromkeys(name for name, _ in results):
        st.markdown(f"**{labels[name]}**, {shown}: reference (top row) over transcript (bottom row)")
        alignment = transposition_alignment(shown_text(results[(name, shown)]), comparable_reference(reference))
        st.plotly_chart(alignment_figure(alignment, columns=60), width="stretch", key=f"alignment-{labels[name]}")
    st.caption(figures.ALIGNMENT_COLOURS)


@st.fragment
def inspection(number, features, duration, labels, chosen, decodings, results) -> None:
    """Attention placed in time under the spectrogram, open tab only; a head, step or tab redraws this section alone."""
    st.header(f"{number} · Where each decoder listened")
    st.info(figures.DIAGONAL_NOTE)
    inspected = st.radio("Decoding to inspect", list(decodings), horizontal=True, key="inspect_decoding") if len(
        decodings) > 1 else "greedy"
    tabs = st.tabs([labels[name] for name in chosen], key="inspected_model", on_change="rerun")
    for tab, name in ((tab, name) for tab, name in zip(tabs, chosen) if tab.open):  # only the open tab is drawn
        chunks = results[(name, inspected)].chunks
        with tab, st.container(key=f"attention-{name}"):
            choice = st.selectbox("Attention map", figures.attention_choices(*chunks[0].cross_attention.shape[:2]),
                                  format_func=lambda item: item.label, key=f"heads-{name}")
            timed = figures.timed_cross_attention(chunks, duration, choice)
            step = st.slider("Output step", 1, steps, 1, key=f"step-{name}") if (steps := len(timed.output_labels)) > 1 else 1
            st.plotly_chart(figures.aligned_attention_figure(features, timed, step - 1), width="stretch", key=f"cross-{name}")
            st.caption(f"Cross-attention, {choice.label}. {figures.CROSS_ATTENTION_NOTE}")
            if chunks[0].ctc_posteriors is not None:
                st.subheader("What the CTC head hears")
                st.plotly_chart(figures.ctc_figure(features, figures.timed_ctc(chunks, duration)), width="stretch",
                                key=f"ctc-{name}")
                st.caption(figures.CTC_NOTE)
            if chunks[0].self_attention is not None:
                st.subheader("Masked self-attention of the transformer decoder")
                index = st.selectbox("Chunk", range(len(chunks)), key=f"chunk-{name}",
                                     format_func=lambda index: f"chunk {index + 1}") if len(chunks) > 1 else 0
                st.plotly_chart(figures.self_attention_figure(chunks[index or 0], choice), width="stretch", key=f"self-{name}")
                st.caption(figures.SELF_ATTENTION_NOTE)


def training_results(number: int, by_label: dict[str, dict]) -> None:
    """Training curves and test scores from the cards, beside the students' and PocketSphinx's."""
    st.header(f"{number} · Training and test results")
    if curves := cards.training_curves(by_label):
        st.plotly_chart(training_curves_figure(**curves["figure"]), width="stretch", key="curves")
        st.caption(curves["caption"])
    if rows := cards.result_rows(by_label):
        st.plotly_chart(figures.error_rate_bars(rows, cards.ERROR_RATE_SETS), width="stretch", key="error-rates")
        st.caption(cards.ERROR_RATE_NOTE)
        st.dataframe(cards.result_table(rows), hide_index=True, key="results", placeholder="–")
    st.caption(cards.RESULTS_NOTE)


def main() -> None:
    names, number = list_checkpoints("asr"), itertools.count(1)  # sections numbered as they are shown
    st.title("Speech lab")
    st.expander("What this lab shows").write(cards.lab_introduction(names))
    st.html(figures.SCROLLING_HEATMAPS)
    try:
        loaded = {name: shipped_recognizer(name) for name in names} | uploaded_recognizer()  # yours joins the shipped models
    except GlassboxError as error:
        st.error(f"A speech checkpoint could not be loaded: {error}")
        loaded = uploaded_recognizer()
    labels = {name: cards.model_label(name, model.config) for name, (model, _) in loaded.items()}
    by_label = {labels[name]: card for name, (_, card) in loaded.items()}
    audio_key, audio, features, default_reference, reference_key = audio_section(next(number), by_label)
    if not names:
        st.warning("No speech recognizer checkpoint is installed (checkpoints/asr/ is empty), so nothing can be "
                   f"transcribed yet. {cards.HOW_TO_GET_CHECKPOINTS}")
    if shown := transcripts(next(number), audio_key, audio, loaded, labels) if audio_key and loaded else None:
        chosen, decodings, results, sphinx, scores_box = shown
        inspection(next(number), features, len(audio) / FEATURES.sample_rate, labels, chosen, decodings, results)
    if loaded:
        training_results(next(number), by_label)
    if shown:  # last, as the classic recognizer takes longest: PocketSphinx's column and the scores that include it
        if sphinx:
            with sphinx[0]:
                st.subheader("PocketSphinx (reference)")
                result = finished(POCKETSPHINX, sphinx[1])
                st.markdown(f"**its own search** · {result.seconds:.2f} s")
                st.code(result.text or "(nothing)", language=None, wrap_lines=True)
                st.caption(figures.POCKETSPHINX_NOTE)
        with scores_box:
            against_reference(default_reference, reference_key, labels, results, {"PocketSphinx": result.text} if sphinx else {})


main()
