"""The Speech lab's commands: synthesize the LJ stand-in corpus, train, evaluate, transcribe and benchmark.

    python -m core data synth-ljspeech [OUT] [--voice-set original|wide] [--limit N] [--voices ...]
    python -m core train asr --decoder {lstm,transformer} [--epochs 15] [--threads 1]   (resumes by itself)
    python -m core train asr --architecture speech-transformer [--staging staged|end-to-end]
    python -m core train asr --decoder transformer --export-only                        (checkpoint from the run so far)
    python -m core evaluate asr/lj-transformer --split test [--data synth|real|VOICE] [--beam N] [--limit N]
    python -m core transcribe AUDIO [--model asr/lj-transformer] [--beam N] --json
    python -m core bench asr [--models asr/lj-lstm ...] --json
    python -m core bench asr-search [--widths 1 4 8] [--limit 100] --json
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from core import paths
from core.data.synth import CORPUS_FOLDERS, SYNTH_CORPUS
from core.errors import GlassboxError

DEFAULT_MODEL = "asr/lj-transformer"


def register(commands) -> None:
    synth = commands.task("data", "synth-ljspeech", "Synthesize every LJ Speech transcript with Debian TTS voices.", _synth)
    synth.add_argument("out", nargs="?", default=None,
                       help="output folder (default: the voice set's, ~/.cache/glassbox/ljspeech-synth[-wide])")
    synth.add_argument("--voice-set", choices=list(CORPUS_FOLDERS), default="original",
                       help="original: the 14 voices the shipped models trained on; wide: piper, RHVoice, pico and more")
    synth.add_argument("--limit", type=int, default=None, help="only the first N rows of each split")
    synth.add_argument("--voices", nargs="+", default=None, help="voice names (default: all; see core/data/synth.py)")
    synth.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")

    train = commands.task("train", "asr", "Train the homework's speech recognizer (resumes an unfinished run).", _train)
    train.add_argument("--architecture", choices=["homework", "speech-transformer"], default="homework",
                       help="the IST homework's encoder + --decoder, or the CMU 11-785 Speech-Transformer")
    train.add_argument("--decoder", choices=["lstm", "transformer"], default="transformer", help="homework decoder")
    train.add_argument("--staging", choices=["staged", "end-to-end"], default="staged",
                       help="Speech-Transformer: Part I without encoder blocks, Part II frozen then all (default), "
                            "or everything from the start")
    train.add_argument("--part1-epochs", type=int, default=6, help="Speech-Transformer Part I epochs (then 3 frozen)")
    train.add_argument("--ctc-weight", type=float, default=0.0,
                       help="joint CTC-attention: weight of a CTC loss on the encoder (adds a CTC head; 0 = the homework)")
    train.add_argument("--corpora", nargs="+", default=["original"], choices=list(CORPUS_FOLDERS),
                       help="synthetic voice sets to train on (build 'wide' with synth-ljspeech --voice-set wide)")
    train.add_argument("--real-speech-repeats", type=int, default=0,
                       help="mix the real training speech (99 min: LJ extra, Kathleen, Common Voice) in, N times per epoch")
    train.add_argument("--augment", choices=["none", "specaugment", "default"], default="none",
                       help="on-the-fly augmentation (core/data/augment.py): SpecAugment+VTLP, or waveform effects too")
    train.add_argument("--init-from", default=None,
                       help="warm start from a shipped checkpoint's weights, e.g. asr/lj-transformer (same architecture)")
    train.add_argument("--clips-per-epoch", type=int, default=None,
                       help="train each epoch on a seeded draw of N clips (equal compute whatever the corpora)")
    train.add_argument("--real-val-clips", type=int, default=0,
                       help="pick the epoch on N real training clips, held out of any real speech the run trains on "
                            "(default: synthetic validation)")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--warmup-epochs", type=int, default=2)
    train.add_argument("--name", default=None,
                       help="checkpoint name under asr/ (default lj-<decoder>, lj-speech-transformer[-e2e])")
    train.add_argument("--epochs", type=int, default=15)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--encoder-layers", type=int, default=2, help="2 as the homework notebook (the statement says 4)")
    train.add_argument("--limit-train", type=int, default=None, help="train on the first N train clips only")
    train.add_argument("--data-dir", default=str(SYNTH_CORPUS), help="corpus in LJ Speech layout")
    train.add_argument("--run-dir", default=None, help=f"run folder (default {paths.RUNS}/asr/<name>)")
    train.add_argument("--fp32", action="store_true", help="train in float32 (default: bfloat16 autocast, ~2x faster on CPUs with AVX512-BF16)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--export-only", action="store_true", help="write the checkpoint from the run's best epoch so far")
    train.add_argument("--test-limit", type=int, default=None, help="score only the first N test clips in the card")
    train.add_argument("--quiet", action="store_true")

    commands.evaluators["asr"] = _evaluate

    bench = commands.task("bench", "asr", "Real-time factor of transcribing a 10 s clip, greedy and beam, cache vs none.", _bench)
    bench.add_argument("--models", nargs="+", default=None, help="checkpoints (default: every asr/ checkpoint)")
    bench.add_argument("--beam", type=int, default=4)

    search = commands.task("bench", "asr-search", "Greedy vs beam search: CER and time per utterance of every model.",
                           _bench_search)
    search.add_argument("--models", nargs="+", default=None, help="checkpoints (default: every asr/ checkpoint)")
    search.add_argument("--widths", nargs="+", type=int, default=[1, 4, 8], help="beam widths (1 = greedy)")
    search.add_argument("--limit", type=int, default=100, help="clips of each set (synthetic test, real LJ)")

    transcribe = commands.verb("transcribe", "Transcribe an audio file with a shipped speech recognizer.", _transcribe)
    transcribe.add_argument("audio", help="audio file (wav, flac, ogg, mp3, …; any rate, mono or stereo)")
    transcribe.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint (default {DEFAULT_MODEL})")
    transcribe.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")


def _synth(args: argparse.Namespace) -> dict:
    from core.data.synth import synth_ljspeech

    return synth_ljspeech(Path(args.out) if args.out else None, limit=args.limit, voice_names=args.voices,
                          workers=args.workers, voice_set=args.voice_set)


def _train(args: argparse.Namespace) -> dict:
    import torch

    from core.asr import (
        TrainRecipe,
        export_checkpoint,
        staged_schedule,
        train_recognizer,
    )
    from core.models.asr import SpeechRecognizerConfig, speech_transformer_config

    if args.threads:
        torch.set_num_threads(args.threads)
    stages = None
    if args.architecture == "speech-transformer":
        name = args.name or ("lj-speech-transformer" + ("-e2e" if args.staging == "end-to-end" else ""))
        config = speech_transformer_config()
        if args.staging == "staged":
            try:
                stages = staged_schedule(args.epochs, args.part1_epochs)
            except ValueError as error:
                raise GlassboxError(str(error)) from error
    else:
        name = args.name or f"lj-{args.decoder}"
        config = SpeechRecognizerConfig(decoder=args.decoder, encoder_layers=args.encoder_layers)
    if not 0 <= args.ctc_weight < 1:
        raise GlassboxError("--ctc-weight must be in [0, 1).")
    config = dataclasses.replace(config, ctc_head=args.ctc_weight > 0)
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch_size, limit_train=args.limit_train,
                         bf16=not args.fp32, stages=stages, ctc_weight=args.ctc_weight, corpora=args.corpora,
                         real_speech_repeats=args.real_speech_repeats, augment=args.augment, init_from=args.init_from,
                         clips_per_epoch=args.clips_per_epoch, real_val_clips=args.real_val_clips,
                         learning_rate=args.learning_rate, warmup_epochs=args.warmup_epochs)
    run_dir = Path(args.run_dir) if args.run_dir else paths.RUNS / "asr" / name
    if args.export_only:
        card = export_checkpoint(name, run_dir, Path(args.data_dir), evaluate=True, test_limit=args.test_limit, quiet=args.quiet)
    else:
        card = train_recognizer(name, config, recipe, Path(args.data_dir), run_dir, args.device, args.test_limit, args.quiet)
    return {"checkpoint": f"asr/{name}", "epochs_done": card["training"]["epochs_done"], "metrics": card.get("metrics", {})}


def _evaluate(args: argparse.Namespace) -> dict:
    from core.asr import load_model, load_speech_set, score

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


def _bench_search(args: argparse.Namespace) -> dict:
    from core.asr import load_speech_set, search_comparison
    from core.checkpoints import list_checkpoints

    torch_single_thread()
    models = args.models or list_checkpoints("asr")
    if not models:
        raise GlassboxError("No asr/ checkpoints to compare; train one with `python -m core train asr`.")
    if min(args.widths) < 1:
        raise GlassboxError("Beam widths must be at least 1.")
    datasets = {"synthetic_test": load_speech_set("synth", "test", SYNTH_CORPUS, quiet=True, limit=args.limit),
                "real_ljspeech": load_speech_set("real", "train", quiet=True, limit=args.limit)}
    return {"threads": 1, "clips_per_set": args.limit, "models": search_comparison(models, args.widths, datasets)}


def _transcribe(args: argparse.Namespace) -> dict:
    from core.asr import load_model, transcribe_audio

    if args.beam < 1:
        raise GlassboxError("--beam must be at least 1.")
    torch_single_thread()
    model, _ = load_model(args.model, device=args.device)
    return transcribe_audio(model, Path(args.audio), beam=args.beam)


def torch_single_thread() -> None:
    """Decoding is ~100 tiny steps: one thread avoids thread hand-offs that made it 20× slower on a busy 2-core machine."""
    import torch

    torch.set_num_threads(1)
