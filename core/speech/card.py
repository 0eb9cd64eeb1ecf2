"""A recognizer's model card, built from what was run (the model, its recipe, its history), and what the Speech lab
reads back from cards: titles, one-line summaries and the rows of its results table."""
from __future__ import annotations

import json
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import pandas as pd

from core.checkpoints import architecture_of, read_card
from core.errors import GlassboxError
from core.reference import reference_results
from core.speech.corpus.augment import AUGMENT_PRESETS
from core.speech.corpus.ljspeech import HOMEWORK_SPLITS, read_voices
from core.speech.corpus.real_speech import duration_seconds, summary, validation_clips
from core.speech.corpus.synth import CORPUS_FOLDERS, VOICES, VOICES_BY_NAME, voice_card
from core.speech.evaluation import shipped_benchmark, shipped_scores
from core.speech.features import FEATURES
from core.speech.model import SpeechRecognizer, SpeechRecognizerConfig
from core.speech.pocketsphinx import POCKETSPHINX
from core.speech.recipe import (
    SpeechRecipe, clips_in_epoch, corpus_and_repeats, first_complete_epoch, selection_metric, train_command,
)

HOW_TO_GET_CHECKPOINTS = ("Train one with `python -m core train asr --decoder transformer` and `--decoder lstm` (see "
                          "`python -m core train asr --help`), or restore `checkpoints/asr/` from git.")
def size_note(config: SpeechRecognizerConfig, parameters: int) -> str:
    """What was scaled from the homework, and why, in the card's words (read from the config, so it cannot go stale)."""
    if config.front_end == "conv-lstm":
        return (f"d_model {config.d_model}, {config.n_heads} heads, MLP {config.mlp_size}, {config.encoder_layers} encoder "
                f"and {config.decoder_layers} decoder blocks ({parameters / 1e6:.1f} M parameters): the CNN front end "
                "quarters the frame rate, which pays for the LSTM and the second decoder block, so an epoch costs about "
                "what the homework models cost on the CPU (see core.speech.model.speech_transformer_config).")
    blocks = (f"{config.encoder_layers} encoder blocks, as the homework notebook trained" if config.encoder_layers == 2
              else f"{config.encoder_layers} encoder blocks (the notebook trained 2, the statement says 4; the deeper "
                   "encoder hears unseen voices better)")
    return (f"Homework sizes (hidden {config.d_model}, {config.n_heads} heads, MLP {config.mlp_size}) with {blocks}. "
            f"{parameters / 1e6:.1f} M parameters: a CPU epoch over 9,825 clips takes minutes, not hours.")


HELD_OUT_VOICES = [voice.name for voice in VOICES if voice.held_out]


def model_title(config: SpeechRecognizerConfig, brief: bool = False) -> str:
    """What a person calls this recognizer: the homework encoder with its decoder, or the Speech-Transformer;
    `brief` drops what the two homework models share (the Speech lab's column headings)."""
    if config.front_end == "conv-lstm":
        return "Speech-Transformer" if brief else (f"Speech-Transformer (CNN-LSTM front end, {config.encoder_layers} "
                                                   f"encoder + {config.decoder_layers} decoder blocks)")
    decoder = "LSTM decoder" if config.decoder == "lstm" else "transformer decoder"
    return decoder if brief else f"Audio encoder + {decoder}"


def model_label(name: str, config: SpeechRecognizerConfig) -> str:
    return f"{model_title(config, brief=True)} ({name.split('/', 1)[-1]})"


