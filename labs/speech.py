"""Speech lab: the ASR homework's recognizers side by side on an example, an upload or the microphone, and their attention."""
import hashlib
import time

import pandas as pd
import streamlit as st

from core import asr, speech_examples, speech_real
from core.checkpoints import list_checkpoints, read_card
from core.data.audio import load_audio, log_mel
from core.reference import reference_results
from core.errors import GlassboxError
from core.metrics import METRIC_INFO, levenshtein_distance, transposition_alignment
from core.viz import speech as speech_viz
from core.figures import alignment_figure, training_curves_figure

UPLOAD_TYPES = ["wav", "flac", "ogg", "oga", "opus", "mp3", "webm", "m4a"]
DECODER_LABELS = {"transformer": "transformer decoder", "lstm": "LSTM decoder"}
STUDENT_MODELS = {"transformer enc + transformer dec": "transformer decoder",
                  "transformer enc + LSTM/cross-attn dec": "LSTM decoder"}
EVALUATIONS = {"synthetic_test": "synthetic test split (all voices)", "unseen_voice_test": "synthetic test, held-out voice",
               "real_ljspeech": "100 real LJ Speech clips",
               "real_ljspeech_whole_clips": "100 real LJ Speech clips, whole (a-z scoring)",
               "other_voices": "other voices: Common Voice speakers (a-z scoring)"}
SELECTION_SETS = {"val_real_damerau_levenshtein": "real validation clips",  # a card's training.selected_on
                  "val_damerau_levenshtein": "synthetic validation clips"}


@st.cache_resource(show_spinner="Loading the speech recognizers…")
def load(name: str):
    return asr.load_model(name)


@st.cache_data(show_spinner="Reading the audio…", max_entries=16)
def prepare(audio_bytes: bytes):
    """16 kHz mono samples and the log-mel features of the whole recording."""
    audio = load_audio(audio_bytes, max_seconds=asr.LAB_MAX_SECONDS)
    return audio, log_mel(audio).numpy()


@st.cache_data(show_spinner=False, max_entries=64)
def decode(audio_key: str, _audio, name: str, beam: int) -> asr.InspectedTranscription:
    """One model's transcript and attention; keyed by the audio's hash, so sliders and head choices reuse it."""
    model, _ = load(name)
    return asr.transcribe_with_attention(model, _audio, beam=beam)


@st.cache_data(show_spinner=False, max_entries=32)
def reference_recognizer(audio_key: str, _audio) -> tuple[str, float]:
    """PocketSphinx's transcript and its seconds; keyed by the audio's hash like `decode`."""
    started = time.perf_counter()
    return speech_real.pocketsphinx_transcribe(_audio), time.perf_counter() - started


@st.cache_data(show_spinner=False, max_entries=64)
def alignment(hypothesis: str, reference: str):
    return transposition_alignment(hypothesis, asr.comparable_reference(reference))


def model_label(name: str, card: dict) -> str:
    config = card["architecture"]["config"]
    kind = "Speech-Transformer" if config.get("front_end") == "conv-lstm" else DECODER_LABELS.get(config["decoder"], config["decoder"])
    return f"{kind} ({name.split('/', 1)[-1]})"


def front_end(name: str) -> str | None:
    """The checkpoint's encoder front end, read from its card (None if the card is unreadable: loading says why)."""
    try:
        return read_card(name)["architecture"]["config"].get("front_end")
    except (GlassboxError, KeyError, TypeError):
        return None


names = list_checkpoints("asr")
st.title("Speech lab")
st.write(
    "The IST Deep Learning 2023-24 homework's speech recognizer: a Whisper-style audio encoder (two convolutions and "
    "self-attention blocks over a log-mel spectrogram) and a character decoder, either an **LSTM** or a **transformer**, "
    "that writes one character at a time while **cross-attending** to the audio."
    + (" Beside them, CMU 11-785's **Speech-Transformer**: a CNN-LSTM front end (4× fewer frames, then a bidirectional "
       "LSTM) under transformer encoder blocks, and a two-block transformer decoder, trained in stages."
       if any(front_end(name) == "conv-lstm" for name in names) else "")
    + " All were trained here on the LJ Speech transcripts spoken by text-to-speech voices, some on real recordings "
    "too: each model's column says what it heard. Give them some speech and look inside."
)

