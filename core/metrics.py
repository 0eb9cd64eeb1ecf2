"""String similarity and error rates, as the homeworks computed them, on C-backed libraries.

- ASR homework (IST 2023-24): Jaccard, cosine and Damerau-Levenshtein normalized similarity from textdistance,
  on lists of token indices wrapped in start/stop tokens (the speech lab's vocabulary makes them), or on characters.
- MT homework (IST 2022-23): Levenshtein distance / reference length, averaged over sentences.
- CER and WER from jiwer; chrF from sacrebleu.
- What each score ignores (`METRICS`), a transposition-aware alignment, and preset pairs on which they disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import jiwer
import Levenshtein
import textdistance
from sacrebleu.metrics import CHRF

from core.errors import BadInputError


def levenshtein_distance(hypothesis: str, reference: str) -> int:
    return Levenshtein.distance(hypothesis, reference)


def normalized_error_rate(hypothesis: str, reference: str) -> float:
    """The translation homework's per-sentence error: edit distance divided by the reference length."""
    return Levenshtein.distance(hypothesis, reference) / max(len(reference), 1)


def mean_error_rate(hypotheses: list[str], references: list[str]) -> float:
    """Average of `normalized_error_rate` over sentences (the MT homework's validation/test metric)."""
    if not references:
        raise ValueError("mean_error_rate needs at least one sentence.")
    return sum(map(normalized_error_rate, hypotheses, references)) / len(references)


def jaccard_similarity(hypothesis, reference) -> float:
    """Overlap of the two bags of characters (or tokens, for lists), |A∩B|/|A∪B| with counts: ignores order."""
    return textdistance.jaccard.normalized_similarity(hypothesis, reference)


def cosine_similarity(hypothesis, reference) -> float:
    """Bag overlap |A∩B| / sqrt(|A|·|B|) of characters or tokens: ignores order, keeps counts."""
    return textdistance.cosine.normalized_similarity(hypothesis, reference)


def damerau_levenshtein_similarity(hypothesis, reference) -> float:
    """1 - edits/max length, where a swap of neighbours is one edit."""
    return textdistance.damerau_levenshtein.normalized_similarity(hypothesis, reference)


def character_error_rate(hypothesis: str, reference: str) -> float:
    return jiwer.cer(reference, hypothesis) if reference else float(bool(hypothesis))


def word_error_rate(hypothesis: str, reference: str) -> float:
    return jiwer.wer(reference, hypothesis) if reference.strip() else float(bool(hypothesis.strip()))