def build_card(name: str, model: SpeechRecognizer, recipe: SpeechRecipe, history: list[dict], best: dict,
               corpus_root: Path, run_dir: Path, init_from: dict | None, decoding: dict) -> dict:
    """Everything but the weights' own entries (save_checkpoint adds those) and the test scores."""
    config = model.config
    return {
        "architecture": architecture_of(model),
        "task": "asr",
        "title": model_title(config) + ", LJ Speech texts (synthetic voices"
                 + (" + real speech)" if recipe.real_speech_repeats else ")"),
        "dataset": _dataset_card(recipe, history, corpus_root),
        "features": asdict(FEATURES) | {"note": "log10 mel power, floored at max-8, (x+4)/4; audio resampled to 16 kHz"},
        "training": {
            "recipe": asdict(recipe),
            "seed": recipe.seed,
            "epochs_planned": recipe.epochs,
            "epochs_done": len(history),
            "best_epoch": best["epoch"],
            "seconds_per_epoch": [record["seconds"] for record in history],
            "stages": recipe.stages,
            "selected_on": selection_metric(recipe),
            "init_from": init_from,
            "first_epoch_that_may_ship": first_complete_epoch(recipe) + 1,
            "how_to_resume": (f"{train_command(name, config, recipe)} --run-dir {run_dir} "
                              f"(continues after epoch {len(history)}; the run folder is not committed)"),
            "size_note": size_note(config, sum(parameter.numel() for parameter in model.parameters())),
        },
        "decoding": decoding,
        "curves": {key: [record.get(key) for record in history] for key in history[0] if key not in ("epoch", "train_clips")},
        "best_validation": {key: value for key, value in best.items() if key.startswith("val_")},
    }


def _dataset_card(recipe: SpeechRecipe, history: list[dict], corpus_root: Path) -> dict:
    names = [corpus_and_repeats(entry)[0] for entry in recipe.corpora]
    roots = [corpus_root if name == "original" else CORPUS_FOLDERS[name] for name in names]
    voices_used = sorted({voice for root in roots for voice in read_voices(root).values()})
    return {
        "name": "LJ Speech 1.1 transcripts spoken by offline TTS voices (synth-ljspeech)",
        "source": "metadata.csv of LJ Speech 1.1 (public domain); audio synthesized by `python -m core data synth-ljspeech`",
        "splits": {split: stop - start for split, (start, stop) in HOMEWORK_SPLITS.items()},
        "training_pool_per_epoch": [record.get("train_clips") for record in history],
        "train_clips_per_epoch": [clips_in_epoch(record["train_clips"], recipe) if record.get("train_clips") else None
                                  for record in history],
        "corpora": recipe.corpora,
        "voices": voices_used,
        "voice_licences": voice_card([VOICES_BY_NAME[name] for name in voices_used if name in VOICES_BY_NAME]),
        "held_out_of_train": HELD_OUT_VOICES,
        "real_training_speech": _real_speech_card(recipe),
        "augmentation": None if recipe.augment == "none" else {"preset": recipe.augment,
                                                                **asdict(AUGMENT_PRESETS[recipe.augment]())},
        "real_clips": "100 real LJ Speech recordings (LJ001-0001…0100), evaluation only",
    }


def _real_speech_card(recipe: SpeechRecipe) -> dict | None:
    """Which real recordings trained the model, how often, and their licences (None: synthetic speech only)."""
    if not recipe.real_speech_repeats:
        return None
    described = summary()
    if recipe.real_val_clips:  # held out to choose the epoch: not trained on
        held_out = validation_clips(recipe.real_val_clips)
        minutes = sum(map(duration_seconds, held_out)) / 60
        described["held_out_for_validation"] = {"clips": len(held_out), "minutes": round(minutes, 2)}
        described["training"] |= {"clips": described["training"]["clips"] - len(held_out),
                                  "minutes": round(described["training"]["minutes"] - minutes, 2)}
    return {"repeats_per_epoch": recipe.real_speech_repeats, **described,
            "licences": "LJ Speech: public domain; Kathleen and Common Voice: CC0 1.0; CMU ARCTIC: BSD-style "
                        "(see ../shared/data/*/PROVENANCE.md)"}


def read_init_from(path: Path) -> dict | None:
    """The warm start's provenance a run recorded when it started (None: trained from scratch)."""
    return json.loads(path.read_text()) if path.exists() else None


# --- what the Speech lab reads back -----------------------------------------------------------------------------------

