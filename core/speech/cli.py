"""The Speech lab's commands: build the corpus and examples, train, evaluate, transcribe and benchmark.

    python -m core data synth-ljspeech [OUT] [--voice-set original|wide|kokoro] [--limit N] [--splits train] [--voices ...]
    python -m core data speech-examples                                                 (rebuilds assets/speech/)
    python -m core train asr --decoder {lstm,transformer} [--epochs 15] [--threads 1]   (resumes by itself)
    python -m core train asr --architecture speech-transformer [--staging staged|end-to-end]
    python -m core train asr --decoder transformer --export-only                        (checkpoint from the run so far)
    python -m core evaluate asr/lj-transformer --split test [--data synth|real|VOICE_SET|VOICE] [--beam N] [--limit N]
    python -m core transcribe AUDIO [--model asr/lj-transformer] [--beam N] --json
    python -m core bench asr [--models asr/lj-lstm ...] --json
    python -m core bench asr-search [--widths 1 4 8] [--limit 100] --json
    python -m core bench asr-real [--models asr/lj-transformer ...] [--limit N] [--no-pocketsphinx] [--widths 1 4] --json
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from core import paths
from core.checkpoints import list_checkpoints
from core.errors import GlassboxError
from core.speech.corpus.augment import AUGMENT_PRESETS
from core.speech.corpus.ljspeech import HOMEWORK_SPLITS
from core.speech.corpus.synth import CORPUS_FOLDERS, SYNTH_CORPUS, evaluation_corpus, synth_ljspeech
from core.speech.dataset import load_speech_set
from core.speech.evaluation import benchmark, score, search_comparison, with_examples
from core.speech.examples import EXAMPLES_DIR, build_examples
from core.speech.inference import DEFAULT_MODEL, card_decoding, load_model, transcribe_audio
from core.speech.model import SpeechRecognizerConfig, speech_transformer_config
from core.speech.recipe import RECIPE_OPTIONS, SpeechRecipe, corpus_and_repeats, staged_schedule
from core.speech.speed import decoding_speed
from core.speech.training import export_checkpoint, train_recognizer


def corpus_entry(entry: str) -> str:
    """--corpora's check: a known voice set, with an optional ":repeats"."""
    try:
        name, _ = corpus_and_repeats(entry)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    if name not in CORPUS_FOLDERS:
        raise argparse.ArgumentTypeError(f"unknown voice set '{name}'; known: {', '.join(CORPUS_FOLDERS)}")
    return entry


RECIPE_HELP = {
    "epochs": {"type": int},
    "batch_size": {"type": int},
    "learning_rate": {"type": float},
    "warmup_epochs": {"type": int},
    "limit_train": {"type": int, "help": "train on the first N train clips only"},
    "corpora": {"nargs": "+", "type": corpus_entry,
                "help": f"synthetic voice sets to train on ({', '.join(CORPUS_FOLDERS)}; build one with synth-ljspeech "
                        "--voice-set NAME); NAME:K puts a set K times in each epoch's pool, e.g. kokoro:8"},
    "real_speech_repeats": {"type": int, "help": "mix the real training speech (99 min: LJ extra, Kathleen, Common "
                                                 "Voice) in, N times per epoch"},
    "augment": {"choices": list(AUGMENT_PRESETS), "help": "on-the-fly augmentation (core/speech/corpus/augment.py): "
                                                          "SpecAugment+VTLP, or waveform effects too"},
    "ctc_loss_weight": {"type": float, "help": "joint CTC-attention: weight of a CTC loss on the encoder (adds a CTC "
                                               "head; 0 = the homework)"},
    "init_from": {"help": "warm start from a shipped checkpoint's weights, e.g. asr/lj-transformer (same architecture)"},
    "init_encoder_from": {"help": "warm start only the encoder (and CTC head) from a checkpoint whose encoder config "
                                  "matches, e.g. asr/lj-transformer for an LSTM-decoder model; the decoder starts fresh"},
    "clips_per_epoch": {"type": int, "help": "train each epoch on a seeded draw of N clips (equal compute whatever "
                                             "the corpora)"},
    "real_val_clips": {"type": int, "help": "pick the epoch on N real training clips, held out of any real speech the "
                                            "run trains on (default: synthetic validation)"},
}


def register(commands) -> None:
    _register_data(commands)
    _register_train(commands)
    commands.evaluators["asr"] = _evaluate
    transcribe = commands.verb("transcribe", "Transcribe an audio file with a shipped speech recognizer.", _transcribe)
    transcribe.add_argument("audio", help="audio file (wav, flac, ogg, mp3, …; any rate, mono or stereo)")
    transcribe.add_argument("--model", default=DEFAULT_MODEL, help=f"checkpoint (default {DEFAULT_MODEL})")
    transcribe.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    _register_bench(commands)


