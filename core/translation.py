"""The translation lab's protocol: train the homework's seq2seq, score it, and translate typed Spanish.

CLI: `train mt`, `translate`, and `evaluate mt/NAME`. Pages call `load_translator` and `Loaded.translate`.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from core import paths
from core import checkpoints
from core.checkpoints import architecture_of, save_checkpoint
from core.data import translation as data
from core.decoding import search
from core.metrics import mean_error_rate
from core.models.mt import Translator, TranslatorConfig
from core.train import RunSettings, best_epoch, fit

DEFAULT_MODEL = "mt/spa-eng-attn"
SHIPPED = {"mt/spa-eng-noattn": "without attention", "mt/spa-eng-attn": "with bilinear attention"}
LENGTH_PENALTY = 1.0  # scores are mean log-probability per output character (stop token included)
REPORTED_BEAMS = (1, 4, 8)


@dataclass
class TrainingRecipe:
    """The homework's recipe (IST DL 2022-23 HW2 Q3)."""

    epochs: int = 50
    learning_rate: float = 0.003
    batch_size: int = 64
    seed: int = 42
    limit_train: int | None = None  # only for quick smoke runs


# --- scoring -------------------------------------------------------------------------------------------------


@torch.no_grad()
def decode_sources(model, source_vocab, sources: list[str], beam_width=1, batch_size=250, device="cpu"):
    """Translate already-normalised sentences; returns the search hypotheses in input order."""
    model.eval()
    hypotheses = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        ids, lengths = data.pad_batch([source_vocab.encode(sentence) for sentence in chunk])
        decoder = model.step_decoder(ids.to(device), lengths)
        hypotheses += search(
            decoder, len(chunk), data.SOS, data.EOS, model.config.max_output_length, beam_width, LENGTH_PENALTY
        )
    return hypotheses


def score(model, source_vocab, target_vocab, pairs, beam_width=1, device="cpu") -> dict:
    """The homework's error rate (mean Levenshtein / reference length), exact matches and time per sentence."""
    started = time.perf_counter()
    hypotheses = decode_sources(model, source_vocab, [pair.spanish for pair in pairs], beam_width, device=device)
    seconds = time.perf_counter() - started
    predictions = [target_vocab.decode(hypothesis.tokens) for hypothesis in hypotheses]
    references = [pair.english for pair in pairs]
    return {
        "error_rate": mean_error_rate(predictions, references),
        "exact_matches": sum(p == r for p, r in zip(predictions, references)),
        "sentences": len(pairs),
        "ms_per_sentence": 1000 * seconds / len(pairs),
        "predictions": predictions,
    }


# --- training ------------------------------------------------------------------------------------------------


