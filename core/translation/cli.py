"""The translation lab's commands: `train mt`, `translate`, `evaluate mt/NAME` and `data translation-examples`."""
from __future__ import annotations

import argparse
from dataclasses import fields

from core.translation import data
from core.translation.evaluation import score
from core.translation.inference import DEFAULT_MODEL, load_translator, translate
from core.translation.training import TranslationRecipe, publish_best, train

DEFAULT_NAMES = {True: "spa-eng-attn", False: "spa-eng-noattn"}  # by --attention


def register(commands) -> None:
    commands.task("data", "translation-examples", "Write the Translation lab's example sentences to assets/translation/.",
                  lambda args: {"written": len(data.export_examples()), "file": str(data.EXAMPLES_FILE)})
    train_help = "Train the Spanish->English character translator (homework recipe)."
    _add_train_options(commands.task("train", "mt", train_help, _train_command))
    translate_help = "Translate a Spanish sentence with a shipped character-level model."
    parser = commands.verb("translate", translate_help, _translate_command)
    parser.add_argument("text", help='Spanish text, e.g. "tengo hambre ."')
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint name (default: {DEFAULT_MODEL})")
    parser.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    parser.add_argument("--attention", action="store_true", help="include the attention weights in the output")
    commands.evaluators["mt"] = _evaluate_command


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


def _translate_command(args: argparse.Namespace) -> dict:
    result = translate(args.text, args.model, max(args.beam, 1), args.device)
    output = {
        "model": result.model,
        "input": result.normalised.original,
        "normalised": result.normalised.text,
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
    translator = load_translator(args.model, args.device)
    pairs = data.load_pairs(args.split)[: args.limit]
    beam_width = max(args.beam, 1)
    result = score(translator.model, translator.source_vocab, translator.target_vocab, pairs, beam_width, args.device)
    result.pop("predictions")
    return {"model": args.model, "split": args.split, "beam_width": beam_width, **result}
