"""What every visitor shares, loaded once per server process: the labs' models and the Speech lab's decode lines.

The loaders live here, not in the pages, because a page script runs its page on import: `serve.py` imports this
module and calls `warm()` before the server answers, so the first visitor finds every model loaded and the Speech
lab's first example already transcribed (the decode line keeps results by clip, model and beam width), its figures
and score table drawn once (the first plotly figure, pandas table and scipy import cost a second and a half).
"""
import hashlib
import time
from concurrent.futures import Future

import streamlit as st

from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.speech import examples, figures, inference
from core.speech.decode_queue import DecodeQueue, shown_text, transcribe
from core.speech.evaluation import lab_score_table
from core.speech.features import load_audio, log_mel
from core.speech.pocketsphinx import INSTALLED, POCKETSPHINX
from core.translation.inference import MODEL_LABELS, LoadedTranslator, load_translator
from core.vision.inference import checkpoint_name
from core.vision.inference import load_model as load_cnn
from core.vision.model import VARIANTS
from core.vision.protocol import RECIPES

MODELS = "models"  # the decode line of the shipped (and uploaded) recognizers
POCKETSPHINX_NICENESS = 10  # the classic recognizer costs seconds a clip: it gives way to the models and the pages


@st.cache_resource(show_spinner="Loading the speech recognizers…")
def shipped_recognizer(name: str) -> tuple:
    """(model, card) of a shipped recognizer; the first load also readies audio I/O and the compiled CTC loop."""
    inference.warm_up()
    return inference.load_model(name)


@st.cache_resource
def decode_queues() -> dict[str, DecodeQueue]:
    """Per server: the models decode one clip per core; PocketSphinx has one decoder, at a lower priority."""
    return {MODELS: DecodeQueue(), POCKETSPHINX: DecodeQueue(workers=1, niceness=POCKETSPHINX_NICENESS)}


@st.cache_data(show_spinner="Reading the audio…", max_entries=16)
def prepared_audio(audio_bytes: bytes) -> tuple:
    """16 kHz mono samples and the log-mel features of the whole recording."""
    audio = load_audio(audio_bytes, max_seconds=inference.LAB_MAX_SECONDS)
    return audio, log_mel(audio).numpy()


def audio_key(audio_bytes: bytes) -> str:
    """What the decode lines know a clip by."""
    return hashlib.sha256(audio_bytes).hexdigest()


def submit_decodes(key: str, audio, loaded: dict, chosen: list[str], decodings: dict[str, int]) -> dict[tuple, Future]:
    """{(model name, decoding label): job}; every greedy decode joins the line before any beam search."""
    line = decode_queues()[MODELS]
    return {(name, label): line.submit((key, name, width), transcribe, audio, loaded[name], width)
            for label, width in decodings.items() for name in chosen}


def submit_pocketsphinx(key: str, audio) -> Future:
    return decode_queues()[POCKETSPHINX].submit((key, POCKETSPHINX), transcribe, audio, None, 1)


@st.cache_resource(show_spinner="Loading the translation checkpoints…")
def shipped_translator(name: str) -> LoadedTranslator:
    return load_translator(name)


@st.cache_resource(show_spinner="Loading the CNN checkpoints…")
def shipped_cnns(preset: str) -> dict:
    """{variant: (model, card)} of a preset's shipped CNNs."""
    return {variant: load_cnn(checkpoint_name(preset, variant)) for variant in VARIANTS}


def warm() -> dict:
    """Load every shipped model and transcribe the Speech lab's first example with each recognizer (greedy, as the
    page opens) and PocketSphinx. Returns the seconds each part took and what could not load (its page says so)."""
    report, failed = {}, []

    def loaded(load, *args):
        try:
            return load(*args)
        except GlassboxError as error:  # e.g. OCTMNIST, which is not shipped: the Vision lab says how to train it
            failed.append(f"{args[0]}: {error}")
            return None

    def timed(part: str, work) -> None:
        started = time.perf_counter()
        work()
        report[f"{part}_s"] = round(time.perf_counter() - started, 2)

    recognizers = {}
    timed("vision", lambda: [loaded(shipped_cnns, preset) for preset in RECIPES])
    timed("translation", lambda: [loaded(shipped_translator, name) for name in MODEL_LABELS])
    timed("speech_models", lambda: recognizers.update(
        (name, model) for name in list_checkpoints("asr") if (model := loaded(shipped_recognizer, name))))
    timed("speech_example", lambda: _prepare_first_example(recognizers))
    return report | {"not_loaded": failed}


def _prepare_first_example(recognizers: dict) -> None:
    """The page opens on the first example: its greedy transcripts (and PocketSphinx's) wait in the decode lines, and
    what the page draws of them is drawn once here, so that the first visitor does not pay for the first imports."""
    if not (shipped := examples.load_examples()):
        return
    audio_bytes = examples.example_path(shipped[0]).read_bytes()
    audio, features = prepared_audio(audio_bytes)
    key = audio_key(audio_bytes)
    jobs = submit_decodes(key, audio, recognizers, list(recognizers), {"greedy": 1})
    sphinx = [submit_pocketsphinx(key, audio)] if INSTALLED else []
    transcripts = {name: shown_text(job.result()) for (name, _), job in jobs.items()}
    for job in sphinx:
        job.result()
    figures.waveform_figure(audio).to_json()
    figures.spectrogram_figure(features).to_json()
    lab_score_table(transcripts, shipped[0].text).to_html()
