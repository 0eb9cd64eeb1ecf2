"""How a typed Spanish sentence becomes an English one: load a shipped translator, normalise, decode.

Pages keep a `LoadedTranslator` in their cache and call `translate` on it; each call returns its own
`Translation` (with the attention weights), so one cached model serves every visitor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from core import checkpoints
from core.decoding import Hypothesis, search
from core.translation import data
from core.translation.model import Translator

PLAIN_MODEL, ATTENTION_MODEL = "mt/spa-eng-noattn", "mt/spa-eng-attn"
DEFAULT_MODEL = ATTENTION_MODEL
# The shipped models and how both front ends name them.
MODEL_LABELS = {PLAIN_MODEL: "without attention", ATTENTION_MODEL: "with attention"}
LENGTH_PENALTY = 1.0  # scores are mean log-probability per output character (stop token included)


def decoding_label(beam_width: int) -> str:
    return "greedy" if beam_width == 1 else f"beam {beam_width}"


@torch.no_grad()
def decode_sources(model: Translator, source_vocab: data.CharVocabulary, sources: list[str], beam_width: int = 1,
                   batch_size: int = 250, device: str = "cpu",
                   progress: Callable[[float], None] | None = None) -> list[Hypothesis]:
    """Translate already-normalised sentences; returns the search hypotheses in input order.

    `progress` (a page's progress bar) hears the fraction done after each batch."""
    model.eval()
    hypotheses = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        ids, lengths = data.pad_batch([source_vocab.encode(sentence) for sentence in chunk])
        decoder = model.step_decoder(ids.to(device), lengths)
        hypotheses += search(
            decoder, len(chunk), data.SOS, data.EOS, model.config.max_output_length, beam_width, LENGTH_PENALTY
        )
        if progress is not None:
            progress(len(hypotheses) / len(sources))
    return hypotheses


@dataclass
class Translation:
    """One sentence through one model: what was fed in, what came out, and where it looked."""

    model: str
    normalised: data.Normalised
    translation: str
    source_characters: list[str]  # the encoder's input (normalised.model_input), one entry per position
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
        (hypothesis,) = decode_sources(self.model, self.source_vocab, [normalised.model_input], beam_width)
        milliseconds = 1000 * (time.perf_counter() - started)
        output_tokens = [self.target_vocab.token_text(token) for token in hypothesis.tokens]
        if hypothesis.finished:
            output_tokens.append(data.SPECIALS[data.EOS])
        return Translation(
            model=self.name,
            normalised=normalised,
            translation=self.target_vocab.decode(hypothesis.tokens),
            source_characters=list(normalised.model_input),
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