def lab_introduction(names: list[str]) -> str:
    """The Speech lab's opening paragraph; the Speech-Transformer is named when a shipped card holds one."""
    try:
        with_speech_transformer = any(read_card(name)["architecture"]["config"].get("front_end") == "conv-lstm"
                                      for name in names)
    except (GlassboxError, KeyError, TypeError):  # an unreadable card is explained when its model loads
        with_speech_transformer = False
    return ("The IST Deep Learning 2023-24 homework's speech recognizer: a Whisper-style audio encoder (two convolutions "
            "and self-attention blocks over a log-mel spectrogram) and a character decoder, either an **LSTM** or a "
            "**transformer**, that writes one character at a time while **cross-attending** to the audio."
            + (" Beside them, CMU 11-785's **Speech-Transformer**: a CNN-LSTM front end (4× fewer frames, then a "
               "bidirectional LSTM) under transformer encoder blocks, and a two-block transformer decoder, trained in "
               "stages." if with_speech_transformer else "")
            + " All were trained here on the LJ Speech transcripts spoken by text-to-speech voices, some on real "
            "recordings too: each model's column says what it heard. Give them some speech and look inside.")


def training_data_summary(card: dict) -> str:
    """One line on what a recognizer heard in training, from its card: voices, real speech, augmentation, warm start."""
    dataset, training = card.get("dataset", {}), card.get("training", {})
    voices = [voice for voice in dataset.get("voices", []) if voice not in dataset.get("held_out_of_train", [])]
    parts = [f"{len(voices)} synthetic voices" if voices else "synthetic voices"]
    real = dataset.get("real_training_speech")
    if real:
        parts.append(f"{real['training']['minutes']:.0f} min of real speech ({real['training']['clips']:,} clips, "
                     f"{real['repeats_per_epoch']}× per epoch)")
    if dataset.get("augmentation"):
        parts.append(f"augmented ({dataset['augmentation']['preset']})")
    origin = training.get("init_from")
    epochs = f"{training.get('epochs_done', '?')} epochs"
    if origin:
        what = "encoder warm-started" if origin.get("loaded") else "warm-started"  # "loaded": an encoder-only start
        epochs += f", {what} from {origin['checkpoint']} ({origin.get('epochs', '?')} epochs)"
    while origin and origin.get("init_from"):  # a warm start of a warm start: name every step back to the first
        origin = origin["init_from"]
        epochs += f", itself warm-started from {origin['checkpoint']} ({origin.get('epochs', '?')} epochs)"
    return "Trained on " + ", ".join(parts) + f"; {epochs}."


def column_caption(card: dict) -> str:
    """What the Speech lab says under a model's name: what it heard, and how it decodes if not by attention alone."""
    return " ".join(filter(None, [training_data_summary(card), decoding_summary(card)]))


def decoding_summary(card: dict) -> str | None:
    """One line on how a recognizer decodes when its card chose joint CTC-attention decoding (None: attention only)."""
    decoding = card.get("decoding") or {}
    if not decoding.get("ctc_weight"):
        return None
    return (f"Decodes jointly with its CTC head: each character's score mixes in the CTC prefix score with weight "
            f"{decoding['ctc_weight']:g}, chosen on real validation clips; the attention maps are the decoder's own.")


NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
REAL_SPEECH = "real_ljspeech_whole_clips"  # a card's score on real recordings, measured as `bench asr-real` measures


def error_rate_in_words(cer: float) -> str:
    """A character error rate as a student would say it: 0.33 -> "about one letter in three wrong"."""
    if cer < 0.04 or cer > 0.95:
        return "almost every letter right" if cer < 0.04 else "almost every letter wrong"
    share = Fraction(1, round(1 / cer)) if cer < 0.2 else Fraction(cer).limit_denominator(5)
    if share == Fraction(1, 2):
        return "about half the letters wrong"
    count, out_of = (NUMBER_WORDS[part] if part < len(NUMBER_WORDS) else str(part) for part in share.as_integer_ratio())
    return f"about {count} letter{'s' if share.numerator > 1 else ''} in {out_of} wrong"