# ---- 1 · audio ----------------------------------------------------------------------------------------------------
st.header("1 · Audio")
examples = speech_examples.load_examples()
source = st.radio("Audio from", ["an example", "a file", "the microphone"], horizontal=True, key="source")
audio_bytes, default_reference, reference_key = None, "", "reference-own"
if source == "an example":
    if not examples:
        st.warning("No example clips found in assets/speech/. Rebuild them with `python -m core data speech-examples`.")
    else:
        example = st.selectbox("Example", examples, format_func=lambda item: item.label, key="example")
        st.caption(f"{example.note} Reference: “{example.text}”")
        audio_bytes = speech_examples.example_path(example).read_bytes()
        default_reference, reference_key = example.text, f"reference-{example.file}"
elif source == "a file":
    upload = st.file_uploader("Audio file", type=UPLOAD_TYPES, key="upload",
                              help=f"Any sample rate, mono or stereo (folded to mono), up to {asr.LAB_MAX_SECONDS:.0f} s.")
    audio_bytes = upload.getvalue() if upload is not None else None
else:
    recording = st.audio_input("Record a sentence in English", key="microphone")
    audio_bytes = recording.getvalue() if recording is not None else None

audio = None
if audio_bytes is None:
    st.info("Choose an example, upload a file or record something to transcribe.")
else:
    try:
        audio, features = prepare(audio_bytes)
    except GlassboxError as error:
        st.error(f"This audio cannot be used: {error}")

if audio is not None:
    audio_key = hashlib.sha256(audio_bytes).hexdigest()
    duration = len(audio) / 16_000
    st.audio(audio, sample_rate=16_000)
    st.plotly_chart(speech_viz.waveform_figure(audio), width="stretch", key="waveform")
    st.plotly_chart(speech_viz.spectrogram_figure(features), width="stretch", key="spectrogram")
    st.caption(f"{duration:.2f} s, resampled to 16 kHz mono. Below the waveform: the 80-bin log-mel spectrogram the "
               "encoder reads, 100 frames per second (the homework's features).")

if not names:
    st.warning("No speech recognizer checkpoint is installed (checkpoints/asr/ is empty), so nothing can be transcribed yet.")
    st.markdown("Train one with `python -m core train asr --decoder transformer` and `--decoder lstm` "
                "(see `python -m core train asr --help`), or restore `checkpoints/asr/` from git.")
    st.stop()

try:
    loaded = {name: load(name) for name in names}
except GlassboxError as error:
    st.error(f"A speech checkpoint could not be loaded: {error}")
    st.stop()
labels = {name: model_label(name, card) for name, (_, card) in loaded.items()}

