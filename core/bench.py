"""`python -m core bench metrics`: how fast the lab's scores run here.

Pairs per second on 1,000 sentence pairs (LJ Speech transcripts with seeded character damage) for each score,
beside a plain-Python dynamic-programming Levenshtein.
"""
from __future__ import annotations

import argparse
import random
import string
import time
from typing import Callable

from core import bench_app, metrics
from core.paths import SHARED_DATA

LJSPEECH_METADATA = SHARED_DATA / "ljspeech-1.1" / "metadata.csv"


def sentence_pairs(count: int = 1000, seed: int = 0) -> tuple[list[tuple[str, str]], str]:
    """(hypothesis, reference) pairs: real transcripts when the data is here, with ~8% characters edited."""
    rng = random.Random(seed)
    if LJSPEECH_METADATA.exists():
        lines = LJSPEECH_METADATA.read_text(encoding="utf-8").splitlines()[:count]
        references = [line.rstrip("\r").split("|")[2].lower() for line in lines]
        source = f"LJ Speech metadata.csv, first {len(references)} normalized transcripts"
    else:
        words = "the of and to in a is that for it as was with be by on not he this are or his".split()
        references = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) for _ in range(count)]
        source = "synthetic sentences (LJ Speech metadata.csv not found)"
    return [(_damage(reference, rng), reference) for reference in references], source


def _damage(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """Substitute, drop, insert or swap characters, as a weak recognizer would."""
    chars, out, i = list(text), [], 0
    while i < len(chars):
        roll = rng.random()
        if roll < rate / 4:
            out.append(rng.choice(string.ascii_lowercase))
        elif roll < rate / 2:
            pass
        elif roll < 3 * rate / 4:
            out += [chars[i], rng.choice(string.ascii_lowercase)]
        elif roll < rate and i + 1 < len(chars):
            out += [chars[i + 1], chars[i]]
            i += 1
        else:
            out.append(chars[i])
        i += 1
    return "".join(out)


def pairs_per_second(score: Callable[[str, str], float], pairs: list[tuple[str, str]], min_seconds: float) -> float:
    """Run `score` over all pairs until at least `min_seconds` have passed; pairs scored per second."""
    scored, start = 0, time.perf_counter()
    while True:
        for hypothesis, reference in pairs:
            score(hypothesis, reference)
        scored += len(pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return scored / elapsed


def bench_metrics(args: argparse.Namespace) -> dict:
    pairs, source = sentence_pairs(args.pairs)
    scorers = dict(metrics.SCORERS)
    scorers["python_levenshtein (baseline)"] = metrics.python_levenshtein
    rates = {name: pairs_per_second(score, pairs, args.min_seconds) for name, score in scorers.items()}
    baseline = rates["python_levenshtein (baseline)"]
    return {
        "pairs": len(pairs),
        "source": source,
        "mean_reference_characters": sum(len(ref) for _, ref in pairs) / len(pairs),
        "pairs_per_second": rates,
        "speedup_vs_python_levenshtein": {name: rate / baseline for name, rate in rates.items()},
    }


def register(commands) -> None:
    parser = commands.task("bench", "metrics", "Pairs per second of every string score on 1,000 sentence pairs.",
                           bench_metrics)
    parser.add_argument("--pairs", type=int, default=1000, help="number of sentence pairs (default: 1000)")
    parser.add_argument("--min-seconds", type=float, default=0.5,
                        help="repeat each score until this much time has passed (default: 0.5)")
    bench_app.register(commands)