EXPECTATION_BEAM = 4  # the beam width whose real-speech score (from the shipped benchmark) sits beside the greedy one


def expectations(cards: dict[str, dict]) -> str:
    """What to expect from your own recording (label -> card): each model's error rate on real recordings it never
    heard, in words, with what it trained on (and, where the shipped benchmark scored these weights, with a beam);
    PocketSphinx's on the same clips, from the shipped benchmark."""
    lines, benchmark = [], shipped_benchmark()
    for label, card in cards.items():
        scores = card.get("metrics", {}).get(REAL_SPEECH)
        beam = shipped_scores(benchmark, card, EXPECTATION_BEAM)
        with_beam = f"; {beam['cer']:.0%} with a beam of {EXPECTATION_BEAM}" if beam else ""
        lines.append(f"**{label}** " + (f"gets {error_rate_in_words(scores['cer'])} on real recordings it never "
                                        f"heard (CER {scores['cer']:.0%} on {scores['clips']} LJ Speech clips{with_beam})."
                                        if scores else "has not been scored on real recordings yet.")
                     + f" {training_data_summary(card)}")
    classic = ((benchmark or {}).get("systems", {}).get(POCKETSPHINX) or {}).get("real-ljspeech")
    if classic:
        lines.append(f"**PocketSphinx**, the classic reference (trained on hours of real speech), gets "
                     f"{error_rate_in_words(classic['cer'])} on the same clips (CER {classic['cer']:.0%}).")
    return "  \n".join(["**What to expect** on a voice the models never heard:"] + lines)


EVALUATIONS = {"synthetic_test": "synthetic test split (all voices)", "unseen_voice_test": "synthetic test, held-out voice",
               "real_ljspeech": "100 real LJ Speech clips",
               "real_ljspeech_whole_clips": "100 real LJ Speech clips, whole (a-z scoring)",
               "other_voices": "other voices: Common Voice speakers (a-z scoring)"}
ERROR_RATE_SETS = [EVALUATIONS[key] for key in ["synthetic_test", "unseen_voice_test", "real_ljspeech_whole_clips",
                                                "other_voices"]]
BENCH_SETS = {"real-ljspeech": EVALUATIONS["real_ljspeech_whole_clips"], "other-voices": EVALUATIONS["other_voices"]}
STUDENT_MODELS = {"transformer enc + transformer dec": "transformer decoder",
                  "transformer enc + LSTM/cross-attn dec": "LSTM decoder"}
SCORE_COLUMNS = ["loss", "jaccard", "cosine", "damerau_levenshtein", "cer", "wer"]

RESULTS_NOTE = (  # the Speech lab's caption under result_rows' table
    "What differs. The students trained and tested on Linda Johnson's real recordings (test rows 10,480–13,099). No copy "
    "of that test audio is available here, so our models trained on the same transcripts spoken by text-to-speech voices "
    "(some also on real recordings, never these) and are tested on the synthetic test split, on its voice held out of "
    "training, and on 100 real LJ Speech clips that no model trained on: real speech is the hard case. Our loss skips "
    "`@` padding (theirs counted it), so the loss columns are not comparable one to one; similarities are computed the "
    "same way (greedy decoding, token lists with `<` and `>`, mean per clip). Rows marked a-z scoring transcribe whole "
    "clips as an upload would be and compare lower-case words only (`python -m core bench asr-real`), which is how "
    "PocketSphinx, a recognizer trained on real speech, is measured beside ours. Higher similarity and lower CER/WER "
    "are better.")
ERROR_RATE_NOTE = ("The same corpus CER as the table below, as bars: synthetic speech our models know, a synthetic "
                   "voice held out of training, and real people. PocketSphinx, a classic recognizer with a word language "
                   "model, is the peer on real speech. The students' rows are not drawn: they scored real LJ Speech "
                   "recordings we do not have.")


