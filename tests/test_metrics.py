"""core.metrics: the homework scores, the token-list variants, the transposition-aware alignment, the presets."""
import json

import Levenshtein
import pytest
import textdistance
from hypothesis import given, settings
from hypothesis import strategies as st

from core import bench, metrics
from core.speech import vocabulary
from core.__main__ import main

short_text = st.text(alphabet="abcde ", max_size=12)


@given(short_text, short_text)
def test_python_levenshtein_matches_the_c_library(hypothesis, reference):
    assert metrics.python_levenshtein(hypothesis, reference) == Levenshtein.distance(hypothesis, reference)


@settings(max_examples=200)
@given(short_text, short_text)
def test_transposition_alignment_is_an_optimal_restricted_damerau_alignment(hypothesis, reference):
    steps = metrics.transposition_alignment(hypothesis, reference)
    assert "".join(step.reference for step in steps) == reference
    assert "".join(step.hypothesis for step in steps) == hypothesis
    edits = sum(step.operation != "equal" for step in steps)
    assert edits == textdistance.DamerauLevenshtein(restricted=True, external=False).distance(hypothesis, reference)
    for step in steps:
        if step.operation == "transpose":
            assert step.hypothesis == step.reference[::-1] and step.reference[0] != step.reference[1]


def test_a_swap_is_one_transposition_but_two_levenshtein_edits():
    steps = metrics.transposition_alignment("the ture book", "the true book")
    assert [step.operation for step in steps if step.operation != "equal"] == ["transpose"]
    assert metrics.levenshtein_distance("the ture book", "the true book") == 2


def test_alignment_of_word_lists_joins_words_with_spaces():
    steps = metrics.transposition_alignment("cat the sat".split(), "the cat sat".split())
    assert steps[0] == metrics.AlignmentStep("transpose", "the cat", "cat the")


def test_homework_tokens_wrap_lowercase_and_map_unknowns():
    tokens = vocabulary.encode("Hi! a")
    assert tokens[0] == vocabulary.START and tokens[-1] == vocabulary.STOP
    assert [vocabulary.TOKENS[index] for index in tokens[1:-1]] == list("hi# a")
    assert len(vocabulary.encode("x" * 500)) == vocabulary.MAX_CHARACTERS + 2


def test_start_and_stop_tokens_lift_the_scores():
    # No character in common, but both token lists share < and >: Jaccard goes from 0 to 2/4.
    assert metrics.jaccard_similarity("a", "b") == 0
    assert metrics.token_scores("a", "b", vocabulary.encode)["jaccard"] == pytest.approx(0.5)


def test_every_score_covers_every_described_metric():
    example = metrics.SPEECH_EXAMPLE
    scores = metrics.every_score(example.hypothesis, example.reference, vocabulary.encode)
    assert set(scores) == {info.key for info in metrics.METRICS}
    assert all(info.ignores for info in metrics.METRICS)
    assert metrics.chrf_score(example.reference, example.reference) == pytest.approx(1.0)
    assert scores["chrf"] < 1 and scores["levenshtein_distance"] == 7
    assert scores["error_rate"] == pytest.approx(7 / len(example.reference))


def test_speech_example_is_the_real_ljspeech_transcript():
    if not bench.LJSPEECH_METADATA.exists():
        pytest.skip("LJ Speech metadata.csv is not here")
    rows = dict(line.rstrip("\r").split("|")[0:3:2] for line in bench.LJSPEECH_METADATA.read_text().splitlines())
    assert rows[metrics.SPEECH_EXAMPLE.name] == metrics.SPEECH_EXAMPLE.reference
    assert rows["LJ001-0002"] == metrics.DISAGREEMENT_REFERENCE


def test_presets_make_the_metrics_disagree():
    table = metrics.disagreement_table(vocabulary.encode)
    ranks = metrics.rank_pairs(table)
    assert table["reordering"]["jaccard"] == 1.0 and table["reordering"]["wer"] > 0.5
    assert ranks["reordering"]["jaccard"] == 1 and ranks["reordering"]["wer"] == 4
    assert ranks["dropped word"]["wer"] == 1 and ranks["dropped word"]["jaccard"] == 4
    # A swap is cheaper for Damerau-Levenshtein than for Levenshtein:
    assert ranks["transposition"]["damerau_levenshtein"] < ranks["transposition"]["levenshtein_distance"]


def test_bench_metrics_reports_every_scorer_beside_the_python_baseline(capsys):
    assert main(["bench", "metrics", "--pairs", "20", "--min-seconds", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 20
    assert set(result["pairs_per_second"]) == set(metrics.SCORERS) | {"python_levenshtein (baseline)"}
    assert result["speedup_vs_python_levenshtein"]["python_levenshtein (baseline)"] == 1.0


def test_bench_pairs_are_seeded_and_damaged():
    first, _ = bench.sentence_pairs(50, seed=1)
    again, _ = bench.sentence_pairs(50, seed=1)
    assert first == again
    assert sum(hypothesis != reference for hypothesis, reference in first) > 25