# ---- 2 · side by side ---------------------------------------------------------------------------------------------
if audio is not None:
    st.header("2 · Every model, greedy and beam search")
    control_columns = st.columns([2, 1])
    chosen = control_columns[0].multiselect("Models", names, default=names, format_func=labels.get, key="models")
    beam_width = control_columns[1].slider("Beam width", 2, 8, 4, key="beam",
                                           help="Greedy keeps the single best character at each step; beam search "
                                                "keeps this many partial transcripts, ranked by mean log-probability.")
    reference = st.text_input("Reference transcript (to score against; leave empty to skip)", value=default_reference,
                              key=reference_key)
    with_pocketsphinx = st.toggle("Add PocketSphinx as a reference column", value=True, key="pocketsphinx",
                                  help="CMU's classic offline recognizer (HMM acoustic model + n-gram language model, "
                                       "trained on hundreds of hours of real speech): what a user might otherwise pick.")
    if not chosen:
        st.info("Pick at least one model.")
    else:
        decodings = {"greedy": 1, f"beam {beam_width}": beam_width}
        with st.spinner("Transcribing with every model…"):
            results = {(name, label): decode(audio_key, audio, name, width)
                       for name in chosen for label, width in decodings.items()}
        chunked = {name: results[(name, "greedy")].chunks for name in chosen if len(results[(name, "greedy")].chunks) > 1}
        if chunked:
            st.info("The recording was cut at pauses into chunks, as long as each model decodes best (chosen on "
                    "validation clips: its decoder writes at most 97 characters per chunk): " + "; ".join(
                        f"{labels[name]}, {len(chunks)} chunks of at most {loaded[name][0].config.decode_chunk_seconds:g} s "
                        f"(from {', '.join(f'{chunk.start_s:.1f}' for chunk in chunks)} s)" for name, chunks in chunked.items()) + ".")
        columns = st.columns(len(chosen) + with_pocketsphinx)
        pocketsphinx = None
        if with_pocketsphinx:
            try:
                with st.spinner("PocketSphinx is listening…"):
                    pocketsphinx = reference_recognizer(audio_key, audio)
            except GlassboxError as error:
                columns[-1].error(str(error))
        if pocketsphinx is not None:
            with columns[-1]:
                st.subheader("PocketSphinx (reference)")
                st.markdown(f"**its own search** · {pocketsphinx[1]:.2f} s")
                st.code(pocketsphinx[0] or "(nothing)", language=None, wrap_lines=True)
                st.caption("An HMM recognizer with a word language model: it writes only dictionary words, and it has "
                           "no attention to show, so it appears in no heatmap below.")
        for column, name in zip(columns, chosen):
            with column:
                st.subheader(labels[name])
                st.caption(" ".join(filter(None, [asr.training_data_summary(loaded[name][1]),
                                                  asr.decoding_summary(loaded[name][1])])))
                for label in decodings:
                    result = results[(name, label)]
                    st.markdown(f"**{label}** · {result.seconds:.2f} s")
                    st.code(result.text or "(nothing)", language=None, wrap_lines=True)
                greedy, beam = (results[(name, label)].text for label in decodings)
                changed = levenshtein_distance(beam, greedy)
                st.caption("Beam search wrote the same transcript." if not changed else
                           f"Beam search changed {changed} character(s) of the greedy transcript.")

        if reference.strip():
            st.subheader("Against the reference")
            table = {f"{labels[name]} · {label}": asr.lab_scores(results[(name, label)].text, reference)
                     for name in chosen for label in decodings}
            if pocketsphinx is not None:
                table["PocketSphinx"] = asr.lab_scores(pocketsphinx[0], reference)
            frame = pd.DataFrame(table)
            frame.index = [METRIC_INFO[key].label for key in frame.index]
            st.dataframe(frame.style.format("{:.3f}"), key="scores")
            st.caption(
                f"Reference as the models can write it: “{asr.comparable_reference(reference)}” (lowercase, only the 35 "
                "homework tokens). Jaccard, cosine and Damerau-Levenshtein are similarities (higher is better) computed "
                "as the homework did, on token lists wrapped in `<` … `>` and cut at 97 characters; Levenshtein distance "
                "counts edits; CER and WER are error rates (lower is better)."
            )
            shown = st.radio("Alignment of", list(decodings), horizontal=True, key="alignment_decoding")
            for name in chosen:
                st.markdown(f"**{labels[name]}**, {shown}: reference (top row) over transcript (bottom row)")
                st.plotly_chart(alignment_figure(alignment(results[(name, shown)].text, reference), columns=60),
                                width="stretch", key=f"alignment-{name}")
            st.caption("Grey: equal · orange: substituted · blue: inserted · red: deleted · purple: two neighbours swapped.")

        # ---- 3 · inside the models -----------------------------------------------------------------------------
        st.header("3 · Where each decoder listened")
        st.info(
            "Each row is one character the decoder wrote (the last, `>`, is its stop token); each column is a moment "
            "of the audio, aligned under the spectrogram. A clean alignment is a **diagonal**: as the transcript moves "
            "on, attention moves forward through the audio. Blurred or vertical bands mean the decoder is guessing "
            "from its language model rather than listening."
        )
        inspected = st.radio("Decoding to inspect", list(decodings), horizontal=True, key="inspect_decoding")
        for tab, name in zip(st.tabs([labels[name] for name in chosen]), chosen):
            with tab:
                result = results[(name, inspected)]
                layers, heads = result.chunks[0].cross_attention.shape[:2]
                choices = speech_viz.attention_choices(layers, heads)
                choice = st.selectbox("Attention map", choices, format_func=lambda item: item.label, key=f"heads-{name}")
                timed = speech_viz.timed_cross_attention(result.chunks, duration, choice)
                steps = len(timed.output_labels)
                step = st.slider("Output step", 1, steps, 1, key=f"step-{name}") if steps > 1 else 1
                st.plotly_chart(speech_viz.aligned_attention_figure(features, timed, step - 1),
                                width="stretch", key=f"cross-{name}")
                st.caption(f"Cross-attention, {choice.label}. Hover a cell for the character, the time and the weight; "
                           "the colour scale tops out at the largest weight. The red box is the step chosen with the "
                           "slider, and the red curve over the spectrogram is where that step listened.")
                if result.chunks[0].ctc_posteriors is not None:
                    st.subheader("What the CTC head hears")
                    st.plotly_chart(speech_viz.ctc_figure(features, speech_viz.timed_ctc(result.chunks, duration)),
                                    width="stretch", key=f"ctc-{name}")
                    st.caption("This model also learned a CTC layer on its encoder (joint CTC-attention training). "
                               "At every encoder frame it gives each character a probability, and mostly the blank "
                               "`@`: a character shows as a short spike where it is heard, and the white curve over "
                               "the spectrogram is the probability of anything but the blank. CTC must read the audio "
                               "left to right, one spike per character, so it cannot loop or skip the way an "
                               "attention decoder can on unfamiliar voices; joint decoding uses it to keep the "
                               "decoder honest.")
                if result.chunks[0].self_attention is not None:
                    st.subheader("Masked self-attention of the transformer decoder")
                    chunk_index = 0
                    if len(result.chunks) > 1:
                        chunk_index = st.selectbox("Chunk", range(len(result.chunks)), key=f"chunk-{name}",
                                                   format_func=lambda index: f"chunk {index + 1}") or 0
                    st.plotly_chart(speech_viz.self_attention_figure(result.chunks[chunk_index], choice),
                                    width="stretch", key=f"self-{name}")
                    st.caption("Each character (row) looks back at the characters already written (columns, starting "
                               "with `<`); the mask hides the future, hence the empty upper triangle.")

