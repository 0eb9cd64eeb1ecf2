"""Speech lab: the ASR homework's recognizers side by side on an example, an upload or the microphone, and their attention."""
import hashlib

import streamlit as st

from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.figures import alignment_figure, training_curves_figure
from core.metrics import levenshtein_distance, transposition_alignment
from core.speech import card as cards, examples, figures, inference
from core.speech.evaluation import comparable_reference, lab_score_table
from core.speech.features import FEATURES, load_audio, log_mel
from core.speech.pocketsphinx import POCKETSPHINX, timed_pocketsphinx_transcription


@st.cache_resource(show_spinner="Loading the speech recognizers…")
def load(name: str):
    inference.warm_up()  # audio I/O, resampler, filterbank, compiled CTC loop: ready before a visitor's first clip
    return inference.load_model(name)


@st.cache_data(show_spinner="Reading the audio…", max_entries=16)
def prepare(audio_bytes: bytes):
    """16 kHz mono samples and the log-mel features of the whole recording."""
    audio = load_audio(audio_bytes, max_seconds=inference.LAB_MAX_SECONDS)
    return audio, log_mel(audio).numpy()


@st.cache_data(show_spinner=False, max_entries=64)
def decode(audio_key: str, _audio, name: str, beam: int) -> inference.InspectedTranscription:
    """One model's transcript and attention as its card decodes (PocketSphinx: its own search, no attention)."""
    if name == POCKETSPHINX:
        return inference.InspectedTranscription(*timed_pocketsphinx_transcription(_audio), beam, chunks=[])
    model, card = load(name)
    return inference.transcribe_with_attention(model, _audio, inference.card_decoding(card, beam))


def audio_source() -> tuple[bytes | None, str, str]:
    """Section 1's choice: the audio, its reference transcript (examples have one) and the reference box's key."""
    st.header("1 · Audio")
    source = st.radio("Audio from", ["an example", "a file", "the microphone"], horizontal=True, key="source")
    if source != "an example":
        given = (st.file_uploader("Audio file", ["wav", "flac", "ogg", "oga", "opus", "mp3", "webm", "m4a"], key="upload",
                                  help=f"Any rate, mono or stereo, up to {inference.LAB_MAX_SECONDS:.0f} s.") if source == "a file"
                 else st.audio_input("Record a sentence in English", key="microphone"))
        return (given.getvalue() if given is not None else None), "", "reference-own"
    shipped = examples.load_examples()
    if not shipped:
        st.warning("No example clips found in assets/speech/. Rebuild them with `python -m core data speech-examples`.")
        return None, "", "reference-own"
    example = st.selectbox("Example", shipped, format_func=lambda item: item.label, key="example")
    st.caption(f"{example.note} Reference: “{example.text}”")
    return examples.example_path(example).read_bytes(), example.text, f"reference-{example.file}"


def transcripts(audio_key, audio, loaded, labels, default_reference, reference_key):
    """Section 2: every chosen model greedy and beam (and PocketSphinx), scored against the reference if one is given."""
    st.header("2 · Every model, greedy and beam search")
    left, right = st.columns([2, 1])
    chosen = left.multiselect("Models", list(loaded), default=list(loaded), format_func=labels.get, key="models")
    beam_width = right.slider("Beam width", 2, 8, 4, key="beam", help=figures.BEAM_HELP)
    reference = st.text_input("Reference transcript (to score against; leave empty to skip)", value=default_reference,
                              key=reference_key)
    with_pocketsphinx = st.toggle("Add PocketSphinx as a reference column", value=True, key="pocketsphinx",
                                  help=figures.POCKETSPHINX_HELP)
    if not chosen:
        st.info("Pick at least one model.")
        return None
    decodings = {"greedy": 1, f"beam {beam_width}": beam_width}
    with st.spinner("Transcribing with every model…"):
        results = {(name, label): decode(audio_key, audio, name, width) for name in chosen for label, width in decodings.items()}
    if chunked := {labels[name]: (results[(name, "greedy")].chunks, inference.card_decoding(loaded[name][1]).max_chunk_seconds)
                   for name in chosen if len(results[(name, "greedy")].chunks) > 1}:
        st.info(figures.chunking_note(chunked))
    if no_speech := results[(chosen[0], "greedy")].no_speech:  # shown beside the transcripts, never instead of them
        st.warning(no_speech)
    columns = st.columns(len(chosen) + with_pocketsphinx)
    texts = {f"{labels[name]} · {label}": results[(name, label)].text for name in chosen for label in decodings}
    if with_pocketsphinx:
        texts |= pocketsphinx_column(columns[-1], audio_key, audio)
    for column, name in zip(columns, chosen):
        with column:
            st.subheader(labels[name])
            st.caption(cards.column_caption(loaded[name][1]))
            for label in decodings:
                st.markdown(f"**{label}** · {results[(name, label)].seconds:.2f} s")
                st.code(results[(name, label)].text or "(nothing)", language=None, wrap_lines=True)
            changed = levenshtein_distance(*(results[(name, label)].text for label in reversed(decodings)))
            st.caption(f"Beam search changed {changed} character(s) of the greedy transcript." if changed else
                       "Beam search wrote the same transcript.")
    if reference.strip():
        against_reference(reference, texts, {labels[name]: {label: results[(name, label)].text for label in decodings}
                                             for name in chosen})
    return chosen, decodings, results


