"""The IST 2022-23 character-level Spanish->English pairs, their character vocabularies, input normalisation and
the few test pairs the front ends offer as examples.

The course files are already lowercased and accent-stripped with a space before `. ! ?`, and they only use
the letters a-z, space and `. ! ?`. Text a person types is brought to the same form by `normalise`, which
also says what it changed. The data wrote the opening "¿" of a question as a leading space, which the models learned
to read as "a question follows": a person sees "donde esta ?", the encoder reads " donde esta ?".
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from core import paths
from core.errors import BadInputError, DataUnavailableError
from core.figures import SPACE_SYMBOL, shown_label

DATASET_NAME = "ist-char-mt-spa-eng"
SPLITS = ("train", "val", "test")
EXAMPLES_FILE = paths.ASSETS / "translation" / "examples.json"
PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]
# Punctuation the course's normalizeString turned into a space: apostrophes ("isn't" -> "isn t") and the
# Spanish opening marks, which is why 1,731 training sentences start with a space ("¿que?" -> " que ?").
# Anything else unseen (digits, symbols) stays and becomes UNK.
REPLACED_BY_SPACE = set("¿¡'’‘\"“”,;:-–—()")
OPENING_MARKS = set("¿¡")


def data_dir() -> Path:
    return paths.SHARED_DATA / DATASET_NAME


@dataclass(frozen=True)
class Pair:
    spanish: str  # source
    english: str  # target


def load_pairs(split: str, root: Path | None = None) -> list[Pair]:
    """Read `<split>-eng-spa.txt` (english TAB spanish TAB 42); Spanish is the source, as in the homework."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split '{split}'; use one of {SPLITS}.")
    path = Path(root or data_dir()) / f"{split}-eng-spa.txt"
    if not path.exists():
        raise DataUnavailableError(
            f"The translation pairs are missing ({path}). They ship in shared/data/{DATASET_NAME}; "
            "set GLASSBOX_DATA to the folder that holds it."
        )
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            english, spanish = line.split("\t")[:2]
            pairs.append(Pair(spanish=spanish, english=english))
    return pairs


def example_pairs(count: int = 8) -> list[Pair]:
    """A few held-out test pairs for pages to offer: shipped in assets/ so the app needs no data folder."""
    if EXAMPLES_FILE.exists():
        shipped = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))["examples"]
        if len(shipped) >= count:
            return [Pair(**pair) for pair in shipped[:count]]
    return _spread_test_pairs(count)


