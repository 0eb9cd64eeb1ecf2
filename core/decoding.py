"""Greedy and beam search over any step-by-step decoder, shared by the translation and speech labs.

A model takes part by handing out a `StepDecoder` bound to one batch of encoded inputs (source sentences,
audio clips). The searches below only ever call its three methods, so they know nothing about LSTMs,
transformers or what the tokens mean:

    decoder = model.step_decoder(inputs)                 # encodes once
    state = decoder.start()                              # one state for the whole batch
    log_probs, state, attention = decoder.step(previous_tokens, state)
    state = decoder.reorder(state, indices)              # pick / copy rows of the batch

Both searches are batched (every sentence advances one token per step) and rank hypotheses by a
length-normalised score, sum(log p) / length ** length_penalty, where length counts the stop token:
without it, summed log-probabilities favour stopping early. `core.ctc.JointCTCStepDecoder` wraps a StepDecoder whose
encoder also has a CTC head, and mixes the CTC prefix score into every step (`DecodingOptions.ctc_weight`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class DecodingOptions:
    """How a model's output is searched; a model card's `decoding` section stores the ones chosen after training.

    The network holds none of these: the same weights decode greedily or with a beam, with or without CTC.
    """

    beam_width: int = 1  # 1: greedy search
    length_penalty: float = 1.0  # see `normalised_score`
    ctc_weight: float = 0.0  # joint CTC-attention decoding: weight of the CTC prefix score (needs a CTC head)
    max_chunk_seconds: float = 8.0  # speech: longer recordings are cut at pauses into chunks of at most this


class StepDecoder(Protocol):
    """What a model exposes to be decoded; `state` is whatever the model needs (hidden states, caches, memory)."""

    def start(self) -> Any:
        """The state before the first output token, for every row of the batch the decoder was built for."""

    def step(self, previous_tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """Advance one token.

        previous_tokens: (rows,) the token chosen at the last step (SOS at the first).
        Returns (log_probs (rows, vocab), new state, attention weights (rows, source positions) or None).
        """

    def reorder(self, state: Any, indices: torch.Tensor) -> Any:
        """Row i of the new state is row indices[i] of `state`; beam search uses it to copy and select beams.

        The state must include any per-row encoder memory (and its padding mask), so that reordering the
        state alone is enough to widen a batch of B sentences into B * beam_width rows.
        """


@dataclass
class Hypothesis:
    """One decoded sequence: tokens without SOS/EOS, its length-normalised score, and what it attended to."""

    tokens: list[int]
    score: float  # sum(log p) / length ** length_penalty, length counting the stop token when one was emitted
    log_prob: float  # sum(log p), unnormalised
    finished: bool  # False when max_length cut it off before the stop token
    attention: torch.Tensor | None  # (output steps incl. the stop token, source positions), or None


def normalised_score(log_prob: float, length: int, length_penalty: float) -> float:
    """Length normalisation: 0 keeps summed log-probs, 1 averages them per token."""
    return log_prob / max(length, 1) ** length_penalty


@torch.no_grad()
def greedy_search(
    decoder: StepDecoder, batch_size: int, sos: int, eos: int, max_length: int, length_penalty: float = 1.0
) -> list[Hypothesis]:
    """Take the most likely token at every step until each row emits `eos` or reaches `max_length` tokens."""
    state = decoder.start()
    device = _device_of(state)
    previous = torch.full((batch_size,), sos, dtype=torch.long)
    chosen, step_attention = [], []
    total_log_prob = torch.zeros(batch_size)
    lengths = torch.zeros(batch_size, dtype=torch.long)
    finished = torch.zeros(batch_size, dtype=torch.bool)
    for _ in range(max_length):
        log_probs, state, attention = decoder.step(previous.to(device), state)  # (batch, vocab)
        log_probs = log_probs.float().cpu()
        best_log_prob, previous = log_probs.max(dim=-1)  # (batch,)
        active = ~finished
        total_log_prob += torch.where(active, best_log_prob, torch.zeros_like(best_log_prob))
        lengths += active.long()
        chosen.append(previous)
        step_attention.append(attention.float().cpu() if attention is not None else None)
        finished |= previous == eos
        if bool(finished.all()):
            break
    tokens = torch.stack(chosen, dim=1)  # (batch, steps)
    results = []
    for row in range(batch_size):
        length = int(lengths[row])
        sequence = tokens[row, :length].tolist()
        is_finished = bool(finished[row])
        attention = None
        if step_attention[0] is not None:
            attention = torch.stack([weights[row] for weights in step_attention[:length]])
        results.append(
            Hypothesis(
                tokens=sequence[:-1] if is_finished else sequence,
                score=normalised_score(float(total_log_prob[row]), length, length_penalty),
                log_prob=float(total_log_prob[row]),
                finished=is_finished,
                attention=attention,
            )
        )
    return results


@torch.no_grad()
def beam_search(decoder: StepDecoder, batch_size: int, sos: int, eos: int, beam_width: int, max_length: int,
                length_penalty: float = 1.0) -> list[Hypothesis]:
    """Keep the `beam_width` best partial sequences per row; return each row's best finished hypothesis.

    Every step scores all beam x vocabulary extensions and looks at the best 2 x beam_width: those that end
    with `eos` (and rank within the best beam_width) are set aside as finished, the best beam_width that do
    not end become the next beams. A row stops when it has beam_width finished hypotheses; at `max_length`
    its open beams count as (unfinished) candidates too. With beam_width 1 this is exactly greedy search.
    """
    if beam_width < 1:
        raise ValueError("beam_width must be at least 1.")
    rows = batch_size * beam_width
    state = decoder.start()
    device = _device_of(state)
    state = decoder.reorder(state, torch.arange(batch_size, device=device).repeat_interleave(beam_width))
    previous = torch.full((rows,), sos, dtype=torch.long)
    # Only the first beam of each row is live at the start, so the k copies do not fill the beam with duplicates.
    beam_log_probs = torch.full((batch_size, beam_width), float("-inf"))
    beam_log_probs[:, 0] = 0.0
    history = torch.zeros(rows, 0, dtype=torch.long)  # tokens so far, per beam
    attention_history: torch.Tensor | None = None  # (rows, steps, source positions)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]
    done = [False] * batch_size

    for step in range(max_length):
        log_probs, state, attention = decoder.step(previous.to(device), state)
        log_probs, vocab = log_probs.float().cpu(), log_probs.shape[-1]
        if attention is not None:
            step_attention = attention.float().cpu()[:, None]
            attention_history = step_attention if attention_history is None else torch.cat([attention_history, step_attention], 1)
        candidates = (beam_log_probs[:, :, None] + log_probs.view(batch_size, beam_width, vocab)).view(batch_size, -1)
        top_log_probs, top_indices = candidates.topk(min(2 * beam_width, candidates.shape[1]), dim=1)  # (batch, 2k)
        top_beams, top_tokens = top_indices // vocab, top_indices % vocab
        next_beams = []  # (source row, token, log-prob) of every row's beams for the next step
        for row in range(batch_size):
            extensions = _row_extensions(row, beam_width, eos, top_log_probs[row], top_beams[row], top_tokens[row])
            for source_row, token, log_prob, ended in extensions:
                if not ended:
                    next_beams.append((source_row, token, log_prob))
                elif not done[row]:
                    finished[row].append(_hypothesis(history, attention_history, source_row, log_prob, step + 1,
                                                     length_penalty, is_finished=True))
            done[row] = done[row] or len(finished[row]) >= beam_width
        if all(done):
            break
        next_rows, next_tokens, next_log_probs = zip(*next_beams)
        indices, previous = torch.tensor(next_rows), torch.tensor(next_tokens)
        beam_log_probs = torch.tensor(next_log_probs).view(batch_size, beam_width)
        history = torch.cat([history[indices], previous[:, None]], dim=1)
        attention_history = attention_history[indices] if attention_history is not None else None
        state = decoder.reorder(state, indices.to(device))

    results = []
    for row in range(batch_size):
        open_beams = [] if done[row] else [  # ran out of steps: open beams compete too
            _hypothesis(history, attention_history, row * beam_width + beam, float(beam_log_probs[row, beam]),
                        history.shape[1], length_penalty, is_finished=False)
            for beam in range(beam_width) if float(beam_log_probs[row, beam]) > float("-inf")]
        results.append(max(finished[row] + open_beams, key=lambda hypothesis: hypothesis.score))
    return results


def _hypothesis(history: torch.Tensor, attention_history: torch.Tensor | None, source_row: int, log_prob: float,
                length: int, length_penalty: float, is_finished: bool) -> Hypothesis:
    """Beam `source_row` of the search so far (tokens (rows, steps), attention (rows, steps, source positions))."""
    weights = attention_history[source_row] if attention_history is not None else None
    return Hypothesis(history[source_row].tolist(), normalised_score(log_prob, length, length_penalty), log_prob,
                      is_finished, weights)


def _row_extensions(row: int, beam_width: int, eos: int, top_log_probs: torch.Tensor, top_beams: torch.Tensor,
                    top_tokens: torch.Tensor) -> list[tuple[int, int, float, bool]]:
    """One row's pick from its best 2 x beam_width extensions, best first: (source row, token, log-prob, ended).

    Extensions ending in `eos` within the best beam_width come back with ended=True (finished hypotheses); the
    first beam_width live ones become the next beams, padded with dead beams when a tiny vocabulary leaves fewer.
    """
    picked, kept = [], 0
    for rank in range(top_tokens.shape[0]):
        log_prob = float(top_log_probs[rank])
        token, source_row = int(top_tokens[rank]), row * beam_width + int(top_beams[rank])
        if token == eos or log_prob == float("-inf"):
            if token == eos and rank < beam_width and log_prob > float("-inf"):
                picked.append((source_row, token, log_prob, True))
        elif kept < beam_width:
            picked.append((source_row, token, log_prob, False))
            kept += 1
    picked += [(row * beam_width, eos, float("-inf"), False)] * (beam_width - kept)
    return picked


def search(
    decoder: StepDecoder,
    batch_size: int,
    sos: int,
    eos: int,
    max_length: int,
    beam_width: int = 1,
    length_penalty: float = 1.0,
) -> list[Hypothesis]:
    """Greedy search for beam_width 1, beam search otherwise."""
    if beam_width <= 1:
        return greedy_search(decoder, batch_size, sos, eos, max_length, length_penalty)
    return beam_search(decoder, batch_size, sos, eos, beam_width, max_length, length_penalty)


def _device_of(state) -> torch.device:
    """The device the decoder works on, found from the first tensor in its state."""
    stack = [state]
    while stack:
        item = stack.pop()
        if torch.is_tensor(item):
            return item.device
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return torch.device("cpu")


def select_rows(state, indices: torch.Tensor):
    """Copy of a nested state with row `indices` of every tensor (batch is dim 0 everywhere in the state)."""
    if torch.is_tensor(state):
        return state.index_select(0, indices)
    if isinstance(state, dict):
        return {key: select_rows(value, indices) for key, value in state.items()}
    if isinstance(state, tuple):
        return tuple(select_rows(value, indices) for value in state)
    return state