def train(
    name: str, attention: bool, recipe: TrainingRecipe, device: str = "cpu", quiet: bool = False,
    stop_after_epoch: int | None = None, encoder_per_direction: int | None = None,
) -> dict:
    """Train with the homework recipe through core.train.fit (resumable in runs/mt/<name>), then ship the checkpoint.

    `stop_after_epoch` ends this call early (a time budget) without changing the run: calling again without it
    resumes the same run up to `recipe.epochs`. The card records how many epochs were actually trained.
    """
    train_pairs, val_pairs, test_pairs = (data.load_pairs(split) for split in data.SPLITS)
    if recipe.limit_train:
        train_pairs = train_pairs[: recipe.limit_train]
    source_vocab, target_vocab = data.build_vocabularies(data.load_pairs("train"))
    config = TranslatorConfig(len(source_vocab), len(target_vocab), attention=attention,
                              encoder_per_direction=encoder_per_direction)
    torch.manual_seed(recipe.seed)
    model = Translator(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)

    def train_batches(epoch):
        generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
        return data.make_batches(train_pairs, source_vocab, target_vocab, recipe.batch_size, generator)

    def batch_loss(model, batch):
        target_inputs, target_outputs = batch.target[:, :-1].to(device), batch.target[:, 1:].to(device)
        logits = model(batch.source.to(device), batch.source_lengths, target_inputs)  # (batch, steps, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), target_outputs.flatten(), ignore_index=data.PAD)
        return loss, len(batch.references)

    def evaluate(model):
        return {"val_error_rate": score(model, source_vocab, target_vocab, val_pairs, device=device)["error_rate"]}

    name = name if "/" in name else f"mt/{name}"
    settings = RunSettings(
        run_dir=paths.RUNS / name, epochs=min(recipe.epochs, stop_after_epoch or recipe.epochs), seed=recipe.seed,
        device=device,
        best_metric="val_error_rate", best_mode="min", description=name, quiet=quiet,
        fingerprint={"config": asdict(config), "recipe": asdict(recipe)},
    )
    history = fit(model, optimizer, train_batches, batch_loss, evaluate, settings)
    model.eval()

    metrics = {}
    for beam_width in REPORTED_BEAMS:
        result = score(model, source_vocab, target_vocab, test_pairs, beam_width, device)
        key = "greedy" if beam_width == 1 else f"beam{beam_width}"
        metrics[f"test_error_rate_{key}"] = result["error_rate"]
        metrics[f"test_exact_matches_{key}"] = result["exact_matches"]
        metrics[f"test_ms_per_sentence_{key}"] = round(result["ms_per_sentence"], 3)
        if beam_width == 1:
            examples = [
                {"spanish": pair.spanish, "english": pair.english, "prediction": prediction}
                for pair, prediction in list(zip(test_pairs, result["predictions"]))[:12]
            ]
    best = best_epoch(history, "val_error_rate", "min")
    metrics["val_error_rate"] = best["val_error_rate"]
    card = {
        "architecture": architecture_of(model),
        "title": "Character-level Spanish->English: BiLSTM encoder, LSTM decoder, "
        + ("bilinear attention" if attention else "no attention") + " (IST DL 2022-23 HW2 Q3)",
        "task": "Spanish -> English, character level",
        "encoder_note": (
            f"BiLSTM with {config.hidden_size // 2} units per direction, concatenated to {config.hidden_size}: the "
            "course skeleton's split, so encoder states and final states match the decoder size with no extra projection."
        ) if not model.bridge else (
            f"BiLSTM with {config.encoder_per_direction} units per direction, reduced from "
            f"{2 * config.encoder_per_direction} to {config.hidden_size} by one linear bridge shared by the encoder "
            "states and the final (h, c): the issue's '128 per direction reduced to 128' option, chosen on validation error."
        ),
        "dataset": {
            "name": data.DATASET_NAME,
            "source": "IST Deep Learning 2022-23 Homework 2 data (see shared/data/ist-char-mt-spa-eng/PROVENANCE.md)",
            "splits": {"train": len(train_pairs), "val": len(val_pairs), "test": len(test_pairs)},
        },
        "vocabulary": {"specials": data.SPECIALS, "source": source_vocab.characters, "target": target_vocab.characters},
        "training": {
            **asdict(recipe),
            "optimizer": "Adam",
            "loss": "cross-entropy on next character, padding ignored (teacher forcing)",
            "dropout": config.dropout,
            "hidden_size": config.hidden_size,
            "epochs_completed": len(history),
            "weights_from_epoch": best["epoch"],
            "selection": "weights of the epoch with the lowest validation error rate (greedy)",
            "command": f"python -m core train mt --name {name.split('/', 1)[1]} "
            + ("--attention" if attention else "--no-attention") + f" --seed {recipe.seed}"
            + (f" --encoder-per-direction {encoder_per_direction}" if encoder_per_direction else ""),
            "device": device,
        },
        "decoding": {"length_penalty": LENGTH_PENALTY, "max_output_length": config.max_output_length},
        "curves": {
            "epoch": [record["epoch"] for record in history],
            "train_loss": [record["train_loss"] for record in history],
            "val_error_rate": [record["val_error_rate"] for record in history],
        },
        "metrics": metrics,
        "examples": examples,
    }
    return save_checkpoint(model, card, name)


