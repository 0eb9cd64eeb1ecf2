"""The command line's shared parts: verbs that several labs extend, JSON output, and user-facing errors.

Each lab package has `register(commands)`, which adds its own sub-commands (`train cnn`, `classify`, ...),
so the CLI grows with the labs without one file knowing every option. `core/__main__.py` names the labs: the
kernel knows none of them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Iterable

from core.errors import GlassboxError
from core.checkpoints import read_card
from core.state_dicts import STUDENT_SUFFIXES, Detector, detect, read_student_file

class Commands:
    """Registry of verbs; `group("train")` is shared, so `train cnn` and `train mt` live in different labs."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        self._groups: dict[str, argparse._SubParsersAction] = {}
        self.evaluators: dict[str, Callable[[argparse.Namespace], dict]] = {}
        self.checkpoint_detectors: list[Detector] = []  # each lab's reader of student checkpoints

    def verb(self, name: str, help: str, handler: Callable[[argparse.Namespace], dict]) -> argparse.ArgumentParser:
        parser = self._verbs.add_parser(name, help=help, description=help)
        parser.set_defaults(handler=handler)
        add_common_options(parser)
        return parser

    def task(self, verb: str, name: str, help: str, handler: Callable) -> argparse.ArgumentParser:
        if verb not in self._groups:
            group_parser = self._verbs.add_parser(verb, help=VERB_HELP[verb], description=VERB_HELP[verb])
            self._groups[verb] = group_parser.add_subparsers(dest="task", required=True, metavar="TASK")
        parser = self._groups[verb].add_parser(name, help=help, description=help)
        parser.set_defaults(handler=handler)
        add_common_options(parser)
        return parser


VERB_HELP = {
    "train": "Train a model with its homework protocol and write its checkpoint and model card.",
    "data": "Prepare data sets (downloads, synthesized speech, feature caches).",
    "bench": "Measure speed and memory; prints a table or --json.",
}


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable results to stdout")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")


Registrar = Callable[["Commands"], None]


def build_parser(registrars: Iterable[Registrar]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Glassbox: train, inspect and run the lab models.")
    commands = Commands(parser)
    evaluate = commands.verb("evaluate", "Score a shipped model on a data split.", _evaluate)
    evaluate.add_argument("model", help="checkpoint name (e.g. cnn/kmnist-maxpool) or a file: a student's state_dict "
                          "(.pt/.pth/.bin/.safetensors) or a Glassbox .safetensors with its .json card")
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"], help="data split (default: test)")
    evaluate.add_argument("--beam", type=int, default=1, help="beam width for sequence models (1 = greedy)")
    evaluate.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    evaluate.add_argument("--data", default=None, help="data set, for tasks with several (asr: synth, real, a voice set such as kokoro, or a voice name)")
    evaluate.add_argument("--variant", default=None, help="for a student CNN checkpoint, which the file cannot tell: "
                          "maxpool or strided")
    evaluate.add_argument("--vocab", default=None, help="for a student translator whose vocabulary sizes differ from "
                          "the course data's: a JSON file with its source and target character lists")
    inspect = commands.verb("inspect-checkpoint", "Say which homework model a saved state_dict holds, and how its "
                            "tensor names map onto Glassbox's (nothing in the file is executed).", _inspect_checkpoint)
    inspect.add_argument("file", help="a .pt/.pth/.bin state_dict or a .safetensors file")
    for register in registrars:
        register(commands)
    parser.set_defaults(evaluators=commands.evaluators, checkpoint_detectors=commands.checkpoint_detectors)
    return parser


def _evaluate(args: argparse.Namespace) -> dict:
    task = task_of(args.model, args.checkpoint_detectors)
    if not task:
        raise GlassboxError(f"{args.model}: give a checkpoint name such as cnn/kmnist-maxpool, or a student's "
                            f"{'/'.join(sorted(STUDENT_SUFFIXES))} file.")
    if task not in args.evaluators:
        raise GlassboxError(f"No evaluator for '{task}' models; known tasks: {', '.join(sorted(args.evaluators))}.")
    return args.evaluators[task](args)


def task_of(model: str, detectors: list[Detector]) -> str:
    """The task of a shipped name (`cnn/kmnist-maxpool`), a Glassbox checkpoint file (its card says) or a student file."""
    path = Path(model)
    if path.suffix not in STUDENT_SUFFIXES or not path.is_file():
        return model.split("/", 1)[0]
    if path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        return read_card(str(path.resolve())).get("name", "").split("/", 1)[0]  # cards are named task/name
    return detect(read_student_file(path), detectors, path.name)[0].task


def _inspect_checkpoint(args: argparse.Namespace) -> dict:
    path = Path(args.file)
    weights = read_student_file(path)
    detections = detect(weights, args.checkpoint_detectors, path.name)
    return {"file": path.name, "format": weights.file_format, "unwrapped_from": weights.unwrapped_from,
            "tensors": len(weights.tensors), "parameters": weights.parameter_count,
            "detections": [detection.as_dict() for detection in detections]}


def main(argv: list[str] | None, registrars: Iterable[Registrar]) -> int:
    args = build_parser(registrars).parse_args(argv)
    try:
        result = args.handler(args)
    except GlassboxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_human(result))
    return 0


def format_human(result: dict, indent: str = "") -> str:
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(format_human(value, indent + "  "))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            lines.append(f"{indent}{key}:")
            lines.extend(format_human(item, indent + "  ") for item in value)
        elif isinstance(value, float):
            lines.append(f"{indent}{key}: {value:.4f}")
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