# ---- 4 · training and test results ------------------------------------------------------------------------------
st.header("4 · Training and test results")
cards = {labels[name]: card for name, (_, card) in loaded.items()}
with_curves = {label: card["curves"] for label, card in cards.items() if card.get("curves")}
if with_curves:
    curve_metrics = ["train_loss", "val_loss", "val_damerau_levenshtein"]
    if any("val_real_damerau_levenshtein" in curves for curves in with_curves.values()):
        curve_metrics.append("val_real_damerau_levenshtein")
    st.plotly_chart(
        training_curves_figure(
            with_curves, curve_metrics,
            titles={"train_loss": "training loss", "val_loss": "validation loss",
                    "val_damerau_levenshtein": "synthetic validation DL similarity",
                    "val_real_damerau_levenshtein": "real validation DL similarity"},
            marker_epoch={label: card["training"]["best_epoch"] for label, card in cards.items()
                          if card.get("training", {}).get("best_epoch")},
        ),
        width="stretch", key="curves",
    )
    epochs = "; ".join(f"{label}: {card['training'].get('epochs_done', '?')} of "
                       f"{card['training'].get('epochs_planned', '?')} epochs trained"
                       for label, card in cards.items() if card.get("training"))
    chosen_on = "; ".join(f"{label}: {SELECTION_SETS.get(card['training'].get('selected_on'), 'synthetic validation clips')}"
                          for label, card in cards.items() if card.get("training"))
    st.caption("Per epoch, from each model card (DL: Damerau-Levenshtein). The star marks the epoch whose weights ship: "
               f"the best DL similarity of greedy decoding on the clips each run chose by ({chosen_on}). {epochs}.")