# --- loading and translating for pages and the CLI ------------------------------------------------------------


@dataclass
class Translation:
    """One sentence through one model: what was fed in, what came out, and where it looked."""

    model: str
    normalised: data.Normalised
    translation: str
    source_characters: list[str]  # the normalised input, one entry per encoder position
    output_tokens: list[str]  # generated characters plus "<eos>" when the model stopped
    attention: list[list[float]] | None  # (output tokens, source characters); None without attention
    score: float  # length-normalised log-probability
    beam_width: int
    milliseconds: float


@dataclass
class LoadedTranslator:
    name: str
    model: Translator
    card: dict
    source_vocab: data.CharVocabulary
    target_vocab: data.CharVocabulary

    def translate(self, text: str, beam_width: int = 1) -> Translation:
        """Normalise `text` as the data was, decode it, and return the translation with its attention weights."""
        normalised = data.normalise(text, self.source_vocab, max_characters=self.model.config.max_output_length)
        started = time.perf_counter()
        (hypothesis,) = decode_sources(self.model, self.source_vocab, [normalised.text], beam_width)
        milliseconds = 1000 * (time.perf_counter() - started)
        output_tokens = [self.target_vocab.token_text(token) for token in hypothesis.tokens]
        if hypothesis.finished:
            output_tokens.append(data.SPECIALS[data.EOS])
        return Translation(
            model=self.name,
            normalised=normalised,
            translation=self.target_vocab.decode(hypothesis.tokens),
            source_characters=list(normalised.text),
            output_tokens=output_tokens,
            attention=hypothesis.attention.tolist() if hypothesis.attention is not None else None,
            score=hypothesis.score,
            beam_width=beam_width,
            milliseconds=milliseconds,
        )


def load_translator(name: str = DEFAULT_MODEL, device: str = "cpu") -> LoadedTranslator:
    model, card = checkpoints.load_model(name, Translator, device=device)
    vocabulary = card["vocabulary"]
    return LoadedTranslator(
        name, model, card, data.CharVocabulary(vocabulary["source"]), data.CharVocabulary(vocabulary["target"])
    )


def translate(text: str, model: str = DEFAULT_MODEL, beam_width: int = 1, device: str = "cpu") -> Translation:
    """Load a shipped model and translate one sentence (pages keep the loaded model in their cache instead)."""
    return load_translator(model, device).translate(text, beam_width)


def publish_best(candidates: list[str], name: str) -> dict:
    """Ship, as `mt/<name>`, the candidate checkpoint with the lowest validation error (test scores never choose)."""
    loaded = {candidate: checkpoints.load_model(f"mt/{candidate}", Translator) for candidate in candidates}  # load_model checks each hash
    cards = {candidate: card for candidate, (_, card) in loaded.items()}
    best = min(cards, key=lambda candidate: cards[candidate]["metrics"]["val_error_rate"])
    model, card = loaded[best]
    card["selection"] = {
        "rule": "lowest validation error rate among the candidates",
        "candidates": {candidate: cards[candidate]["metrics"]["val_error_rate"] for candidate in candidates},
        "chosen": best,
        "command": f"python -m core train mt --name {name} --select-from {' '.join(candidates)}",
    }
    card.pop("created", None)
    return save_checkpoint(model, card, f"mt/{name}")


EXAMPLES_FILE = paths.ASSETS / "translation" / "examples.json"


