"""The Vision lab's commands: `train cnn`, `evaluate cnn/...`, `classify` and `data vision-examples`.

`classify --model` and `evaluate` also take a student's own homework CNN (a saved state_dict); `register` adds its
detector so `inspect-checkpoint` and `evaluate` recognise such files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import BadInputError
from core.vision.data import load_dataset, prepare_image
from core.vision.inference import Classification, classify, examples_folder, export_examples, load_model
from core.vision.model import VARIANTS
from core.vision.protocol import RECIPES, evaluate_on_card_data, recipe_for, run_protocol
from core.vision.student import chosen_variant, detect_student_cnn, read_student_cnn, student_file

INVERT_CHOICES = {"auto": None, "yes": True, "no": False}


def register(commands) -> None:
    train = commands.task("train", "cnn", "Run the CNN homework protocol: learning-rate sweep, both variants, test.", _train_cli)
    train.add_argument("--preset", choices=sorted(RECIPES), default="kmnist", help="homework preset (default: kmnist)")
    train.add_argument("--dataset", choices=["kmnist-10k", "kmnist-full", "octmnist"], default=None,
                       help="data set (default: the preset's; kmnist-10k works offline)")
    train.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (for quick trials)")
    train.add_argument("--checkpoints-dir", type=Path, default=None, help="where to write checkpoints (default: checkpoints/)")
    train.add_argument("--runs-dir", type=Path, default=None, help="where resumable run states go (default: runs/)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    classify_parser = commands.verb("classify", "Classify an image file with a shipped CNN or your own.", _classify_cli)
    classify_parser.add_argument("image", type=Path, help="any image file (shown to the model as 28x28 grayscale)")
    classify_parser.add_argument("--model", default="cnn/kmnist-maxpool", help="checkpoint (default: cnn/kmnist-maxpool), "
                                 "or your homework CNN's saved state_dict (.pt/.pth/.bin/.safetensors)")
    classify_parser.add_argument("--variant", choices=VARIANTS, default=None, help="for your own file, which the file "
                                 "cannot tell (default: both readings, maxpool first)")
    classify_parser.add_argument("--invert", choices=list(INVERT_CHOICES), default="auto",
                                 help="make strokes light on dark as in training (default: auto)")
    commands.evaluators["cnn"] = _evaluate_cli
    commands.checkpoint_detectors.append(detect_student_cnn)

    examples = commands.task("data", "vision-examples", "Write held-out example images for the Vision lab page.", _examples_cli)
    examples.add_argument("--preset", choices=sorted(RECIPES), default="kmnist")
    examples.add_argument("--per-class", type=int, default=3)
    examples.add_argument("--out", type=Path, default=None, help="folder (default: assets/vision/<preset>)")


def _train_cli(args: argparse.Namespace) -> dict:
    recipe = recipe_for(args.preset, args.dataset, args.epochs)
    return run_protocol(args.preset, recipe, args.device, args.checkpoints_dir, args.runs_dir, args.quiet)


def _evaluate_cli(args: argparse.Namespace) -> dict:
    path = student_file(args.model)
    if path is None:
        model, card = load_model(str(Path(args.model).resolve()) if Path(args.model).is_file() else args.model, args.device)
        described = {}
    else:
        student = read_student_cnn(path)
        variant, note = chosen_variant(args.variant)
        model, card = student.readings[variant]
        model.to(args.device)
        described = {"model": path.name, "architecture": student.detection.architecture, "variant": variant,
                     **({"variant_note": note} if note else {})}
    report = evaluate_on_card_data(model, card, args.split, args.device, args.limit)
    print(f"{args.model} on {report['dataset']} {args.split}: accuracy {report['accuracy']:.4f} (n={report['n']})",
          file=sys.stderr)
    return {**described, "accuracy": report["accuracy"], "n": report["n"]}


def _examples_cli(args: argparse.Namespace) -> dict:
    data = load_dataset(RECIPES[args.preset].dataset)
    out_dir = args.out or examples_folder(args.preset)
    return {"written": len(export_examples(data, out_dir, args.per_class)), "folder": str(out_dir)}


def _classify_cli(args: argparse.Namespace) -> dict:
    if not args.image.exists():
        raise BadInputError(f"{args.image} does not exist.")
    prepared = prepare_image(args.image.read_bytes(), invert=INVERT_CHOICES[args.invert])
    path = student_file(args.model)
    if path is None:
        model, card = load_model(args.model, device="cpu")
        return {"model": args.model, **_classification(classify(model, card, prepared))}
    student = read_student_cnn(path)
    variant, note = chosen_variant(args.variant)
    results = {reading: classify(model, card, prepared) for reading, (model, card) in student.readings.items()
               if note or reading == variant}
    answer = {"model": path.name, "architecture": student.detection.architecture, "variant": variant,
              **_classification(results[variant])}
    if note:  # no --variant: the other reading costs one more forward pass, so show it too
        answer["variant_note"] = note
        answer["readings"] = {reading: {"label": result.label, "probability": float(result.probabilities.max())}
                              for reading, result in results.items()}
    return answer


def _classification(result: Classification) -> dict:
    return {
        "label": result.label,
        "class_index": int(result.probabilities.argmax()),
        "probabilities": {name: float(p) for name, p in zip(result.class_names, result.probabilities)},
        "inverted": result.image.inverted,
    }