rows = []
for label, card in cards.items():
    evaluations = {description: card.get("metrics", {}).get(key) for key, description in EVALUATIONS.items()}
    if not any(evaluations.values()) and card.get("best_validation"):  # a card exported before its test scoring
        evaluations = {"synthetic validation split (best epoch; test not scored yet)":
                       {key.removeprefix("val_"): value for key, value in card["best_validation"].items()}}
    for description, metrics in evaluations.items():
        if metrics:
            rows.append({"model": f"Glassbox, {label}", "test data": description, "clips": metrics.get("clips"),
                         "loss": metrics.get("loss"), "jaccard": metrics.get("jaccard"), "cosine": metrics.get("cosine"),
                         "damerau_levenshtein": metrics.get("damerau_levenshtein"), "cer": metrics.get("cer"),
                         "wer": metrics.get("wer")})
students: dict[tuple, dict] = {}
for result in reference_results("asr"):
    row = students.setdefault((result["model"], result["source_repo"]), {
        "model": f"student report ({result['source_repo'].split('/')[0]}), "
                 f"{STUDENT_MODELS.get(result['model'], result['model'])}",
        "test data": "real LJ Speech test split", "clips": 2620})
    row["loss" if result["metric"] == "test_loss" else result["metric"]] = result["value"]
rows += list(students.values())
benchmark = speech_real.shipped_benchmark()
for set_name, scores in ((benchmark or {}).get("systems", {}).get(speech_real.POCKETSPHINX) or {}).items():
    description = {"real-ljspeech": EVALUATIONS["real_ljspeech_whole_clips"], "other-voices": EVALUATIONS["other_voices"]}
    rows.append({"model": "PocketSphinx 5.1 (bench asr-real)", "test data": description.get(set_name, set_name),
                 "clips": scores["clips"], "cer": scores["cer"], "wer": scores["wer"]})
if rows:
    st.plotly_chart(speech_viz.error_rate_bars(rows, [EVALUATIONS[key] for key in
                                                    ["synthetic_test", "unseen_voice_test",
                                                     "real_ljspeech_whole_clips", "other_voices"]]),
                    width="stretch", key="error-rates")
    st.caption("The same corpus CER as the table below, as bars: synthetic speech our models know, a synthetic voice "
               "held out of training, and real people. PocketSphinx, a classic recognizer with a word language model, "
               "is the peer on real speech. The students' rows are not drawn: they scored real LJ Speech "
               "recordings we do not have.")
    st.dataframe(pd.DataFrame(rows).style.format(
        {key: "{:.4f}" for key in ["loss", "jaccard", "cosine", "damerau_levenshtein", "cer", "wer"]} | {"clips": "{:.0f}"},
        na_rep="–"), hide_index=True, key="results", placeholder="–")
st.caption(
    "What differs. The students trained and tested on Linda Johnson's real recordings (test rows 10,480–13,099). "
    "No copy of that test audio is available here, so our models trained on the same transcripts spoken by "
    "text-to-speech voices (some also on real recordings, never these) and are tested on the synthetic test split, on "
    "its voice held out of training, and on 100 real LJ Speech clips that no model trained on: real speech is the hard "
    "case. Our loss skips `@` padding (theirs "
    "counted it), so the loss columns are not comparable one to one; similarities are computed the same way "
    "(greedy decoding, token lists with `<` and `>`, mean per clip). Rows marked a-z scoring transcribe whole clips "
    "as an upload would be and compare lower-case words only (`python -m core bench asr-real`), which is how "
    "PocketSphinx, a recognizer trained on real speech, is measured beside ours. Higher similarity and lower CER/WER "
    "are better."
)