def _register_data(commands) -> None:
    synth = commands.task("data", "synth-ljspeech", "Synthesize every LJ Speech transcript with offline TTS voices.", _synth)
    synth.add_argument("out", nargs="?", default=None,
                       help="output folder (default: the voice set's, ~/.cache/glassbox/ljspeech-synth[-wide|-kokoro])")
    synth.add_argument("--voice-set", choices=list(CORPUS_FOLDERS), default="original",
                       help="original: the 14 voices the shipped models trained on; wide: piper, RHVoice, pico and more; "
                            "kokoro: Kokoro-82M's 28 English speakers (neural, ~1.3x real time a core)")
    synth.add_argument("--limit", type=int, default=None, help="only the first N rows of each split")
    synth.add_argument("--splits", nargs="+", choices=list(HOMEWORK_SPLITS), default=None,
                       help="only these splits (default: all), e.g. grow a slow voice set's train split alone")
    synth.add_argument("--voices", nargs="+", default=None, help="voice names (default: all; see core/speech/corpus/synth.py)")
    synth.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    commands.task("data", "speech-examples", "Rebuild the Speech lab's example clips in assets/speech/.", _build_examples)


def _register_train(commands) -> None:
    train = commands.task("train", "asr", "Train the homework's speech recognizer (resumes an unfinished run).", _train)
    train.add_argument("--architecture", choices=["homework", "speech-transformer"], default="homework",
                       help="the IST homework's encoder + --decoder, or the CMU 11-785 Speech-Transformer")
    train.add_argument("--decoder", choices=["lstm", "transformer"], default="transformer", help="homework decoder")
    train.add_argument("--staging", choices=["staged", "end-to-end"], default="staged",
                       help="Speech-Transformer: Part I without encoder blocks, Part II frozen then all (default), "
                            "or everything from the start")
    train.add_argument("--part1-epochs", type=int, default=6, help="Speech-Transformer Part I epochs (then 3 frozen)")
    train.add_argument("--encoder-layers", type=int, default=2, help="2 as the homework notebook (the statement says 4)")
    defaults = SpeechRecipe()
    for field, option in RECIPE_OPTIONS.items():
        train.add_argument(option, default=getattr(defaults, field), **RECIPE_HELP[field])
    train.add_argument("--name", default=None,
                       help="checkpoint name under asr/ (default lj-<decoder>, lj-speech-transformer[-e2e])")
    train.add_argument("--data-dir", default=str(SYNTH_CORPUS), help="corpus in LJ Speech layout")
    train.add_argument("--run-dir", default=None, help=f"run folder (default {paths.RUNS}/asr/<name>)")
    train.add_argument("--fp32", action="store_true", help="train in float32 (default: bfloat16 autocast, ~2x faster on CPUs with AVX512-BF16)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--export-only", action="store_true", help="write the checkpoint from the run's best epoch so far")
    train.add_argument("--test-limit", type=int, default=None, help="score only the first N test clips in the card")
    train.add_argument("--quiet", action="store_true")


def _register_bench(commands) -> None:
    speed = commands.task("bench", "asr", "Real-time factor of transcribing a 10 s clip: greedy and beam, attention only and "
                                          "joint CTC, warm and in a fresh process; cache and compiled-CTC speed-ups.",
                          _bench_speed)
    speed.add_argument("--models", nargs="+", default=None, help="checkpoints (default: every asr/ checkpoint)")
    speed.add_argument("--beam", type=int, default=4)
    search = commands.task("bench", "asr-search", "Greedy vs beam search: CER and time per utterance of every model.",
                           _bench_search)
    search.add_argument("--models", nargs="+", default=None, help="checkpoints (default: every asr/ checkpoint)")
    search.add_argument("--widths", nargs="+", type=int, default=[1, 4, 8], help="beam widths (1 = greedy)")
    search.add_argument("--limit", type=int, default=100, help="clips of each set (synthetic test, real LJ)")
    real = commands.task("bench", "asr-real",
                         "Score every ASR checkpoint and PocketSphinx on real speech: real LJ clips and other voices.",
                         _bench_real)
    real.add_argument("--models", nargs="*", default=None,
                      help="checkpoints to score (default: every asr/ checkpoint; give none to score PocketSphinx only)")
    real.add_argument("--limit", type=int, default=None, help="score only the first N clips of each set")
    real.add_argument("--no-pocketsphinx", action="store_true", help="leave PocketSphinx out")
    real.add_argument("--widths", type=int, nargs="+", default=[1],
                      help="beam widths for the checkpoints (default 1: greedy, as the Speech lab opens; e.g. 1 4; the "
                           "systems of a wider beam are named '<checkpoint> beam <width>')")


