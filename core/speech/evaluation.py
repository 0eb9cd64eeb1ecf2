"""How well a recognizer transcribes: scores on a data set, on real recordings (beside PocketSphinx), the decoding
choices tuned after training, and the speed benchmarks of `python -m core bench asr*`."""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from core import paths
from core.decoding import DecodingOptions
from core.metrics import (
    METRIC_INFO,
    SCORERS,
    corpus_error_rates,
    cosine_similarity,
    damerau_levenshtein_similarity,
    jaccard_similarity,
    levenshtein_distance,
    normalize_for_scoring,
    token_scores,
)
from core.speech import vocabulary
from core.speech.corpus.ljspeech import Utterance, load_split
from core.speech.corpus.real_speech import duration_seconds, other_voices_clips, real_ljspeech_eval_clips, validation_clips
from core.speech.corpus.synth import SYNTH_CORPUS
from core.speech.dataset import SpeechSet, load_speech_set, real_validation_set
from core.speech.features import load_audio
from core.speech.inference import card_decoding, load_model, transcribe_audio, transcribe_batch
from core.speech.pocketsphinx import POCKETSPHINX, pocketsphinx_decoder, pocketsphinx_transcribe
from core.speech.recipe import SpeechRecipe, batch_loss


@torch.no_grad()
def score(model, dataset: SpeechSet, recipe: SpeechRecipe | None = None, options: DecodingOptions = DecodingOptions(),
          limit: int | None = None, batch_size: int = 16, quiet: bool = True, description: str = "scoring") -> dict:
    """Loss, the homework's similarities (on token ids `<` … first `>`, mean per clip), corpus CER and WER, the
    11-785 statement's mean Levenshtein distance per clip, and decoding seconds per clip.

    Returns the metrics and, under "transcripts", (id, reference, hypothesis) for every scored clip.
    """
    recipe = recipe or SpeechRecipe()
    model.eval()
    total_loss, total_items = 0.0, 0
    sums = {"jaccard": 0.0, "cosine": 0.0, "damerau_levenshtein": 0.0}
    references, hypotheses, transcripts = [], [], []
    decoding_seconds, decoding_cpu_seconds, distances = 0.0, 0.0, 0
    batches = dataset.subset(limit).batches(batch_size) if limit else dataset.batches(batch_size)
    for batch in tqdm(batches, desc=description, file=sys.stderr, disable=quiet, leave=False):
        loss, items = batch_loss(model, batch, recipe)
        total_loss += float(loss) * items
        total_items += items
        started, cpu_started = time.perf_counter(), time.process_time()
        decoded = transcribe_batch(model, batch["features"], batch["lengths"], options)
        decoding_seconds += time.perf_counter() - started
        decoding_cpu_seconds += time.process_time() - cpu_started
        for row, hypothesis in zip(batch["indices"], decoded):
            ending = [vocabulary.STOP] if hypothesis.finished else []
            predicted = vocabulary.homework_sequence([vocabulary.START] + hypothesis.tokens + ending)
            target = dataset.tokens[row]
            sums["jaccard"] += jaccard_similarity(predicted, target)
            sums["cosine"] += cosine_similarity(predicted, target)
            sums["damerau_levenshtein"] += damerau_levenshtein_similarity(predicted, target)
            reference, text = vocabulary.decode(target), vocabulary.decode(hypothesis.tokens)
            references.append(reference)
            hypotheses.append(text)
            distances += levenshtein_distance(text, reference)
            transcripts.append((dataset.utterances[row].id, reference, text))
    count = max(len(references), 1)
    return {
        "clips": len(references),
        "loss": total_loss / max(total_items, 1),
        **{name: value / count for name, value in sums.items()},
        **corpus_error_rates(hypotheses, references),
        "levenshtein": distances / count,
        "seconds_per_clip": decoding_seconds / count,  # search only (batched), features and loss excluded
        "cpu_seconds_per_clip": decoding_cpu_seconds / count,  # the same in CPU time: comparable on a busy machine
        "transcripts": transcripts,
    }


def with_examples(result: dict, count: int) -> dict:
    """A `score` result with its first `count` transcripts as examples in place of the full list."""
    transcripts = result.pop("transcripts")
    return result | {"examples": [{"id": i, "reference": r, "hypothesis": h} for i, r, h in transcripts[:count]]}


# --- one transcript against a typed reference (the Speech lab) ------------------------------------------------------

LAB_SCORES = ["tokens_jaccard", "tokens_cosine", "tokens_damerau_levenshtein", "levenshtein_distance", "cer", "wer"]


