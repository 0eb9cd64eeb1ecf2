"""Scoring a translator as the homework does, and the results table that sets the shipped models beside the students'."""
from __future__ import annotations

import re
import time
from typing import Callable

from core.metrics import mean_error_rate
from core.reference import reference_results
from core.translation import data
from core.translation.inference import (
    ATTENTION_MODEL, MODEL_LABELS, PLAIN_MODEL, LoadedTranslator, decode_sources, decoding_label,
)
from core.translation.model import Translator

REPORTED_BEAMS = (1, 4, 8)
CARD_EXAMPLES = 12  # greedy test translations kept in the card


def score(model: Translator, source_vocab: data.CharVocabulary, target_vocab: data.CharVocabulary,
          pairs: list[data.Pair], beam_width: int = 1, device: str = "cpu",
          progress: Callable[[float], None] | None = None) -> dict:
    """The homework's error rate (mean Levenshtein / reference length), exact matches and time per sentence."""
    started = time.perf_counter()
    hypotheses = decode_sources(model, source_vocab, [pair.spanish for pair in pairs], beam_width, device=device,
                                progress=progress)
    seconds = time.perf_counter() - started
    predictions = [target_vocab.decode(hypothesis.tokens) for hypothesis in hypotheses]
    references = [pair.english for pair in pairs]
    return {
        "error_rate": mean_error_rate(predictions, references),
        "exact_matches": sum(p == r for p, r in zip(predictions, references)),
        "sentences": len(pairs),
        "ms_per_sentence": 1000 * seconds / len(pairs),
        "predictions": predictions,
    }


def evaluate_translator(translator: LoadedTranslator, split: str = "test", beam_width: int = 1, limit: int | None = None,
                        device: str = "cpu", progress: Callable[[float], None] | None = None) -> dict:
    """`score` of a loaded translator (shipped or a student's) on a data split, without the predictions."""
    pairs = data.load_pairs(split)[:limit]
    result = score(translator.model, translator.source_vocab, translator.target_vocab, pairs, beam_width, device,
                   progress)
    result.pop("predictions")
    return {"model": translator.name, "split": split, "beam_width": beam_width, **result}


def metric_suffix(beam_width: int) -> str:
    """How a card's metric names say the decoding: `test_error_rate_greedy`, `test_error_rate_beam4`."""
    return "greedy" if beam_width == 1 else f"beam{beam_width}"


def card_metrics(model: Translator, source_vocab: data.CharVocabulary, target_vocab: data.CharVocabulary,
                 test_pairs: list[data.Pair], device: str = "cpu") -> tuple[dict, list[dict]]:
    """Test scores for every reported beam width, and the first greedy translations as the card's examples."""
    metrics, examples = {}, []
    for beam_width in REPORTED_BEAMS:
        result = score(model, source_vocab, target_vocab, test_pairs, beam_width, device)
        suffix = metric_suffix(beam_width)
        metrics[f"test_error_rate_{suffix}"] = result["error_rate"]
        metrics[f"test_exact_matches_{suffix}"] = result["exact_matches"]
        metrics[f"test_ms_per_sentence_{suffix}"] = round(result["ms_per_sentence"], 3)
        if beam_width == 1:
            examples = [
                {"spanish": pair.spanish, "english": pair.english, "prediction": prediction}
                for pair, prediction in list(zip(test_pairs, result["predictions"]))[:CARD_EXAMPLES]
            ]
    return metrics, examples


def results_table(cards: dict[str, dict]) -> list[dict]:
    """Rows for each model card (label -> card) and reported decoding, then the students' greedy test results."""
    rows = []
    for label, card in cards.items():
        for beam_width in REPORTED_BEAMS:
            suffix = metric_suffix(beam_width)
            rows.append({"model": f"Glassbox, {label}", "decoding": decoding_label(beam_width),
                         "test error rate": card["metrics"][f"test_error_rate_{suffix}"],
                         "exact matches / 1000": card["metrics"][f"test_exact_matches_{suffix}"],
                         "ms per sentence": card["metrics"][f"test_ms_per_sentence_{suffix}"]})
    for reference in reference_results("mt"):
        exact = re.search(r"(\d+)/1000 exact", reference["notes"])
        same_kind = PLAIN_MODEL if "no attention" in reference["model"] else ATTENTION_MODEL
        rows.append({"model": f"student report ({reference['source_repo'].split('/')[0]}), {MODEL_LABELS[same_kind]}",
                     "decoding": "greedy", "test error rate": reference["value"],
                     "exact matches / 1000": int(exact.group(1)) if exact else None, "ms per sentence": None})
    return rows


def training_data_summary(card: dict) -> str:
    """One line on what a translator learned from, read from its card: the same words on the home page and in the lab."""
    splits, training = card["dataset"]["splits"], card["training"]
    epochs = training.get("epochs_completed", training["epochs"])
    chosen = f", weights from epoch {training['weights_from_epoch']}" if training.get("weights_from_epoch") else ""
    return (f"Trained on {splits['train']:,} Spanish–English sentence pairs from the course data, each under 20 "
            f"characters, lowercased and without accents; {epochs} epochs{chosen}, chosen on {splits['val']:,} "
            f"validation pairs.")