def test_examples(count: int = 8) -> list[data.Pair]:
    """A few held-out test pairs for pages to offer: shipped in assets/ so the app needs no data folder."""
    if EXAMPLES_FILE.exists():
        shipped = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))["examples"]
        if len(shipped) >= count:
            return [data.Pair(**pair) for pair in shipped[:count]]
    pairs = data.load_pairs("test")
    step = max(len(pairs) // count, 1)
    return pairs[::step][:count]


def export_examples(count: int = 8) -> list[data.Pair]:
    """Write `count` test pairs, spread over the split, to assets/translation/examples.json."""
    pairs = data.load_pairs("test")
    chosen = pairs[:: max(len(pairs) // count, 1)][:count]
    EXAMPLES_FILE.parent.mkdir(parents=True, exist_ok=True)
    EXAMPLES_FILE.write_text(json.dumps({"source": "IST char-MT test split, every n-th pair", "examples": [asdict(pair) for pair in chosen]},
                                        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return chosen


# --- command line -------------------------------------------------------------------------------------------------


def register(commands) -> None:
    commands.task("data", "translation-examples", "Write the Translation lab's example sentences to assets/translation/.",
                  lambda args: {"written": len(export_examples()), "file": str(EXAMPLES_FILE)})
    parser = commands.task("train", "mt", "Train the Spanish->English character translator (homework recipe).", _train_command)
    parser.add_argument("--name", default=None, help="checkpoint name under mt/ (default: spa-eng-attn or spa-eng-noattn)")
    parser.add_argument("--attention", action=argparse.BooleanOptionalAction, default=True, help="bilinear attention")
    parser.add_argument("--epochs", type=int, default=TrainingRecipe.epochs)
    parser.add_argument("--lr", type=float, default=TrainingRecipe.learning_rate)
    parser.add_argument("--batch-size", type=int, default=TrainingRecipe.batch_size)
    parser.add_argument("--seed", type=int, default=TrainingRecipe.seed)
    parser.add_argument("--limit-train", type=int, default=None, help="train on the first N pairs only (smoke tests)")
    parser.add_argument("--stop-after-epoch", type=int, default=None,
                        help="stop this call after epoch N and write the checkpoint; rerun without it to finish the run")
    parser.add_argument("--encoder-per-direction", type=int, default=None,
                        help="BiLSTM units per direction (default: hidden/2 = 64; larger sizes are reduced to 128 by a linear bridge)")
    parser.add_argument("--select-from", nargs="+", metavar="NAME", default=None,
                        help="train nothing: ship as --name the trained mt/NAME with the lowest validation error")
    parser.add_argument("--quiet", action="store_true")

    parser = commands.verb("translate", "Translate a Spanish sentence with a shipped character-level model.", _translate_command)
    parser.add_argument("text", help='Spanish text, e.g. "tengo hambre ."')
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint name (default: {DEFAULT_MODEL})")
    parser.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    parser.add_argument("--attention", action="store_true", help="include the attention weights in the output")
    commands.evaluators["mt"] = _evaluate_command


def _train_command(args) -> dict:
    if args.select_from:
        card = publish_best(args.select_from, args.name or ("spa-eng-attn" if args.attention else "spa-eng-noattn"))
        return {"checkpoint": card["name"], "chosen": card["selection"]["chosen"], **card["metrics"]}
    recipe = TrainingRecipe(args.epochs, args.lr, args.batch_size, args.seed, args.limit_train)
    name = args.name or ("spa-eng-attn" if args.attention else "spa-eng-noattn")
    card = train(name, args.attention, recipe, args.device, args.quiet, args.stop_after_epoch, args.encoder_per_direction)
    return {"checkpoint": card["name"], **card["metrics"]}


def _translate_command(args) -> dict:
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


def _evaluate_command(args) -> dict:
    translator = load_translator(args.model, args.device)
    pairs = data.load_pairs(args.split)[: args.limit]
    result = score(translator.model, translator.source_vocab, translator.target_vocab, pairs, max(args.beam, 1), args.device)
    result.pop("predictions")
    return {"model": args.model, "split": args.split, "beam_width": max(args.beam, 1), **result}