def comparable_reference(text: str) -> str:
    """A reference the models could have written: lowercased, characters outside the 35 tokens dropped, spaces single."""
    return normalize_for_scoring(text, re.escape(vocabulary.WRITTEN_CHARACTERS), others="")


def lab_score_table(transcripts: dict[str, str], reference: str) -> "pd.io.formats.style.Styler":
    """`lab_scores` of each column's transcript (column -> text), one row per score, named as the Metrics lab names it;
    edit counts shown whole ("27", never "27.000"), the rest to three decimals."""
    table = pd.DataFrame({column: lab_scores(text, reference) for column, text in transcripts.items()})
    edits = [METRIC_INFO[key].label for key in table.index if METRIC_INFO[key].unit == "edits"]
    table.index = [METRIC_INFO[key].label for key in table.index]
    return table.style.format("{:.3f}").format("{:.0f}", subset=pd.IndexSlice[edits, :])


def lab_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """The Speech lab's scores of one transcript: the homework's three similarities on `<`…`>` token lists (first 97
    characters, as the homework scored), Levenshtein distance, CER and WER, against `comparable_reference`."""
    reference = comparable_reference(reference)
    scores = {f"tokens_{key}": value for key, value in token_scores(hypothesis, reference, vocabulary.encode).items()}
    return {key: scores[key] if key in scores else SCORERS[key](hypothesis, reference) for key in LAB_SCORES}


# --- whole real recordings, any recognizer (`bench asr-real`) -------------------------------------------------------

def score_transcripts(hypotheses: list[str], references: list[str], decode_seconds: float = 0.0,
                      audio_seconds: float = 0.0, cpu_seconds: float | None = None) -> dict:
    """Corpus CER and WER after `normalize_for_scoring` (a-z, apostrophe, space), mean per-clip CER, real-time factor.

    `cpu_seconds` (the process's CPU time while decoding) gives a second real-time factor that a busy machine
    inflates less than the wall clock does, for one-threaded decoders.
    """
    hypotheses = [normalize_for_scoring(text) for text in hypotheses]
    references = [normalize_for_scoring(text) for text in references]
    if not references or not all(references):
        raise ValueError("every clip needs a non-empty reference to be scored")
    per_clip = [corpus_error_rates([h], [r])["cer"] for h, r in zip(hypotheses, references)]
    return {
        "clips": len(references),
        **corpus_error_rates(hypotheses, references),
        "mean_clip_cer": float(np.mean(per_clip)),
        "real_time_factor": decode_seconds / audio_seconds if audio_seconds else float("nan"),
        "decode_s": round(decode_seconds, 2),
        "audio_s": round(audio_seconds, 2),
        **({"cpu_real_time_factor": cpu_seconds / audio_seconds} if cpu_seconds is not None and audio_seconds else {}),
    }


def evaluation_sets(limit: int | None = None) -> dict[str, list[Utterance]]:
    """Name -> utterances of each real evaluation set (first `limit` clips of each); no model ever trained on them."""
    return {"real-ljspeech": real_ljspeech_eval_clips()[:limit], "other-voices": other_voices_clips()[:limit]}


def score_recognizer(transcribe: Callable[[Path], str], utterances: list[Utterance], description: str) -> dict:
    """Run `transcribe(audio_path) -> text` on every clip (timed, audio reading included) and score the transcripts."""
    hypotheses, decode_seconds, cpu_seconds, audio_seconds = [], 0.0, 0.0, 0.0
    for utterance in tqdm(utterances, desc=description, file=sys.stderr, leave=False):
        audio_seconds += duration_seconds(utterance)
        started, cpu_started = time.perf_counter(), time.process_time()
        hypotheses.append(transcribe(utterance.audio_path))
        decode_seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
    result = score_transcripts(hypotheses, [u.text for u in utterances], decode_seconds, audio_seconds, cpu_seconds)
    result["examples"] = [{"id": u.id, "reference": normalize_for_scoring(u.text), "hypothesis": normalize_for_scoring(h)}
                          for u, h in list(zip(utterances, hypotheses))[:3]]
    return result


REAL_SET_CARD_KEYS = {"real-ljspeech": "real_ljspeech_whole_clips", "other-voices": "other_voices"}


def real_speech_metrics(model, options: DecodingOptions) -> dict:
    """A card's real-speech scores, as `python -m core bench asr-real` computes them: whole clips transcribed as a
    user's upload would be (split on silence into the model's chunks), full references, text reduced to a-z,
    apostrophe and space."""
    return {REAL_SET_CARD_KEYS[set_name]: score_recognizer(lambda path: transcribe_audio(model, Path(path), options)["text"],
                                                           clips, set_name)
            for set_name, clips in evaluation_sets().items()}