def result_table(rows: list[dict]) -> pd.io.formats.style.Styler:
    """`result_rows` as the Speech lab shows them: four decimals, whole clip counts, a dash where a score is missing."""
    formats = {key: "{:.4f}" for key in SCORE_COLUMNS} | {"clips": "{:.0f}"}
    return pd.DataFrame(rows).style.format(formats, na_rep="–")


def result_rows(cards: dict[str, dict]) -> list[dict]:
    """The Speech lab's results table: each card's test scores (label -> card), the students' reported scores, and
    PocketSphinx's from the shipped `bench asr-real` file."""
    return [row for label, card in cards.items() for row in _card_rows(label, card)] + _student_rows() + _pocketsphinx_rows()


def _card_rows(label: str, card: dict) -> list[dict]:
    evaluations = {description: card.get("metrics", {}).get(key) for key, description in EVALUATIONS.items()}
    if not any(evaluations.values()) and card.get("best_validation"):  # a card exported before its test scoring
        evaluations = {"synthetic validation split (best epoch; test not scored yet)":
                       {key.removeprefix("val_"): value for key, value in card["best_validation"].items()}}
    return [{"model": f"Glassbox, {label}", "test data": description, "clips": metrics.get("clips")}
            | {column: metrics.get(column) for column in SCORE_COLUMNS}
            for description, metrics in evaluations.items() if metrics]


def _student_rows() -> list[dict]:
    students: dict[tuple, dict] = {}
    for result in reference_results("asr"):
        row = students.setdefault((result["model"], result["source_repo"]), {
            "model": f"student report ({result['source_repo'].split('/')[0]}), "
                     f"{STUDENT_MODELS.get(result['model'], result['model'])}",
            "test data": "real LJ Speech test split", "clips": 2620})
        row["loss" if result["metric"] == "test_loss" else result["metric"]] = result["value"]
    return list(students.values())


def _pocketsphinx_rows() -> list[dict]:
    scores_by_set = ((shipped_benchmark() or {}).get("systems", {}).get(POCKETSPHINX) or {})
    return [{"model": "PocketSphinx 5.1 (bench asr-real)", "test data": BENCH_SETS.get(set_name, set_name),
             "clips": scores["clips"], "cer": scores["cer"], "wer": scores["wer"]}
            for set_name, scores in scores_by_set.items()]


CURVE_TITLES = {"train_loss": "training loss", "val_loss": "validation loss",
                "val_damerau_levenshtein": "synthetic validation DL similarity",
                "val_real_damerau_levenshtein": "real validation DL similarity"}
SELECTION_SETS = {"val_real_damerau_levenshtein": "real validation clips",  # a card's training.selected_on
                  "val_damerau_levenshtein": "synthetic validation clips"}


def training_curves(cards: dict[str, dict]) -> dict | None:
    """What the Speech lab's training-curves figure draws (label -> card), as core.figures.training_curves_figure's
    arguments (each shipped epoch starred), and a caption saying which clips chose it; None when no card has curves."""
    curves = {label: card["curves"] for label, card in cards.items() if card.get("curves")}
    if not curves:
        return None
    panels = [key for key in CURVE_TITLES if key != "val_real_damerau_levenshtein"
              or any(key in values for values in curves.values())]
    trained = {label: card["training"] for label, card in cards.items() if card.get("training")}
    epochs = "; ".join(f"{label}: {training.get('epochs_done', '?')} of {training.get('epochs_planned', '?')} epochs "
                       "trained" for label, training in trained.items())
    chosen_on = "; ".join(f"{label}: {SELECTION_SETS.get(training.get('selected_on'), 'synthetic validation clips')}"
                          for label, training in trained.items())
    return {"figure": {"runs": curves, "metrics": panels, "titles": CURVE_TITLES,
                       "marker_epoch": {label: training["best_epoch"] for label, training in trained.items()
                                        if training.get("best_epoch")}},
            "caption": "Per epoch, from each model card (DL: Damerau-Levenshtein). The star marks the epoch whose weights "
                       "ship: the best DL similarity of greedy decoding on the clips each run chose by "
                       f"({chosen_on}). {epochs}."}
