"""The one training loop every Glassbox model uses: resumable, seeded per epoch, with progress bars.

A run folder holds `state.safetensors` (model + optimizer tensors) and `state.json` (epoch, history,
the rest of the optimizer state, and a fingerprint of the config) written after every epoch, so a run
killed at any point continues from its last finished epoch with the same results it would have had.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm


@dataclass
class RunSettings:
    """How to run a training job; `fingerprint` is any JSON config that must match for a resume."""

    run_dir: Path
    epochs: int
    seed: int = 0
    device: str = "cpu"
    clip_grad_norm: float | None = None
    best_metric: str | None = None  # e.g. "val_accuracy": keep the weights of the best epoch
    best_mode: str = "max"
    best_from_epoch: int = 0  # epochs before this one never count as best (a staged model is incomplete until then)
    scheduler_steps_per_batch: bool = False  # the LR scheduler steps after every batch; otherwise after every epoch
    description: str = "training"
    quiet: bool = False
    fingerprint: dict = field(default_factory=dict)


class RunMismatchError(RuntimeError):
    """A run folder exists but was made with another config; resuming would mix two experiments."""


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_batches: Callable[[int], Iterable],
    batch_loss: Callable[[torch.nn.Module, object], tuple[torch.Tensor, int]],
    evaluate: Callable[[torch.nn.Module], dict],
    settings: RunSettings,
    scheduler=None,
    on_epoch_end: Callable[[dict], None] | None = None,
    on_epoch_start: Callable[[torch.nn.Module, int], None] | None = None,
) -> list[dict]:
    """Train for `settings.epochs` epochs and return the per-epoch history.

    train_batches(epoch) yields batches; batch_loss(model, batch) returns (mean loss, items in batch);
    evaluate(model) returns validation metrics, called under no_grad in eval mode. If
    `settings.best_metric` is set, the model ends with the weights of its best epoch. on_epoch_start(model, epoch)
    may change the model before each epoch (staged training adds layers or freezes parts); it must depend on the
    epoch alone, so a resumed run sets the model up as an uninterrupted one would.
    """
    run_dir = Path(settings.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(settings.device)
    fingerprint = _fingerprint(settings.fingerprint)
    history, start_epoch = _resume(run_dir, fingerprint, model, optimizer, scheduler, settings)

    for epoch in range(start_epoch, settings.epochs):
        if on_epoch_start is not None:
            on_epoch_start(model, epoch)
        torch.manual_seed(settings.seed * 100_003 + epoch)
        started = time.perf_counter()
        train_loss = _train_epoch(model, optimizer, train_batches(epoch), batch_loss, settings, scheduler, epoch)

        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        record = {"epoch": epoch + 1, "train_loss": train_loss, **metrics}
        record["seconds"] = round(time.perf_counter() - started, 2)
        history.append(record)
        _save_state(run_dir, fingerprint, model, optimizer, scheduler, history, settings)
        if not settings.quiet:
            shown = ", ".join(f"{key} {value:.4f}" for key, value in record.items() if isinstance(value, float))
            print(f"{settings.description} epoch {epoch + 1}/{settings.epochs}: {shown}", file=sys.stderr)
        if on_epoch_end is not None:
            on_epoch_end(record)

    if settings.best_metric and (run_dir / "best.safetensors").exists():
        model.load_state_dict(load_file(str(run_dir / "best.safetensors")))
    return history


def _train_epoch(model, optimizer, batches: Iterable, batch_loss, settings: RunSettings, scheduler, epoch: int) -> float:
    """One pass over `batches` with a progress bar; returns the mean training loss per item."""
    model.train()
    total_loss, total_items = 0.0, 0
    bar = tqdm(batches, total=_length(batches), desc=f"{settings.description} epoch {epoch + 1}/{settings.epochs}",
               leave=False, file=sys.stderr, disable=settings.quiet, mininterval=1.0)
    for batch in bar:
        optimizer.zero_grad(set_to_none=True)
        loss, items = batch_loss(model, batch)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"The training loss became {loss.item()} in epoch {epoch + 1}.")
        loss.backward()
        if settings.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad_norm)
        optimizer.step()
        if scheduler is not None and settings.scheduler_steps_per_batch:
            scheduler.step()
        total_loss += loss.item() * items
        total_items += items
        bar.set_postfix(loss=f"{total_loss / max(total_items, 1):.4f}", refresh=False)
    if scheduler is not None and not settings.scheduler_steps_per_batch:
        scheduler.step()
    return total_loss / max(total_items, 1)


def best_epoch(history: list[dict], metric: str, mode: str = "max") -> dict:
    choose = max if mode == "max" else min
    return choose(history, key=lambda record: record[metric])


def _length(batches) -> int | None:
    try:
        return len(batches)
    except TypeError:
        return None


def _fingerprint(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_state(run_dir, fingerprint, model, optimizer, scheduler, history, settings) -> None:
    tensors = {f"model.{key}": value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    optimizer_tensors, optimizer_rest = _split_optimizer_state(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    state = {
        "fingerprint": fingerprint,
        "epochs_done": len(history),
        "history": history,
        "optimizer": optimizer_rest,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    # Write to temporary names, then rename: a run killed mid-save keeps its previous epoch intact.
    save_file(tensors, str(run_dir / "state.safetensors.tmp"))
    (run_dir / "state.json.tmp").write_text(json.dumps(state, indent=1, default=float))
    (run_dir / "state.safetensors.tmp").replace(run_dir / "state.safetensors")
    (run_dir / "state.json.tmp").replace(run_dir / "state.json")
    if settings.best_metric and len(history) > settings.best_from_epoch:
        best = best_epoch(history[settings.best_from_epoch:], settings.best_metric, settings.best_mode)
        if best is history[-1]:
            weights = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
            save_file(weights, str(run_dir / "best.safetensors"))


def _resume(run_dir, fingerprint, model, optimizer, scheduler, settings) -> tuple[list[dict], int]:
    state_path = run_dir / "state.json"
    if not state_path.exists():
        return [], 0
    state = json.loads(state_path.read_text())
    if state["fingerprint"] != fingerprint:
        raise RunMismatchError(
            f"{run_dir} holds a run with another config; pass a new run folder or delete this one to start over."
        )
    tensors = load_file(str(run_dir / "state.safetensors"), device=settings.device)
    model.load_state_dict({key[len("model."):]: value for key, value in tensors.items() if key.startswith("model.")})
    optimizer.load_state_dict(_join_optimizer_state(tensors, state["optimizer"]))
    if scheduler is not None and state.get("scheduler"):
        scheduler.load_state_dict(state["scheduler"])
    if not settings.quiet:
        print(f"Resuming {run_dir} after epoch {state['epochs_done']}.", file=sys.stderr)
    return state["history"], state["epochs_done"]


def _split_optimizer_state(optimizer_state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as safetensors-ready tensors plus a JSON remainder (no pickles in run folders either)."""
    tensors, scalars = {}, {}
    for param_id, values in optimizer_state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": optimizer_state["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, param_id, key = name.split(".", 2)
            state.setdefault(int(param_id), {})[key] = value
    for param_id, values in rest["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    return {"state": state, "param_groups": rest["param_groups"]}