def recognizers(model_names: list[str], include_pocketsphinx: bool = True, device: str = "cpu",
                beam_widths: tuple[int, ...] = (1,)) -> Iterator[tuple[str, str | None, Callable[[Path], str]]]:
    """(system name, sha256 of its weights or None, transcribe(path) -> text) for PocketSphinx and each checkpoint at
    each beam width (its card's decoding; see `system_name`), loading each checkpoint once, when reached."""
    if include_pocketsphinx:
        pocketsphinx_decoder()  # load before the clock starts
        yield POCKETSPHINX, None, lambda path: pocketsphinx_transcribe(load_audio(path))
    for name in model_names:
        model, card = load_model(name, device=device)
        for width in beam_widths:
            options = card_decoding(card, width)
            yield (system_name(name, width), card["weights"]["sha256"],
                   lambda path, model=model, options=options: transcribe_audio(model, Path(path), options)["text"])


def system_name(checkpoint: str, beam_width: int) -> str:
    """How `bench asr-real` names a checkpoint decoded greedily (its name) or with a beam."""
    return checkpoint if beam_width <= 1 else f"{checkpoint} beam {beam_width}"


def benchmark(model_names: list[str], limit: int | None = None, include_pocketsphinx: bool = True,
              device: str = "cpu", beam_widths: tuple[int, ...] = (1,)) -> dict:
    """Every recognizer on every real evaluation set: {"systems": {name: {set: scores}}, "sets": {set: clips}}; a
    checkpoint's system also carries the sha256 of the weights it scored, so a page can tell a stale score."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    sets = evaluation_sets(limit)
    systems = {}
    for name, sha256, transcribe in recognizers(model_names, include_pocketsphinx, device, beam_widths):
        systems[name] = {set_name: score_recognizer(transcribe, clips, f"{name} on {set_name}") for set_name, clips in sets.items()}
        if sha256:
            systems[name]["weights_sha256"] = sha256
    return {
        "normalization": "lower-case a-z, apostrophe and space; other characters become spaces; spaces collapsed",
        "decoding": "for the checkpoints, greedy search (a system named '<checkpoint> beam N': beam search of width N), "
                    "joint CTC-attention where a card chose a CTC weight, recordings cut at pauses into chunks of each "
                    "card's max_chunk_seconds; PocketSphinx's bundled en-US model, whole clips",
        "threads": torch.get_num_threads(),
        "sets": {set_name: len(clips) for set_name, clips in sets.items()},
        "systems": systems,
        "seconds": round(time.perf_counter() - started, 1),
    }


BENCHMARK_FILE = paths.ASSETS / "speech" / "bench-asr-real.json"  # `make bench-asr-real` writes it


def shipped_benchmark() -> dict | None:
    """The last `bench asr-real` result shipped with the app (PocketSphinx's row in the Speech lab), if any."""
    if not BENCHMARK_FILE.exists():
        return None
    try:
        return json.loads(BENCHMARK_FILE.read_text(encoding="utf-8"))
    except ValueError:
        return None


def shipped_scores(benchmark: dict | None, card: dict, beam_width: int, set_name: str = "real-ljspeech") -> dict | None:
    """A checkpoint's scores on one real set at one beam width in a benchmark (`shipped_benchmark()`), if it scored
    these very weights (a retrained checkpoint's old scores are not its own)."""
    system = ((benchmark or {}).get("systems") or {}).get(system_name(card.get("name", ""), beam_width)) or {}
    return system.get(set_name) if system.get("weights_sha256") == card.get("weights", {}).get("sha256") else None


# --- what a checkpoint's card records: decoding tuned after training, then the scores measured with it -------------

DECODE_CTC_WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)  # joint CTC-attention decoding weights tried after training
CHUNK_SECONDS = (4.0, 6.0, 8.0)  # longest chunk a recording is cut into for decoding, tried after training
REAL_VALIDATION_CLIPS = 80  # real clips a model that never trained on real speech is also tuned on (`--real-val-clips 80`)
LONG_VALIDATION_CLIPS = 60  # synthetic validation clips whose transcripts overflow the decoder's 97 characters


def tune_decoding(model, recipe: SpeechRecipe, corpus_root: Path = SYNTH_CORPUS, quiet: bool = True) -> dict:
    """The card's `decoding` section: the CTC weight first, then the chunk length decoded with that weight."""
    decoding = tune_ctc_weight(model, recipe, quiet) or {"ctc_weight": DecodingOptions().ctc_weight}
    return decoding | tune_chunk_seconds(model, recipe, DecodingOptions(ctc_weight=decoding["ctc_weight"]), corpus_root)