def export_examples(count: int = 8) -> list[Pair]:
    """Write `count` test pairs, spread over the split, to assets/translation/examples.json."""
    chosen = _spread_test_pairs(count)
    EXAMPLES_FILE.parent.mkdir(parents=True, exist_ok=True)
    shipped = {"source": "IST char-MT test split, every n-th pair", "examples": [asdict(pair) for pair in chosen]}
    EXAMPLES_FILE.write_text(json.dumps(shipped, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return chosen


def _spread_test_pairs(count: int) -> list[Pair]:
    pairs = load_pairs("test")
    return pairs[:: max(len(pairs) // count, 1)][:count]


@dataclass
class CharVocabulary:
    """Characters <-> ids; ids 0-3 are PAD, SOS, EOS and UNK, the rest the training characters in sorted order."""

    characters: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        self.index = {character: position for position, character in enumerate(self.tokens)}

    @classmethod
    def from_texts(cls, texts) -> "CharVocabulary":
        return cls(sorted(set("".join(texts))))

    @property
    def tokens(self) -> list[str]:
        return SPECIALS + self.characters

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.characters)

    def __contains__(self, character: str) -> bool:
        return character in self.index and self.index[character] >= len(SPECIALS)

    def encode(self, text: str, add_sos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self.index.get(character, UNK) for character in text]
        return ([SOS] if add_sos else []) + ids + ([EOS] if add_eos else [])

    def decode(self, ids) -> str:
        """Ids back to text; stops at EOS and skips PAD/SOS, so a search result can be passed as is."""
        characters = []
        for token in ids:
            token = int(token)
            if token == EOS:
                break
            if token in (PAD, SOS):
                continue
            characters.append(self.tokens[token] if token < len(self) else SPECIALS[UNK])
        return "".join(characters)

    def token_text(self, token: int) -> str:
        """How one output token is shown (the stop token as <eos>)."""
        return self.tokens[token] if 0 <= token < len(self) else SPECIALS[UNK]


def build_vocabularies(train_pairs: list[Pair]) -> tuple[CharVocabulary, CharVocabulary]:
    """(source, target) vocabularies from the training split only, as the homework does."""
    return (
        CharVocabulary.from_texts(pair.spanish for pair in train_pairs),
        CharVocabulary.from_texts(pair.english for pair in train_pairs),
    )


@dataclass
class Normalised:
    """What `normalise` made of a text and why, for the page and the CLI to report."""

    original: str
    text: str  # as a person reads it: no leading, trailing or doubled space
    model_input: str  # what the encoder reads: `text`, with the data's leading space where '¿' or '¡' stood
    changes: list[str]  # e.g. "'Á' -> 'a' (lowercased, accent removed)"
    unknown: list[str]  # characters still outside the vocabulary; they are fed to the model as UNK

    def changes_note(self) -> str | None:
        """What normalising changed, in words (None: the text was already in the data's form)."""
        if not self.changes:
            return None
        return f"Normalised to `{self.text}`, as the training data was: " + "; ".join(self.changes) + "."

    def unknown_note(self) -> str | None:
        """A warning naming the characters the models never saw (None: they saw every one)."""
        if not self.unknown:
            return None
        return ("The models never saw these characters in training: "
                + ", ".join(f"'{shown_label(character)}'" for character in self.unknown)
                + ". Each is fed to the encoder as the unknown token <unk>, so expect a poor translation.")


def normalise(text: str, vocabulary: CharVocabulary | None = None, max_characters: int | None = None) -> Normalised:
    """Lowercase, strip accents and space out `. ! ?` as the course data was prepared; report every change.

    The data's one leading space stands for the opening '¿' or '¡' (1,730 of its 1,739 questions and exclamations
    begin with one): the text shown has none, and the encoder's input gets it back for a question or exclamation,
    typed with '¿' or not, so "donde esta ?" and "¿Dónde está?" both read " donde esta ?" (stripping it made the
    test questions translate worse: error rate 0.303 -> 0.347). No other leading, trailing or doubled space is kept.
    Raises BadInputError for empty input (nothing to translate) or input longer than `max_characters`.
    """
    typed, text = text, text.strip()
    changes: dict[str, str] = {}
    characters = [_normalised_character(character, changes) for character in text]
    spaced = re.sub(r"\s*([.!?])", r" \1", "".join(characters))
    if spaced != "".join(characters):
        changes.setdefault(" ", "space added before . ! ? (the data writes 'hola .')")
    normalised = re.sub(r"\s+", " ", spaced).strip()
    if not normalised:
        raise BadInputError("There is nothing to translate: type a Spanish sentence.")
    model_input = normalised
    if text[0] in OPENING_MARKS or (not OPENING_MARKS & set(text) and normalised[-1] in "?!"):
        model_input = " " + normalised
        changes["start"] = (f"the models read it with a leading {SPACE_SYMBOL} where '¿' or '¡' stands, as their "
                            "training data wrote questions (' que ?')")
    if max_characters is not None and len(model_input) > max_characters:
        raise BadInputError(
            f"The sentence has {len(model_input)} characters after normalisation, more than the {max_characters} "
            "these models can read; they were trained on sentences under 20 characters. Shorten it, or translate "
            "one short sentence at a time."
        )
    unknown = sorted({character for character in normalised if vocabulary is not None and character not in vocabulary})
    return Normalised(original=typed, text=normalised, model_input=model_input, changes=list(changes.values()),
                      unknown=unknown)


def _normalised_character(character: str, changes: dict[str, str]) -> str:
    """One typed character as the course data writes it; what changed goes into `changes`."""
    if character in REPLACED_BY_SPACE:
        changes[character] = f"'{character}' -> space (as the course data was prepared)"
        return " "
    lowered = character.lower()
    stripped = "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")
    if stripped != character:
        why = ", ".join(reason for reason, applies in (("lowercased", lowered != character),
                                                       ("accent removed", stripped != lowered)) if applies)
        changes[character] = f"'{character}' -> '{stripped}' ({why})"
    return stripped


def pad_batch(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists with PAD: (batch, longest) ids and (batch,) lengths."""
    lengths = torch.tensor([len(sequence) for sequence in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), PAD, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded, lengths


@dataclass
class TranslationBatch:
    source: torch.Tensor  # (batch, source length) Spanish ids, PAD-padded
    source_lengths: torch.Tensor  # (batch,)
    target: torch.Tensor  # (batch, target length) SOS + English ids + EOS, PAD-padded
    references: list[str]


def make_batches(
    pairs: list[Pair], source_vocab: CharVocabulary, target_vocab: CharVocabulary, batch_size: int,
    generator: torch.Generator | None = None,
) -> list[TranslationBatch]:
    """Cut pairs into batches, shuffled when a generator is given (training) and in order otherwise."""
    order = torch.randperm(len(pairs), generator=generator).tolist() if generator is not None else range(len(pairs))
    ordered = [pairs[position] for position in order]
    batches = []
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        source, source_lengths = pad_batch([source_vocab.encode(pair.spanish) for pair in chunk])
        target, _ = pad_batch([target_vocab.encode(pair.english, add_sos=True, add_eos=True) for pair in chunk])
        batches.append(TranslationBatch(source, source_lengths, target, [pair.english for pair in chunk]))
    return batches