def _synth(args: argparse.Namespace) -> dict:
    return synth_ljspeech(Path(args.out) if args.out else None, limit=args.limit, voice_names=args.voices,
                          workers=args.workers, voice_set=args.voice_set, splits=args.splits)


def _build_examples(args: argparse.Namespace) -> dict:
    examples = build_examples()
    total = sum((EXAMPLES_DIR / example.file).stat().st_size for example in examples)
    return {"folder": str(EXAMPLES_DIR), "examples": [example.label for example in examples], "bytes": total}


def _train(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.ctc_loss_weight < 1:
        raise GlassboxError("--ctc-loss-weight must be in [0, 1).")
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
    config = dataclasses.replace(config, ctc_head=args.ctc_loss_weight > 0)
    recipe = SpeechRecipe(**{field: getattr(args, field) for field in RECIPE_OPTIONS}, bf16=not args.fp32, stages=stages)
    run_dir = Path(args.run_dir) if args.run_dir else paths.RUNS / "asr" / name
    if args.export_only:
        card = export_checkpoint(name, run_dir, Path(args.data_dir), evaluate=True, test_limit=args.test_limit, quiet=args.quiet)
    else:
        card = train_recognizer(name, config, recipe, Path(args.data_dir), run_dir, args.device, args.test_limit, args.quiet)
    return {"checkpoint": f"asr/{name}", "epochs_done": card["training"]["epochs_done"], "metrics": card.get("metrics", {})}


def _evaluate(args: argparse.Namespace) -> dict:
    torch_single_thread()
    model, card = load_model(args.model, device=args.device)
    data = args.data or "synth"
    if data in ("synth", "real"):
        dataset = load_speech_set(data, args.split, SYNTH_CORPUS, quiet=not args.json, limit=args.limit)
    else:  # a voice set's corpus, or one voice's clips of the split
        root, voice = evaluation_corpus(data)
        dataset = load_speech_set("synth", args.split, root, quiet=not args.json, limit=args.limit, voice=voice)
    result = score(model, dataset, options=card_decoding(card, args.beam), quiet=False, description=f"scoring {args.model}")
    split = args.split if data != "real" else "real"
    return with_examples(result | {"model": args.model, "data": data, "split": split, "beam": args.beam}, 5)


def _transcribe(args: argparse.Namespace) -> dict:
    if args.beam < 1:
        raise GlassboxError("--beam must be at least 1.")
    torch_single_thread()
    model, card = load_model(args.model, device=args.device)
    return transcribe_audio(model, Path(args.audio), card_decoding(card, args.beam))


def _bench_speed(args: argparse.Namespace) -> dict:
    torch_single_thread()
    return decoding_speed(_checkpoints(args.models, "benchmark"), beam=args.beam)


def _bench_search(args: argparse.Namespace) -> dict:
    torch_single_thread()
    models = _checkpoints(args.models, "compare")
    if min(args.widths) < 1:
        raise GlassboxError("Beam widths must be at least 1.")
    datasets = {"synthetic_test": load_speech_set("synth", "test", SYNTH_CORPUS, quiet=True, limit=args.limit),
                "real_ljspeech": load_speech_set("real", "train", quiet=True, limit=args.limit)}
    return {"threads": 1, "clips_per_set": args.limit, "models": search_comparison(models, args.widths, datasets)}


def _bench_real(args: argparse.Namespace) -> dict:
    if args.limit is not None and args.limit < 1:
        raise GlassboxError("--limit must be at least 1.")
    known = set(list_checkpoints("asr"))
    models = sorted(known) if args.models is None else args.models
    unknown = [name for name in models if name not in known]
    if unknown:
        raise GlassboxError(f"No such ASR checkpoint: {', '.join(unknown)}. Shipped: {', '.join(sorted(known)) or 'none'}.")
    if not models and args.no_pocketsphinx:
        raise GlassboxError("Nothing to score: give --models or leave PocketSphinx in.")
    return benchmark(models, limit=args.limit, include_pocketsphinx=not args.no_pocketsphinx, device=args.device,
                     beam_widths=tuple(args.widths))


def _checkpoints(models: list[str] | None, verb: str) -> list[str]:
    models = models or list_checkpoints("asr")
    if not models:
        raise GlassboxError(f"No asr/ checkpoints to {verb}; train one with `python -m core train asr`.")
    return models


def torch_single_thread() -> None:
    """Decoding is ~100 tiny steps: one thread avoids thread hand-offs that made it 20× slower on a busy 2-core machine."""
    torch.set_num_threads(1)