def tune_ctc_weight(model, recipe: SpeechRecipe, quiet: bool = True) -> dict | None:
    """Choose the joint CTC-attention decoding weight on the real validation clips (greedy search, corpus CER). None
    when the model has no CTC head or the recipe held out no real validation clips (decoding stays attention only)."""
    if model.ctc is None or not recipe.real_val_clips:
        return None
    clips = real_validation_set(recipe.real_val_clips, quiet)
    by_weight = {weight: score(model, clips, recipe, DecodingOptions(ctc_weight=weight), quiet=quiet,
                               description=f"ctc weight {weight}")["cer"]
                 for weight in DECODE_CTC_WEIGHTS}
    return {"ctc_weight": min(by_weight, key=by_weight.get),
            "chosen_on": f"corpus CER of greedy search on the {len(clips)} real validation clips",
            "real_validation_cer_by_ctc_weight": {str(weight): round(cer, 4) for weight, cer in by_weight.items()}}


def tune_chunk_seconds(model, recipe: SpeechRecipe, options: DecodingOptions, corpus_root: Path = SYNTH_CORPUS) -> dict:
    """Choose how long a chunk of a long recording may be: long enough to keep context and few cuts, short enough
    that its text fits the decoder's 97 characters (LJ reads ~15 a second).

    Scored as the bench scores (whole clips, full references, corpus CER) on the first LONG_VALIDATION_CLIPS synthetic
    validation clips with more than 97 characters, pooled with the real validation clips unless the model trained on
    them (a recipe with real speech that held none out). Those are mostly short: alone they would hardly see a cut.
    """
    clips = [u for u in load_split(corpus_root, "val") if len(u.text) > vocabulary.MAX_CHARACTERS][:LONG_VALIDATION_CLIPS]
    real_unseen = bool(recipe.real_val_clips or not recipe.real_speech_repeats)
    if real_unseen:
        clips += validation_clips(recipe.real_val_clips or REAL_VALIDATION_CLIPS)
    by_seconds = {}
    for seconds in CHUNK_SECONDS:
        chunked = replace(options, max_chunk_seconds=seconds)
        hypotheses = [transcribe_audio(model, u.audio_path, chunked)["text"] for u in clips]
        by_seconds[seconds] = score_transcripts(hypotheses, [u.text for u in clips])["cer"]
    return {"max_chunk_seconds": min(by_seconds, key=by_seconds.get),
            "chunk_chosen_on": f"whole-clip corpus CER of {len(clips)} validation clips: synthetic ones longer than "
                               f"{vocabulary.MAX_CHARACTERS} characters"
                               + (" and the real validation clips" if real_unseen else ""),
            "validation_cer_by_chunk_seconds": {f"{seconds:g}": round(cer, 4) for seconds, cer in by_seconds.items()}}


def card_metrics(model, recipe: SpeechRecipe, options: DecodingOptions, corpus_root: Path, held_out_voices: list[str],
                 test_limit: int | None, quiet: bool) -> dict:
    """Scores for the card: synthetic test split, its held-out-voice part, the 100 real clips, whole real recordings."""
    metrics = {}
    test_set = load_speech_set("synth", "test", corpus_root, quiet=quiet, limit=test_limit)
    for label, dataset in [
        ("synthetic_test", test_set),
        ("unseen_voice_test", test_set.voice_subset(set(held_out_voices))),
        ("real_ljspeech", load_speech_set("real", "train", quiet=quiet)),
    ]:
        if dataset is not None:
            metrics[label] = with_examples(score(model, dataset, recipe, options, quiet=quiet, description=label), 3)
    return metrics | real_speech_metrics(model, options)


# --- search width (`bench asr-search`; decoding speed, `bench asr`, is in speed.py) ----------------------------

def search_comparison(model_names: list[str], widths: list[int], datasets: dict[str, SpeechSet], quiet: bool = False) -> dict:
    """CER, WER, Levenshtein and decoding seconds per utterance (one clip at a time) for each model, width and set."""
    results = {}
    kept = ("cer", "wer", "levenshtein", "damerau_levenshtein", "seconds_per_clip", "cpu_seconds_per_clip")
    for name in model_names:
        model, card = load_model(name)
        for label, dataset in datasets.items():
            for width in widths:
                metrics = score(model, dataset, options=card_decoding(card, width), batch_size=1, quiet=quiet,
                                description=f"{name} {label} beam {width}")
                results.setdefault(name, {}).setdefault(label, {})[f"beam{width}"] = (
                    {key: round(metrics[key], 4) for key in kept} | {"clips": metrics["clips"]})
    return results
