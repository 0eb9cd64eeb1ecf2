"""LJ Speech 1.1 in its official folder layout, read the way the ASR homework read it.

`metadata.csv` holds `ID|raw|normalized` with CRLF line endings and unescaped double quotes, so it is split on
`|` by hand, never parsed with csv quoting. The homework used the normalized transcript and split by row:
train 0–9,824, validation 9,825–10,479, test 10,480–13,099. The synthesized stand-in corpus
(`core.speech.corpus.synth`) writes the same layout plus a `voices.csv`, so one loader reads real and synthetic speech.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pooch

from core import paths
from core.errors import DataUnavailableError

ARCHIVE_URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
ARCHIVE_SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"  # 2,748,572,632 bytes
ROWS = 13_100
HOMEWORK_SPLITS = {"train": (0, 9_825), "val": (9_825, 10_480), "test": (10_480, 13_100)}
SHARED_LJSPEECH = paths.SHARED_DATA / "ljspeech-1.1"  # all transcripts, 100 real clips (train rows, eval only)
VOICES_FILE = "voices.csv"


@dataclass(frozen=True)
class Utterance:
    """One clip: its id, metadata row, normalized transcript, wav path and (for synthetic speech) its voice."""

    id: str
    row: int
    text: str
    audio_path: Path
    voice: str = "ljspeech"


def read_metadata(root: Path) -> list[Utterance]:
    """Every row of `root/metadata.csv` in file order (audio may or may not exist)."""
    metadata = Path(root) / "metadata.csv"
    if not metadata.exists():
        raise DataUnavailableError(
            f"No LJ Speech metadata at {metadata}. Download the corpus with `download_ljspeech()` or synthesize "
            "a stand-in with `python -m core data synth-ljspeech OUT`."
        )
    voices = read_voices(root)
    utterances = []
    with open(metadata, encoding="utf-8", newline="") as handle:
        for row, line in enumerate(handle):
            line = line.rstrip("\r\n")
            if not line:
                continue
            clip_id, _raw, normalized = line.split("|", 2)
            utterances.append(
                Utterance(clip_id, row, normalized, Path(root) / "wavs" / f"{clip_id}.wav", voices.get(clip_id, "ljspeech"))
            )
    return utterances


def read_voices(root: Path) -> dict[str, str]:
    """`ID|voice` lines written by the synthesizer; empty for the real corpus."""
    voices_path = Path(root) / VOICES_FILE
    if not voices_path.exists():
        return {}
    return dict(line.split("|", 1) for line in voices_path.read_text(encoding="utf-8").splitlines() if line)


def split_rows(utterances: list[Utterance], split: str) -> list[Utterance]:
    """The homework's split by metadata row index (not by a shuffled subset)."""
    if split not in HOMEWORK_SPLITS:
        raise ValueError(f"Unknown split '{split}'; use one of {', '.join(HOMEWORK_SPLITS)}.")
    start, stop = HOMEWORK_SPLITS[split]
    return [utterance for utterance in utterances if start <= utterance.row < stop]


def load_split(root: Path, split: str, require_audio: bool = True) -> list[Utterance]:
    """Utterances of one split whose wav exists (a partly synthesized corpus gives what is there so far)."""
    chosen = split_rows(read_metadata(root), split)
    if require_audio:
        chosen = [utterance for utterance in chosen if utterance.audio_path.exists()]
    return chosen


def real_clips(root: Path = SHARED_LJSPEECH) -> list[Utterance]:
    """The real LJ Speech recordings on disk (100 clips here, all in train rows: evaluation only)."""
    clips = [utterance for utterance in read_metadata(root) if utterance.audio_path.exists()]
    if not clips:
        raise DataUnavailableError(f"No real LJ Speech wavs under {Path(root) / 'wavs'}.")
    return clips


def download_ljspeech(destination: Path | None = None) -> Path:
    """Fetch and unpack the official archive (2.7 GB) with a checked sha256; returns the LJSpeech-1.1 folder."""
    destination = Path(destination or paths.CACHE)
    folder = destination / "LJSpeech-1.1"
    if (folder / "metadata.csv").exists() and (folder / "wavs").is_dir():
        return folder
    _require_network(ARCHIVE_URL)
    pooch.retrieve(
        ARCHIVE_URL,
        known_hash=f"sha256:{ARCHIVE_SHA256}",
        fname="LJSpeech-1.1.tar.bz2",
        path=destination,
        processor=pooch.Untar(extract_dir="."),
        progressbar=True,
    )
    return folder


def _require_network(url: str, timeout: float = 3.0) -> None:
    """Fail in seconds with a clear message instead of a long pooch retry when offline."""
    host = url.split("/")[2]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as error:
        raise DataUnavailableError(
            f"Cannot reach {host} to download LJ Speech ({error}). Work offline with the synthesized stand-in: "
            "`python -m core data synth-ljspeech OUT`."
        ) from error
