"""The Speech lab's commands: synthesize the LJ stand-in corpus, train, evaluate, transcribe and benchmark.

    python -m core data synth-ljspeech [OUT] [--limit N] [--voices ...]
    python -m core train asr --decoder {lstm,transformer} [--epochs 15] [--threads 1]   (resumes by itself)
    python -m core train asr --decoder transformer --export-only                        (checkpoint from the run so far)
    python -m core evaluate asr/lj-transformer --split test [--data synth|real|VOICE] [--beam N] [--limit N]
    python -m core transcribe AUDIO [--model asr/lj-transformer] [--beam N] --json
    python -m core bench asr [--models asr/lj-lstm ...] --json
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core import paths
from core.errors import GlassboxError

SYNTH_CORPUS = paths.CACHE / "ljspeech-synth"
DEFAULT_MODEL = "asr/lj-transformer"


def register(commands) -> None:
    synth = commands.task("data", "synth-ljspeech", "Synthesize every LJ Speech transcript with Debian TTS voices.", _synth)
    synth.add_argument("out", nargs="?", default=str(SYNTH_CORPUS), help=f"output folder (default {SYNTH_CORPUS})")
    synth.add_argument("--limit", type=int, default=None, help="only the first N rows of each split")
    synth.add_argument("--voices", nargs="+", default=None, help="voice names (default: all; see core/data/synth.py)")
    synth.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")

    train = commands.task("train", "asr", "Train the homework's speech recognizer (resumes an unfinished run).", _train)
    train.add_argument("--decoder", choices=["lstm", "transformer"], default="transformer")
    train.add_argument("--name", default=None, help="checkpoint name under asr/ (default lj-<decoder>)")
    train.add_argument("--epochs", type=int, default=15)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--encoder-layers", type=int, default=2, help="2 as the homework notebook (the statement says 4)")
    train.add_argument("--limit-train", type=int, default=None, help="train on the first N train clips only")
    train.add_argument("--data-dir", default=str(SYNTH_CORPUS), help="corpus in LJ Speech layout")
    train.add_argument("--run-dir", default=None, help=f"run folder (default {paths.RUNS}/asr/<name>)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--export-only", action="store_true", help="write the checkpoint from the run's best epoch so far")
    train.add_argument("--test-limit", type=int, default=None, help="score only the first N test clips in the card")
    train.add_argument("--quiet", action="store_true")

    commands.evaluators["asr"] = _evaluate

    bench = commands.task("bench", "asr", "Real-time factor of transcribing a 10 s clip, greedy and beam, cache vs none.", _bench)
    bench.add_argument("--models", nargs="+", default=None, help="checkpoints (default: every asr/ checkpoint)")
    bench.add_argument("--beam", type=int, default=4)

    transcribe = commands.verb("transcribe", "Transcribe an audio file with a shipped speech recognizer.", _transcribe)
    transcribe.add_argument("audio", help="audio file (wav, flac, ogg, mp3, …; any rate, mono or stereo)")
    transcribe.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint (default {DEFAULT_MODEL})")
    transcribe.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")


def _synth(args: argparse.Namespace) -> dict:
    from core.data.synth import synth_ljspeech

    return synth_ljspeech(Path(args.out), limit=args.limit, voice_names=args.voices, workers=args.workers)


def _train(args: argparse.Namespace) -> dict:
    import torch

    from core.asr import TrainRecipe, export_checkpoint, train_recognizer
    from core.models.asr import SpeechRecognizerConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.name or f"lj-{args.decoder}"
    config = SpeechRecognizerConfig(decoder=args.decoder, encoder_layers=args.encoder_layers)
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch_size, limit_train=args.limit_train)
    run_dir = Path(args.run_dir) if args.run_dir else paths.RUNS / "asr" / name
    if args.export_only:
        card = export_checkpoint(name, run_dir, Path(args.data_dir), evaluate=True, test_limit=args.test_limit, quiet=args.quiet)
    else:
        card = train_recognizer(name, config, recipe, Path(args.data_dir), run_dir, args.device, args.test_limit, args.quiet)
    return {"checkpoint": f"asr/{name}", "epochs_done": card["training"]["epochs_done"], "metrics": card.get("metrics", {})}


def _evaluate(args: argparse.Namespace) -> dict:
    from core.asr import load_speech_set, score
    from core.checkpoints import load_model

    torch_single_thread()
    model, card = load_model(args.model, device=args.device)
    data = args.data or "synth"
    if data in ("synth", "real"):
        dataset = load_speech_set(data, args.split, SYNTH_CORPUS, quiet=not args.json, limit=args.limit)
    else:  # a voice name: that voice's clips of the split
        dataset = load_speech_set("synth", args.split, SYNTH_CORPUS, quiet=not args.json, limit=args.limit, voice=data)
    result = score(model, dataset, beam=args.beam, quiet=False, description=f"scoring {args.model}")
    transcripts = result.pop("transcripts")
    result.update({"model": args.model, "data": data, "split": args.split if data != "real" else "real", "beam": args.beam,
                   "examples": [{"id": i, "reference": r, "hypothesis": h} for i, r, h in transcripts[:5]]})
    return result


def _bench(args: argparse.Namespace) -> dict:
    from core.asr import benchmark
    from core.checkpoints import list_checkpoints

    torch_single_thread()
    models = args.models or list_checkpoints("asr")
    if not models:
        raise GlassboxError("No asr/ checkpoints to benchmark; train one with `python -m core train asr`.")
    return benchmark(models, beam=args.beam)


def _transcribe(args: argparse.Namespace) -> dict:
    from core.asr import transcribe_audio
    from core.checkpoints import load_model

    if args.beam < 1:
        raise GlassboxError("--beam must be at least 1.")
    torch_single_thread()
    model, _ = load_model(args.model, device=args.device)
    return transcribe_audio(model, Path(args.audio), beam=args.beam)


def torch_single_thread() -> None:
    """Decoding is ~100 tiny steps: one thread avoids thread hand-offs that made it 20× slower on a busy 2-core machine."""
    import torch

    torch.set_num_threads(1)
