"""The translation lab's commands: `train mt`, `translate`, `evaluate mt/NAME` and `data translation-examples`;
`translate --model FILE` and `evaluate FILE` also take a student's saved translator, and `inspect-checkpoint`
recognises one."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from core.state_dicts import STUDENT_SUFFIXES
from core.translation import data
from core.translation.evaluation import evaluate_translator
from core.translation.inference import DEFAULT_MODEL, LoadedTranslator, load_translator
from core.translation.student import detect_translator, load_student_file
from core.translation.training import TranslationRecipe, publish_best, train

DEFAULT_NAMES = {True: "spa-eng-attn", False: "spa-eng-noattn"}  # by --attention


def register(commands) -> None:
    commands.task("data", "translation-examples", "Write the Translation lab's example sentences to assets/translation/.",
                  lambda args: {"written": len(data.export_examples()), "file": str(data.EXAMPLES_FILE)})
    train_help = "Train the Spanish->English character translator (homework recipe)."
    _add_train_options(commands.task("train", "mt", train_help, _train_command))
    translate_help = "Translate a Spanish sentence with a shipped character-level model or your own."
    parser = commands.verb("translate", translate_help, _translate_command)
    parser.add_argument("text", help='Spanish text, e.g. "tengo hambre ."')
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint name (default: {DEFAULT_MODEL}) or the "
                        "state_dict file of the translator you trained in the homework (.pt/.pth/.bin/.safetensors)")
    parser.add_argument("--vocab", default=None, help="for your own model when its vocabulary sizes differ from the "
                        'course data\'s: a JSON file {"source": [...], "target": [...]} of characters in id order')
    parser.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    parser.add_argument("--attention", action="store_true", help="include the attention weights in the output")
    commands.evaluators["mt"] = _evaluate_command
    commands.checkpoint_detectors.append(detect_translator)


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    """The recipe's options keep the field names as `dest`, so the parsed args rebuild a TranslationRecipe."""
    parser.add_argument("--name", default=None, help="checkpoint name under mt/ (default: spa-eng-attn or spa-eng-noattn)")
    parser.add_argument("--attention", action=argparse.BooleanOptionalAction, default=True, help="bilinear attention")
    parser.add_argument("--epochs", type=int, default=TranslationRecipe.epochs)
    parser.add_argument("--lr", dest="learning_rate", metavar="LR", type=float, default=TranslationRecipe.learning_rate)
    parser.add_argument("--batch-size", type=int, default=TranslationRecipe.batch_size)
    parser.add_argument("--seed", type=int, default=TranslationRecipe.seed)
    parser.add_argument("--limit-train", type=int, default=None, help="train on the first N pairs only (smoke tests)")
    parser.add_argument("--stop-after-epoch", type=int, default=None,
                        help="stop this call after epoch N and write the checkpoint; rerun without it to finish the run")
    parser.add_argument("--encoder-per-direction", type=int, default=None,
                        help="BiLSTM units per direction (default: hidden/2 = 64; larger sizes are reduced to 128 by a linear bridge)")
    parser.add_argument("--select-from", nargs="+", metavar="NAME", default=None,
                        help="train nothing: ship as --name the trained mt/NAME with the lowest validation error")
    parser.add_argument("--quiet", action="store_true")


def recipe_from_args(args: argparse.Namespace) -> TranslationRecipe:
    return TranslationRecipe(**{field.name: getattr(args, field.name) for field in fields(TranslationRecipe)})


def _train_command(args: argparse.Namespace) -> dict:
    name = args.name or DEFAULT_NAMES[args.attention]
    if args.select_from:
        card = publish_best(args.select_from, name)
        return {"checkpoint": card["name"], "chosen": card["selection"]["chosen"], **card["metrics"]}
    card = train(name, args.attention, recipe_from_args(args), args.device, args.quiet, args.stop_after_epoch,
                 args.encoder_per_direction)
    return {"checkpoint": card["name"], **card["metrics"]}


def translator_for(model: str, vocabulary: str | None = None, device: str = "cpu") -> LoadedTranslator:
    """A shipped name (`mt/spa-eng-attn`), a Glassbox .safetensors beside its card, or a student's state_dict file."""
    path = Path(model)
    if path.suffix not in STUDENT_SUFFIXES or not path.is_file():
        return load_translator(model, device)
    if path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        return load_translator(str(path.resolve()), device)
    return load_student_file(path, Path(vocabulary) if vocabulary else None)


def _translate_command(args: argparse.Namespace) -> dict:
    result = translator_for(args.model, args.vocab, args.device).translate(args.text, max(args.beam, 1))
    output = {
        "model": result.model,
        "input": result.normalised.original,
        "normalised": result.normalised.text,
        "model_input": result.normalised.model_input,
        "changes": result.normalised.changes,
        "unknown_characters": result.normalised.unknown,
        "translation": result.translation,
        "beam_width": result.beam_width,
        "score": result.score,
        "milliseconds": round(result.milliseconds, 2),
    }
    if args.attention:
        output["output_tokens"] = result.output_tokens
        output["attention"] = result.attention
    return output


def _evaluate_command(args: argparse.Namespace) -> dict:
    translator = translator_for(args.model, args.vocab, args.device)
    return evaluate_translator(translator, args.split, max(args.beam, 1), args.limit, args.device)
