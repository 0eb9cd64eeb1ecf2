"""The ASR homework's 35-token character vocabulary and how transcripts become token ids and back.

Order matters (the homework's indices): 0 `<` start, 1 `>` stop, 2 `@` pad, 3 `#` unknown, then space , . ? -
and a–z. Transcripts are lowercased and cut to 97 characters, so a target is at most 99 tokens with `<` and `>`.
"""
from __future__ import annotations

import re
from typing import Iterable

import torch

from core.metrics import normalize_for_scoring

TOKENS = ["<", ">", "@", "#", " ", ",", ".", "?", "-"] + [chr(code) for code in range(ord("a"), ord("z") + 1)]
START, STOP, PAD, UNKNOWN = 0, 1, 2, 3
INDEX = {token: index for index, token in enumerate(TOKENS)}
MAX_CHARACTERS = 97  # the homework's text_len 99 minus `<` and `>`
assert len(TOKENS) == 35


def encode(text: str, max_characters: int = MAX_CHARACTERS) -> list[int]:
    """`<` + lowercased, truncated text (unknown characters -> `#`) + `>`."""
    return [START] + [INDEX.get(char, UNKNOWN) for char in text.lower()[:max_characters]] + [STOP]


def decode(token_ids: list[int] | torch.Tensor) -> str:
    """Text of the tokens after a leading `<` and before the first `>` (pads dropped)."""
    ids = token_ids.tolist() if torch.is_tensor(token_ids) else list(token_ids)
    if ids and ids[0] == START:
        ids = ids[1:]
    if STOP in ids:
        ids = ids[: ids.index(STOP)]
    return "".join(TOKENS[index] for index in ids if index not in (START, PAD))


def reference_text(text: str, max_characters: int = MAX_CHARACTERS) -> str:
    """What a perfect model would transcribe: the target text as the vocabulary can spell it."""
    return decode(encode(text, max_characters))


def homework_sequence(token_ids: list[int]) -> list[int]:
    """The homework's scored sequence: `<` … first `>`; without a `>`, the last token is overwritten with `>`."""
    ids = list(token_ids)
    if STOP in ids:
        return ids[: ids.index(STOP) + 1]
    return ids[:-1] + [STOP] if ids else [STOP]


def pad_targets(sequences: list[list[int]]) -> torch.Tensor:
    """(batch, max_tokens) long, right-padded with `@`."""
    batch = torch.full((len(sequences), max(map(len, sequences))), PAD, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.tensor(sequence)
    return batch


WRITTEN_CHARACTERS = "".join(token for token in TOKENS if token not in (TOKENS[START], TOKENS[STOP], TOKENS[PAD],
                                                                         TOKENS[UNKNOWN]))  # what a transcript can spell

READABLE_NOTE = ("Shown as written, except `#` (the vocabulary's sign for a character it has no letter for: read as "
                 "an apostrophe between letters, dropped elsewhere) and punctuation before a chunk's first word; the "
                 "scores use the same text, and the heatmaps below show every character the decoder wrote.")


def readable(chunk_texts: Iterable[str]) -> str:
    """A transcript as the Speech lab shows and scores it: each chunk without `#` and leading punctuation, joined."""
    kept = re.escape(WRITTEN_CHARACTERS + "'")
    cleaned = (normalize_for_scoring(text, kept).lstrip(" ,.?-") for text in chunk_texts)
    return " ".join(text for text in cleaned if text)