def corpus_error_rates(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus CER and WER (total edits / total reference length, jiwer), over the pairs with a non-empty reference."""
    pairs = [(hypothesis, reference) for hypothesis, reference in zip(hypotheses, references) if reference.strip()]
    if not pairs:
        return {"cer": float("nan"), "wer": float("nan")}
    kept_hypotheses, kept_references = [h for h, _ in pairs], [r for _, r in pairs]
    return {"cer": jiwer.cer(kept_references, kept_hypotheses), "wer": jiwer.wer(kept_references, kept_hypotheses)}


WORD_CHARACTERS = "a-z' "  # what recognizers with different alphabets are compared on (PocketSphinx beside ours)


def normalize_for_scoring(text: str, kept: str = WORD_CHARACTERS, others: str = " ") -> str:
    """Lower-case, characters outside `kept` (a regex class body) replaced by `others`, single spaces.

    The speech vocabulary has no apostrophe, so its transcripts of "don't" carry the unknown token `#`; a `#` between
    two letters is read back as the apostrophe it stands for (elsewhere `#` marks quotes or colons and is dropped).
    """
    text = re.sub(r"(?<=[a-z])#(?=[a-z])", "'", text.lower())
    return " ".join(re.sub(f"[^{kept}]+", others, text).split())


def all_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """Every score the labs show for one transcript or translation against its reference."""
    return {
        "jaccard": jaccard_similarity(hypothesis, reference),
        "cosine": cosine_similarity(hypothesis, reference),
        "damerau_levenshtein": damerau_levenshtein_similarity(hypothesis, reference),
        "levenshtein_distance": levenshtein_distance(hypothesis, reference),
        "error_rate": normalized_error_rate(hypothesis, reference),
        "cer": character_error_rate(hypothesis, reference),
        "wer": word_error_rate(hypothesis, reference),
    }


# --- The ASR homework's token lists -------------------------------------------------------------------------------

Tokenizer = Callable[[str], list[int]]


def token_scores(hypothesis: str, reference: str, tokenize: Tokenizer) -> dict[str, float]:
    """The three textdistance scores on token lists (the homework's include its start and stop tokens)."""
    hypothesis_tokens, reference_tokens = tokenize(hypothesis), tokenize(reference)
    return {
        "jaccard": jaccard_similarity(hypothesis_tokens, reference_tokens),
        "cosine": cosine_similarity(hypothesis_tokens, reference_tokens),
        "damerau_levenshtein": damerau_levenshtein_similarity(hypothesis_tokens, reference_tokens),
    }


# --- chrF and the full scoreboard ---------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _chrf() -> CHRF:
    return CHRF()


def chrf_score(hypothesis: str, reference: str) -> float:
    """sacrebleu's sentence chrF (character 1-6-gram F-score, beta 2), divided by 100 to sit on a 0-1 scale."""
    return _chrf().sentence_score(hypothesis, [reference]).score / 100


def every_score(hypothesis: str, reference: str, tokenize: Tokenizer) -> dict[str, float]:
    """Every score of the Metrics lab: `all_scores`, chrF, and the token-list variants (keys `tokens_*`).

    `tokenize` is the ASR homework's vocabulary (core.speech.vocabulary.encode): the scores are the homework's."""
    scores = all_scores(hypothesis, reference)
    scores["chrf"] = chrf_score(hypothesis, reference)
    scores.update({f"tokens_{name}": value for name, value in token_scores(hypothesis, reference, tokenize).items()})
    return scores


@dataclass(frozen=True)
class MetricInfo:
    """What a score is and, concretely, what it does not see (the ASR homework's question 4)."""

    key: str
    label: str
    higher_is_better: bool
    unit: str
    ignores: str


METRICS = [
    MetricInfo("jaccard", "Jaccard similarity", True, "0-1",
               "Order. It compares bags of characters, so 'dog' and 'god' score 1.0, and so does any anagram "
               "of the reference."),
    MetricInfo("cosine", "Cosine similarity", True, "0-1",
               "Order, like Jaccard; it divides by sqrt(|A|·|B|) instead of the union, so extra or missing "
               "characters cost less than under Jaccard."),
    MetricInfo("damerau_levenshtein", "Damerau-Levenshtein similarity", True, "0-1",
               "Which characters were confused ('a'→'e' costs as much as 'a'→'z'); it divides by the longer "
               "string, so padding a hypothesis with junk is penalized less than missing words. A swap of "
               "neighbours is one edit."),
    MetricInfo("levenshtein_distance", "Levenshtein distance", False, "edits",
               "Length: 3 edits in a 5-character word read the same as 3 in a page. A swap of neighbours "
               "counts as two edits."),
    MetricInfo("error_rate", "Error rate (MT homework)", False, "edits / reference length",
               "Word boundaries and swaps (a swap is two edits); it can exceed 1 when the hypothesis is much "
               "longer than the reference."),
    MetricInfo("cer", "CER (jiwer)", False, "edits / reference characters",
               "Word boundaries and swaps, like the MT error rate; jiwer also strips leading and trailing "
               "spaces."),
    MetricInfo("wer", "WER (jiwer)", False, "word edits / reference words",
               "How wrong a word is: 'book'→'books' costs as much as 'book'→'elephant'; punctuation glued to a "
               "word makes it a different word."),
    MetricInfo("chrf", "chrF (sacrebleu)", True, "0-1",
               "Order beyond 6-character windows: reordered words keep most of their n-grams. Spaces are "
               "dropped before counting."),
    MetricInfo("tokens_jaccard", "Jaccard on homework tokens", True, "0-1",
               "Order; and the shared start/stop tokens always match, which lifts short sentences."),
    MetricInfo("tokens_cosine", "Cosine on homework tokens", True, "0-1",
               "Order; case and characters outside the 35-token vocabulary (all become '#')."),
    MetricInfo("tokens_damerau_levenshtein", "Damerau-Levenshtein on homework tokens", True, "0-1",
               "Case, and everything after the first 97 characters; start/stop add two free matches."),
]
METRIC_INFO = {info.key: info for info in METRICS}


def shown_score(key: str, value: float, decimals: int = 4) -> str:
    """A score as a page shows it: counts of edits as whole numbers ("49", never "49.000"), the rest to `decimals`."""
    return f"{value:.0f}" if METRIC_INFO[key].unit == "edits" else f"{value:.{decimals}f}"


# --- A plain dynamic-programming baseline and a transposition-aware alignment -------------------------------------

# The alignment below is a Python dynamic programme, quadratic in length: 1,000 characters a side take about a
# second, 5,000 took 14 s. Pages refuse longer texts with this limit instead of stalling a shared server.
MAX_ALIGNED_CHARACTERS = 1000


def check_alignable(**texts: str) -> None:
    """Raise a BadInputError naming the text that is too long to align on a shared server."""
    for label, text in texts.items():
        if len(text) > MAX_ALIGNED_CHARACTERS:
            raise BadInputError(f"The {label} has {len(text):,} characters; the Metrics lab aligns texts of up to "
                                f"{MAX_ALIGNED_CHARACTERS:,} characters. Shorten it to a sentence or a paragraph.")


def python_levenshtein(hypothesis: Sequence, reference: Sequence) -> int:
    """Levenshtein distance in plain Python (two-row dynamic programming): the speed baseline for the C versions."""
    previous = list(range(len(reference) + 1))
    for i, hyp_item in enumerate(hypothesis, start=1):
        current = [i]
        for j, ref_item in enumerate(reference, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (hyp_item != ref_item)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class AlignmentStep:
    """One column of an alignment: operation is equal, substitute, insert, delete or transpose (two items each)."""

    operation: str
    reference: str
    hypothesis: str


def transposition_alignment(hypothesis: Sequence, reference: Sequence) -> list[AlignmentStep]:
    """Optimal-string-alignment edits from reference to hypothesis, where swapping two neighbours is one edit.

    Its number of edits equals textdistance's (restricted) Damerau-Levenshtein distance; Levenshtein's own opcodes
    would show a swap as a delete plus an insert.
    """
    ref, hyp = list(reference), list(hypothesis)
    rows, cols = len(ref) + 1, len(hyp) + 1
    cost = [[0] * cols for _ in range(rows)]  # cost[i][j]: edits turning ref[:i] into hyp[:j]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            best = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1, cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
            if _swapped(ref, hyp, i, j):
                best = min(best, cost[i - 2][j - 2] + 1)
            cost[i][j] = best
    steps = []
    i, j = len(ref), len(hyp)
    while i or j:
        if i and j and ref[i - 1] == hyp[j - 1] and cost[i][j] == cost[i - 1][j - 1]:
            steps.append(AlignmentStep("equal", _text(ref[i - 1:i]), _text(hyp[j - 1:j])))
            i, j = i - 1, j - 1
        elif _swapped(ref, hyp, i, j) and cost[i][j] == cost[i - 2][j - 2] + 1:
            steps.append(AlignmentStep("transpose", _text(ref[i - 2:i]), _text(hyp[j - 2:j])))
            i, j = i - 2, j - 2
        elif i and j and cost[i][j] == cost[i - 1][j - 1] + 1:
            steps.append(AlignmentStep("substitute", _text(ref[i - 1:i]), _text(hyp[j - 1:j])))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            steps.append(AlignmentStep("delete", _text(ref[i - 1:i]), ""))
            i -= 1
        else:
            steps.append(AlignmentStep("insert", "", _text(hyp[j - 1:j])))
            j -= 1
    return steps[::-1]


def _swapped(ref: list, hyp: list, i: int, j: int) -> bool:
    return (i > 1 and j > 1 and ref[i - 1] == hyp[j - 2] and ref[i - 2] == hyp[j - 1]
            and ref[i - 1] != ref[i - 2])


def _text(items: list) -> str:
    """Characters join as they were; words or token indices join with spaces."""
    words = [str(item) for item in items]
    return " ".join(words) if any(len(word) > 1 or not isinstance(item, str) for word, item in zip(words, items)) \
        else "".join(words)


def operation_counts(steps: list[AlignmentStep]) -> dict[str, int]:
    counts = dict.fromkeys(["equal", "substitute", "insert", "delete", "transpose"], 0)
    for step in steps:
        counts[step.operation] += 1
    return counts


# --- Example pairs ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExamplePair:
    name: str
    reference: str
    hypothesis: str
    note: str = ""


# A real LJ Speech transcript (LJ001-0004, normalized column of metadata.csv) and a recognizer-like output:
# dropped letters (one from a doubled "mm"), dropped commas, and a swap of neighbours ("true" -> "ture").
SPEECH_EXAMPLE = ExamplePair(
    "LJ001-0004",
    "produced the block books, which were the immediate predecessors of the true printed book,",
    "produced the blok books which were the imediate predecesors of the ture printed book",
    "LJ Speech clip LJ001-0004 with a plausible character-level recognizer error.",
)

# One reference (LJ001-0002), several kinds of damage: the metrics rank these differently.
DISAGREEMENT_REFERENCE = "in being comparatively modern."
DISAGREEMENT_PRESETS = [
    ExamplePair("reordering", DISAGREEMENT_REFERENCE, "comparatively modern in being.",
                "Same words, new order: bag measures (Jaccard, cosine) see no change."),
    ExamplePair("transposition", DISAGREEMENT_REFERENCE, "in bieng comparatively modren.",
                "Two swapped letter pairs: one edit each for Damerau-Levenshtein, two for Levenshtein and CER."),
    ExamplePair("dropped word", DISAGREEMENT_REFERENCE, "in comparatively modern.",
                "A whole word lost: few characters, but one word in four for WER."),
    ExamplePair("wrong letters", DISAGREEMENT_REFERENCE, "in being comparetivaly modarn.",
                "Three vowels substituted: only three character edits, but two words in four are wrong."),
]


def disagreement_table(tokenize: Tokenizer, pairs: list[ExamplePair] = DISAGREEMENT_PRESETS) -> dict[str, dict[str, float]]:
    """Scores of each preset pair, keyed by pair name then metric key."""
    return {pair.name: every_score(pair.hypothesis, pair.reference, tokenize) for pair in pairs}


def rank_pairs(table: dict[str, dict[str, float]]) -> dict[str, dict[str, int]]:
    """Rank of each pair under each metric, 1 = judged best (highest similarity or lowest error); ties share a rank."""
    names = list(table)
    ranks: dict[str, dict[str, int]] = {name: {} for name in names}
    for info in METRICS:
        values = {name: table[name][info.key] for name in names}
        sign = -1 if info.higher_is_better else 1
        for name in names:
            ranks[name][info.key] = 1 + sum(sign * other < sign * values[name] - 1e-12 for other in values.values())
    return ranks


SCORERS: dict[str, Callable[[str, str], float]] = {
    "levenshtein_distance": levenshtein_distance,
    "error_rate": normalized_error_rate,
    "jaccard": jaccard_similarity,
    "cosine": cosine_similarity,
    "damerau_levenshtein": damerau_levenshtein_similarity,
    "cer": character_error_rate,
    "wer": word_error_rate,
    "chrf": chrf_score,
}
