"""One checkpoint format for every model: `checkpoints/<task>/<name>.safetensors` plus a JSON model card.

The card holds the architecture config, data, recipe, curves, metrics and the sha256 of the weights.
Loading checks that hash and only ever reads safetensors, so a checkpoint can never run code (pickles can).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file, save_file

from core import paths
from core.errors import GlassboxError

PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle"}
MAX_CHECKPOINT_BYTES = 10 * 1024 * 1024  # Hugging Face Spaces take files under 10 MB without LFS.


class CheckpointError(GlassboxError):
    """A checkpoint is missing, tampered with, or not in the safetensors format; the message says which."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_paths(name: str, root: Path | None = None) -> tuple[Path, Path]:
    """`cnn/kmnist-maxpool` -> (weights path, card path). Refuses pickled files by suffix."""
    root = Path(root or paths.CHECKPOINTS)
    given = Path(name)
    if given.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{name}: pickled checkpoints ({given.suffix}) are refused because loading them can run code; "
            "Glassbox only loads .safetensors weights with a JSON card."
        )
    if given.suffix in {".safetensors", ".json"}:
        given = given.with_suffix("")
    base = given if given.is_absolute() else root / given
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def save_checkpoint(model: torch.nn.Module, card: dict, name: str, root: Path | None = None) -> dict:
    """Write weights and card; returns the card as written (with file name, size and sha256 filled in)."""
    weights_path, card_path = checkpoint_paths(name, root)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(tensors, str(weights_path))
    size = weights_path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{weights_path} is {size / 1e6:.1f} MB; shipped checkpoints must stay under 10 MB.")
    card = dict(card)
    card["name"] = name
    card["trainable_parameters"] = count_trainable_parameters(model)
    card["weights"] = {"file": weights_path.name, "bytes": size, "sha256": sha256_of(weights_path)}
    card.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card


def read_card(name: str, root: Path | None = None) -> dict:
    _, card_path = checkpoint_paths(name, root)
    if not card_path.exists():
        raise CheckpointError(f"No model card for '{name}' (looked for {card_path}). {_how_to_get(name)}")
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"The model card {card_path} is not valid JSON ({error}).") from error


def load_checkpoint(name: str, root: Path | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Return (state_dict, card) after checking the weights against the sha256 in the card."""
    weights_path, _ = checkpoint_paths(name, root)
    card = read_card(name, root)
    if not weights_path.exists():
        raise CheckpointError(f"The weights of '{name}' are missing (looked for {weights_path}). {_how_to_get(name)}")
    expected = card.get("weights", {}).get("sha256")
    actual = sha256_of(weights_path)
    if expected != actual:
        raise CheckpointError(
            f"The weights of '{name}' do not match their model card (sha256 {actual[:12]}… instead of "
            f"{str(expected)[:12]}…): the file was changed or damaged. Restore it or retrain the model."
        )
    try:
        state_dict = load_file(str(weights_path))
    except Exception as error:  # safetensors raises several types for a damaged header
        raise CheckpointError(f"The weights of '{name}' could not be read as safetensors ({error}).") from error
    return state_dict, card


def architecture_of(model: torch.nn.Module) -> dict:
    """The card entry that rebuilds `model`: its class name and its config dataclass as plain JSON."""
    return {"class": type(model).__name__, "config": dataclasses.asdict(model.config)}


def build_model(architecture: dict, model_class: type[torch.nn.Module]) -> torch.nn.Module:
    """Rebuild a card's `architecture` with the lab's model class (each lab knows its own; the kernel knows none)."""
    if architecture.get("class") != model_class.__name__:
        raise CheckpointError(f"This checkpoint holds a {architecture.get('class')}, not a {model_class.__name__}.")
    try:
        config = model_class.config_class(**architecture["config"])
    except (TypeError, ValueError) as error:  # a card from another version, or edited by hand
        raise CheckpointError(f"The card's architecture does not describe a {model_class.__name__} ({error}).") from error
    return model_class(config)


def load_uploaded_model(weights: bytes, card_bytes: bytes, model_class: type[torch.nn.Module]) -> tuple[torch.nn.Module, dict]:
    """A Glassbox checkpoint trained elsewhere, from its two uploaded files: the same checks as a shipped one
    (the card's sha256, safetensors only, strict loading), and nothing is written to disk."""
    try:
        card = json.loads(card_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"The model card is not valid JSON ({error}).") from error
    if not isinstance(card, dict) or not isinstance(card.get("architecture"), dict):
        raise CheckpointError("The model card has no architecture: upload the .json that `python -m core train` wrote.")
    actual = hashlib.sha256(weights).hexdigest()
    if card.get("weights", {}).get("sha256") != actual:
        raise CheckpointError(f"The weights (sha256 {actual[:12]}…) are not the ones this card describes: upload the "
                              ".safetensors and .json written together by one training run.")
    try:
        state_dict = load_bytes(weights)
    except (SafetensorError, ValueError) as error:
        raise CheckpointError(f"The weights could not be read as safetensors ({error}).") from error
    return _filled_model(card, state_dict, model_class, "The weights"), card


def load_model(name: str, model_class: type[torch.nn.Module], root: Path | None = None,
               device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Build the model the card describes and load its checked weights; the model comes back in eval mode."""
    state_dict, card = load_checkpoint(name, root)
    return _filled_model(card, state_dict, model_class, f"The weights of '{name}'").to(device), card


def _filled_model(card: dict, state_dict: dict[str, torch.Tensor], model_class: type[torch.nn.Module],
                 whose: str) -> torch.nn.Module:
    """The card's architecture built with the lab's class and loaded strictly with `state_dict`, in eval mode."""
    model = build_model(card["architecture"], model_class)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise CheckpointError(f"{whose} do not fit the architecture in the card ({error}).") from error
    return model.eval()


def list_checkpoints(task: str | None = None, root: Path | None = None) -> list[str]:
    """Names like `cnn/kmnist-maxpool` for every card under the checkpoints folder."""
    root = Path(root or paths.CHECKPOINTS)
    pattern = f"{task}/*.json" if task else "*/*.json"
    return sorted(str(card.relative_to(root).with_suffix("")) for card in root.glob(pattern))


def count_trainable_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def _how_to_get(name: str) -> str:
    task = name.split("/", 1)[0]
    return f"Train it with `python -m core train {task} --help` to see how, or restore the file from git."
