"""`python -m core bench attention`: exact softmax vs linear attention time as the sequence length grows."""
from __future__ import annotations

import argparse

from core.theory.linear_attention import TimingConfig, attention_timing


def register(commands) -> None:
    parser = commands.task("bench", "attention", "Exact softmax vs linear (McLaurin) attention time vs length.",
                           bench_attention)
    parser.add_argument("--dim", type=int, default=8, help="query/key dimension D (default: 8)")
    parser.add_argument("--order", type=int, default=3, help="McLaurin order K of the feature map (default: 3)")
    parser.add_argument("--lengths", default="", help="comma-separated sequence lengths (default: 16 ... 4096)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per length, best kept (default: 5)")


def bench_attention(args: argparse.Namespace) -> dict:
    lengths = [int(length) for length in args.lengths.split(",")] if args.lengths else None
    return attention_timing(TimingConfig(
        dim=args.dim, order=args.order, repeats=args.repeats,
        **({"lengths": tuple(lengths)} if lengths else {}),
    ))