def pocketsphinx_column(column, audio_key, audio) -> dict[str, str]:
    try:
        with st.spinner("PocketSphinx is listening…"):
            result = decode(audio_key, audio, POCKETSPHINX, 1)
    except GlassboxError as error:
        column.error(str(error))
        return {}
    with column:
        st.subheader("PocketSphinx (reference)")
        st.markdown(f"**its own search** · {result.seconds:.2f} s")
        st.code(result.text or "(nothing)", language=None, wrap_lines=True)
        st.caption(figures.POCKETSPHINX_NOTE)
    return {"PocketSphinx": result.text}


def against_reference(reference: str, texts: dict[str, str], by_model: dict[str, dict[str, str]]) -> None:
    """Every transcript's scores (`texts`: column -> text), and each model's alignment to the reference."""
    st.subheader("Against the reference")
    st.dataframe(lab_score_table(texts, reference).style.format("{:.3f}"), key="scores")
    st.caption(f"Reference as the models can write it: “{comparable_reference(reference)}” {figures.LAB_SCORES_NOTE}")
    shown = st.radio("Alignment of", list(next(iter(by_model.values()))), horizontal=True, key="alignment_decoding")
    for label, decoded in by_model.items():
        st.markdown(f"**{label}**, {shown}: reference (top row) over transcript (bottom row)")
        st.plotly_chart(alignment_figure(transposition_alignment(decoded[shown], comparable_reference(reference)), columns=60),
                        width="stretch", key=f"alignment-{label}")
    st.caption(figures.ALIGNMENT_COLOURS)


def inspection(features, duration, labels, chosen, decodings, results) -> None:
    """Section 3: each model's cross-attention placed in time under the spectrogram, its CTC head, its self-attention."""
    st.header("3 · Where each decoder listened")
    st.info(figures.DIAGONAL_NOTE)
    inspected = st.radio("Decoding to inspect", list(decodings), horizontal=True, key="inspect_decoding")
    for tab, name in zip(st.tabs([labels[name] for name in chosen]), chosen):
        with tab:
            chunks = results[(name, inspected)].chunks
            choice = st.selectbox("Attention map", figures.attention_choices(*chunks[0].cross_attention.shape[:2]),
                                  format_func=lambda item: item.label, key=f"heads-{name}")
            timed = figures.timed_cross_attention(chunks, duration, choice)
            steps = len(timed.output_labels)
            step = st.slider("Output step", 1, steps, 1, key=f"step-{name}") if steps > 1 else 1
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


def training_results(loaded, labels) -> None:
    """Section 4: training curves and test scores from the cards, beside the students' and PocketSphinx's."""
    st.header("4 · Training and test results")
    by_label = {labels[name]: card for name, (_, card) in loaded.items()}
    if curves := cards.training_curves(by_label):
        st.plotly_chart(training_curves_figure(**curves["figure"]), width="stretch", key="curves")
        st.caption(curves["caption"])
    if rows := cards.result_rows(by_label):
        st.plotly_chart(figures.error_rate_bars(rows, cards.ERROR_RATE_SETS), width="stretch", key="error-rates")
        st.caption(cards.ERROR_RATE_NOTE)
        st.dataframe(cards.result_table(rows), hide_index=True, key="results", placeholder="–")
    st.caption(cards.RESULTS_NOTE)


def main() -> None:
    names = list_checkpoints("asr")
    st.title("Speech lab")
    st.write(cards.lab_introduction(names))
    audio_bytes, default_reference, reference_key = audio_source()
    audio = features = None
    try:
        audio, features = prepare(audio_bytes) if audio_bytes is not None else (None, None)
    except GlassboxError as error:
        st.error(f"This audio cannot be used: {error}")
    if audio_bytes is None:
        st.info("Choose an example, upload a file or record something to transcribe.")
    elif audio is not None:
        st.audio(audio, sample_rate=FEATURES.sample_rate)
        st.plotly_chart(figures.waveform_figure(audio), width="stretch", key="waveform")
        st.plotly_chart(figures.spectrogram_figure(features), width="stretch", key="spectrogram")
        st.caption(f"{len(audio) / FEATURES.sample_rate:.2f} s, resampled to 16 kHz mono. {figures.SPECTROGRAM_NOTE}")
    if not names:
        st.warning("No speech recognizer checkpoint is installed (checkpoints/asr/ is empty), so nothing can be "
                   f"transcribed yet. {cards.HOW_TO_GET_CHECKPOINTS}")
        return
    try:
        loaded = {name: load(name) for name in names}
    except GlassboxError as error:
        st.error(f"A speech checkpoint could not be loaded: {error}")
        return
    labels = {name: cards.model_label(name, model.config) for name, (model, _) in loaded.items()}
    if audio is not None:
        if shown := transcripts(hashlib.sha256(audio_bytes).hexdigest(), audio, loaded, labels, default_reference, reference_key):
            inspection(features, len(audio) / FEATURES.sample_rate, labels, *shown)
    training_results(loaded, labels)


main()
