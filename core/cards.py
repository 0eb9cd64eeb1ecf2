"""`checkpoints/README.md`: one human-readable page of model cards, generated from the JSON cards.

The JSON cards are the truth (written by `save_checkpoint` beside each weights file); this page restates their
data, the licence of that data, metrics and sha256 for people browsing the repository or a Space. It is
generated, never edited: `python -m core cards` rewrites it, `python -m core cards --check` fails when it is stale.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core import paths
from core.checkpoints import list_checkpoints, read_card
from core.errors import GlassboxError

README_NAME = "README.md"

# Licence of the data each kind of model learnt from, as (short, detail): keyed by the start of the card's
# dataset name (lower case), then by checkpoint folder. The sources are the PROVENANCE.md files of the shared data.
DATASET_LICENCES = {
    "kmnist": ("CC BY-SA 4.0", "KMNIST Dataset (created by CODH), adapted from the Kuzushiji Dataset (created by NIJL "
               "and others), doi:10.20676/00000341"),
    "octmnist": ("CC BY 4.0", "MedMNIST v2; OCT images from Kermany et al."),
}
FOLDER_LICENCES = {
    "asr": ("public domain", "LJ Speech 1.1 transcripts and recordings are in the public domain; the training audio "
            "was synthesized from those transcripts by Debian text-to-speech voices (voice licences vary, see the card)"),
    "mt": ("as provided by the course", "the IST Deep Learning 2022-23 sentence pairs, no licence stated; they appear "
           "to derive from the Tatoeba/manythings.org English-Spanish pairs, usually CC BY 2.0 FR"),
}
UNKNOWN_LICENCE = ("unknown", "not recorded: add it to DATASET_LICENCES in core/cards.py")


def data_licence(name: str, card: dict) -> tuple[str, str]:
    """(short, detail). A card may state its own `dataset.licence`; otherwise the dataset name, then the folder, decide."""
    dataset = card.get("dataset", {})
    if dataset.get("licence"):
        return dataset["licence"], dataset["licence"]
    dataset_name = str(dataset.get("name", "")).lower()
    for prefix, licence in DATASET_LICENCES.items():
        if dataset_name.startswith(prefix):
            return licence
    return FOLDER_LICENCES.get(name.split("/", 1)[0], UNKNOWN_LICENCE)


def flat_metrics(metrics: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted name, number or short text) for every scalar metric; lists (confusion matrices, examples) are skipped."""
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flat_metrics(value, f"{name}.")
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            rows.append((name, value))
    return rows


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _card_section(name: str, card: dict) -> list[str]:
    dataset = card.get("dataset", {})
    weights = card.get("weights", {})
    lines = [f"## `{name}`", "", card.get("title", ""), ""]
    lines += [
        "| | |", "|---|---|",
        f"| architecture | `{card.get('architecture', {}).get('class', '?')}` |",
        f"| trainable parameters | {_number(card.get('trainable_parameters', '?'))} |",
        f"| data | {_number(dataset.get('name', '?'))} |",
        f"| data source | {_number(dataset.get('source', '?'))} |",
        f"| data licence | {_number(': '.join(data_licence(name, card)))} |",
        f"| weights | `{weights.get('file', '?')}`, {_number(weights.get('bytes', 0))} bytes |",
        f"| sha256 | `{weights.get('sha256', '?')}` |",
        f"| card | [`{name}.json`]({name}.json) |",
        "",
    ]
    metrics = flat_metrics(card.get("metrics", {}))
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {key} | {_number(value)} |" for key, value in metrics] + [""]
    else:
        lines += ["No test metrics in the card yet (the run that wrote it did not evaluate).", ""]
    return lines


def render_readme(root: Path | None = None) -> str:
    """The whole page for the checkpoints under `root`, in name order (same cards in, same bytes out)."""
    names = list_checkpoints(root=root)
    lines = [
        "# Shipped checkpoints",
        "",
        "Generated from the JSON model cards by `python -m core cards`; do not edit by hand (a test fails when this "
        "page and the cards disagree). Every weights file is `safetensors`; loading checks it against the sha256 below.",
        "",
    ]
    if not names:
        return "\n".join(lines + ["No checkpoints are shipped yet: train them with `python -m core train <task>`.", ""])
    lines += ["| checkpoint | data | data licence | sha256 |", "|---|---|---|---|"]
    cards = {name: read_card(name, root) for name in names}
    for name, card in cards.items():
        licence = data_licence(name, card)[0]
        sha = card.get("weights", {}).get("sha256", "?")
        lines.append(f"| [`{name}`](#{name.replace('/', '')}) | {_number(card.get('dataset', {}).get('name', '?'))} "
                     f"| {licence} | `{sha[:12]}…` |")
    lines.append("")
    for name, card in cards.items():
        lines += _card_section(name, card)
    return "\n".join(lines)


def write_readme(root: Path | None = None) -> Path:
    root = Path(root or paths.CHECKPOINTS)
    root.mkdir(parents=True, exist_ok=True)
    target = root / README_NAME
    target.write_text(render_readme(root), encoding="utf-8")
    return target


def readme_is_current(root: Path | None = None) -> bool:
    target = Path(root or paths.CHECKPOINTS) / README_NAME
    return target.exists() and target.read_text(encoding="utf-8") == render_readme(root)


# ---- command line -------------------------------------------------------------------------------------------

def register(commands) -> None:
    parser = commands.verb("cards", "Write checkpoints/README.md from the JSON model cards.", _cards_cli)
    parser.add_argument("--check", action="store_true", help="only check that the README matches the cards (exit 2 if not)")
    parser.add_argument("--root", type=Path, default=None, help="checkpoints folder (default: checkpoints/)")


def _cards_cli(args: argparse.Namespace) -> dict:
    root = Path(args.root or paths.CHECKPOINTS)
    checkpoints = list_checkpoints(root=root)
    if args.check:
        if not readme_is_current(root):
            raise GlassboxError(f"{root / README_NAME} is out of date with the model cards: run `python -m core cards`.")
        return {"readme": str(root / README_NAME), "checkpoints": len(checkpoints), "current": True}
    return {"written": str(write_readme(root)), "checkpoints": len(checkpoints)}
