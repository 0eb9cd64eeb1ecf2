"""The Speech lab's example clips in assets/speech/: a few real LJ Speech recordings and a few synthesized ones.

    python -m core data speech-examples            # rebuilds assets/speech/ (16 kHz mono FLAC + examples.json)

Real clips are copied from the shared LJ Speech folder (public domain; all in the homework's train rows, but the
recognizers only ever trained on synthetic speech, so these are real voices they never heard). Synthesized clips
speak test-split transcripts with the voice and prosody the synthetic corpus gives that clip (core.speech.corpus.synth),
so each is exactly a test clip of the corpus; one uses the voice held out of training.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile

from core import paths
from core.errors import DataUnavailableError
from core.speech.corpus.ljspeech import SHARED_LJSPEECH, read_metadata, split_rows
from core.speech.corpus.synth import VOICES, VOICES_BY_NAME, assign_voice, synthesize
from core.speech.features import FEATURES, load_audio

EXAMPLES_DIR = paths.ASSETS / "speech"
INDEX_FILE = "examples.json"
REAL_CLIPS = ["LJ001-0004", "LJ001-0039", "LJ001-0090", "LJ001-0083", "LJ001-0001"]  # LJ001-0001: 9.7 s, two chunks
SYNTH_VOICES = ["espeak-en-us", "espeak-en-gb-f2", "espeak-en-scotland-f4", "flite-awb"]  # flite-awb: held out
SYNTH_TEXT_LENGTH = (40, 90)  # characters: a few seconds of speech, under the models' 97-character limit


@dataclass
class SpeechExample:
    id: str
    file: str  # relative to assets/speech/
    text: str  # LJ Speech's normalized transcript: the reference
    kind: str  # "real" or "synthesized"
    voice: str
    split: str  # the homework split its transcript belongs to
    seconds: float
    note: str

    @property
    def label(self) -> str:
        return f"{self.id} · {'real recording' if self.kind == 'real' else 'synthesized, ' + self.voice} · {self.seconds:.1f} s"


def load_examples(folder: Path = EXAMPLES_DIR) -> list[SpeechExample]:
    """The examples listed in `folder`/examples.json; empty when the folder has not been built."""
    index = Path(folder) / INDEX_FILE
    if not index.exists():
        return []
    return [SpeechExample(**entry) for entry in json.loads(index.read_text(encoding="utf-8"))]


def example_path(example: SpeechExample, folder: Path = EXAMPLES_DIR) -> Path:
    return Path(folder) / example.file


def build_examples(folder: Path = EXAMPLES_DIR, source: Path = SHARED_LJSPEECH) -> list[SpeechExample]:
    """Write every example as 16 kHz mono 16-bit FLAC (small, and what the models hear) plus the index."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    utterances = {utterance.id: utterance for utterance in read_metadata(source)}
    examples = []
    for clip_id in REAL_CLIPS:
        utterance = utterances[clip_id]
        if not utterance.audio_path.exists():
            raise DataUnavailableError(f"The real LJ Speech clip {utterance.audio_path} is missing.")
        seconds = _write_flac(utterance.audio_path, folder / f"{clip_id}.flac")
        examples.append(SpeechExample(clip_id, f"{clip_id}.flac", utterance.text, "real", "Linda Johnson (LJ Speech)",
                                      "train", seconds, "A real recording of the LJ Speech reader, one of the 100 clips kept for evaluation: no model heard it in training."))
    test_rows = split_rows(list(utterances.values()), "test")
    for voice_name in SYNTH_VOICES:
        low, high = SYNTH_TEXT_LENGTH
        utterance = next(u for u in test_rows if low <= len(u.text) <= high and assign_voice(u, VOICES).name == voice_name)
        voice = VOICES_BY_NAME[voice_name]
        with tempfile.TemporaryDirectory(prefix="glassbox-example-") as work:
            wav = Path(work) / f"{utterance.id}.wav"
            synthesize(utterance.text, voice, wav, utterance.id)
            seconds = _write_flac(wav, folder / f"{utterance.id}-{voice_name}.flac")
        note = "A test-split clip of the synthetic corpus" + (
            ", in the voice held out of training." if voice.held_out else ", in a voice the models trained on (other texts)."
        )
        examples.append(SpeechExample(utterance.id, f"{utterance.id}-{voice_name}.flac", utterance.text, "synthesized",
                                      voice_name, "test", seconds, note))
    (folder / INDEX_FILE).write_text(json.dumps([asdict(example) for example in examples], indent=1) + "\n", encoding="utf-8")
    return examples


def _write_flac(source: Path, target: Path) -> float:
    audio = load_audio(source)  # 16 kHz mono float32, as the models hear it
    soundfile.write(str(target), audio, FEATURES.sample_rate, subtype="PCM_16", format="FLAC")
    return round(len(audio) / FEATURES.sample_rate, 2)
