"""Joint CTC-attention decoding: the CTC prefix score mixed into every step of a `core.decoding` search.

The prefix scorer is the hand-written forward recursion of Watanabe et al. (2017, Algorithm 2), compiled with numba:
it visits every encoder frame for every candidate character at every output step, a loop that costs ~10x more as
torch operations. The compiled loop is cached on disk and loaded when this module is imported, so no caller waits
for the compiler (`python -m core bench asr` times it against the torch loop it replaced).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch

from core.decoding import StepDecoder, select_rows

# prefix_recursion's argument types: C-contiguous float32 arrays, int64 last characters and blank id; returns nothing.
RECURSION_SIGNATURE = ("void(float32[:, :, ::1], float32[:, ::1], float32[:, ::1], int64[::1], int64, "
                       "float32[:, :, ::1], float32[:, :, ::1], float32[:, ::1])")


def _compiled(signature: str):
    """numba.njit with an explicit signature (compiled, or read from the on-disk cache, at import) and a disk cache;
    without a writable cache folder (read-only install, no NUMBA_CACHE_DIR) it compiles in memory instead."""
    def compile_function(function):
        try:
            return numba.njit(signature, cache=True)(function)
        except RuntimeError:  # numba found no folder to cache in
            return numba.njit(signature)(function)
    return compile_function


@_compiled("float32(float32, float32)")
def _logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow; -inf is the log of zero."""
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@_compiled(RECURSION_SIGNATURE)
def prefix_recursion(emissions, ending_label, ending_blank, last, blank_id, label, blank, prefix_scores):
    """For every row (a prefix g) and character c, the forward variables of g + c at every frame, ending in c (`label`)
    or in blank (`blank`), and its prefix score: the probability of entering c at any frame (`prefix_scores`).

    emissions (rows, frames, vocab) CTC log-probabilities; ending_label / ending_blank (rows, frames) g's own forward
    variables; last (rows,) g's last character, -1 for the empty prefix. Frames before g could have ended hold
    -inf for g + c and are skipped: the result is the same, sooner for long prefixes.
    """
    rows, steps, vocab = emissions.shape
    for row in range(rows):
        empty_prefix = last[row] < 0
        start = 1
        if not empty_prefix:
            while start <= steps and ending_label[row, start - 1] == -np.inf and ending_blank[row, start - 1] == -np.inf:
                start += 1
        for c in range(vocab):
            for frame in range(min(start, steps)):
                label[row, frame, c] = -np.inf
                blank[row, frame, c] = -np.inf
            label[row, 0, c] = emissions[row, 0, c] if empty_prefix else -np.inf
            prefix_scores[row, c] = label[row, 0, c]
        for frame in range(start, steps):
            # phi: paths that may enter a new character now; repeating g's last one needs a blank between.
            either = _logaddexp(ending_label[row, frame - 1], ending_blank[row, frame - 1])
            for c in range(vocab):
                entering = (ending_blank[row, frame - 1] if c == last[row] else either) + emissions[row, frame, c]
                label[row, frame, c] = _logaddexp(label[row, frame - 1, c] + emissions[row, frame, c], entering)
                blank[row, frame, c] = (_logaddexp(blank[row, frame - 1, c], label[row, frame - 1, c])
                                        + emissions[row, frame, blank_id])
                prefix_scores[row, c] = _logaddexp(prefix_scores[row, c], entering)


def _host(tensor: torch.Tensor) -> np.ndarray:
    """A C-contiguous CPU numpy view (or copy) of a tensor, as the compiled loop takes it."""
    return tensor.detach().cpu().contiguous().numpy()


class JointCTCStepDecoder:
    """Joint CTC-attention decoding (Watanabe et al. 2017, eq. 9 and Algorithm 2): each step's score of character c
    after prefix g is (1 - w) log p_att(c | g) + w (log p_ctc(g c …) - log p_ctc(g …)), where p_ctc(h …) is the
    CTC probability of every transcript that starts with h, summed over all alignments (the prefix score).

    The CTC term cannot be fooled by an attention decoder that loops or stops early: a prefix whose characters
    the audio does not hold gets a vanishing prefix score, and the stop token scores the probability that the
    whole clip is exactly the prefix. The forward variables of every candidate extension are computed in one
    pass over the frames (rows x vocabulary at once) and carried in the state, so beam search reorders them
    with the rest of the state (the CTC emissions too, as the memory is, so one reorder widens a batch into beams).
    """

    def __init__(self, decoder: StepDecoder, ctc_log_probs: torch.Tensor, frames: torch.Tensor, weight: float,
                 blank: int, sos: int, eos: int):
        """ctc_log_probs (rows, frames, vocab) over the encoder output, frames (rows,) its true lengths; `blank` is the
        CTC blank, `sos` and `eos` the decoder's start and stop tokens (the blank and `sos` are never emitted)."""
        self.decoder, self.weight = decoder, weight
        self.blank_id, self.sos_id, self.stop_id = blank, sos, eos
        rows, steps, vocab = ctc_log_probs.shape
        past_end = torch.arange(steps, device=frames.device)[None, :] >= frames[:, None]  # (rows, steps)
        # Frames past a clip's end emit blank with certainty, so every forward variable carries its mass to the end.
        self.emissions = ctc_log_probs.float().masked_fill(past_end[:, :, None], float("-inf"))
        self.emissions[:, :, self.blank_id] = self.emissions[:, :, self.blank_id].masked_fill(past_end, 0.0)
        self.not_scored = torch.tensor([self.sos_id, self.blank_id], device=ctc_log_probs.device)  # never emitted

    def start(self) -> dict:
        rows = self.emissions.shape[0]
        blank = self.emissions[:, :, self.blank_id]
        return {"attention": self.decoder.start(), "emissions": self.emissions,
                # The empty prefix: ended in a non-blank never, in blank after every frame so far.
                "ending_label": torch.full_like(blank, float("-inf")), "ending_blank": blank.cumsum(dim=1),
                "score": torch.zeros(rows, device=blank.device),
                "last": torch.full((rows,), -1, dtype=torch.long, device=blank.device), "candidates": None}

    def step(self, previous_tokens: torch.Tensor, state: dict):
        if state["candidates"] is not None:  # the prefix grew by previous_tokens: take that candidate's variables
            label, blank, score = state["candidates"]
            pick = previous_tokens[:, None, None].expand(-1, label.shape[1], 1)
            state = state | {"ending_label": label.gather(2, pick)[:, :, 0], "ending_blank": blank.gather(2, pick)[:, :, 0],
                             "score": score.gather(1, previous_tokens[:, None])[:, 0], "last": previous_tokens}
        attention_log_probs, attention_state, weights = self.decoder.step(previous_tokens, state["attention"])
        label, blank, prefix_scores = self._extend(state)
        ctc_gain = prefix_scores - state["score"][:, None]
        ctc_gain = ctc_gain.masked_fill(ctc_gain.isnan(), float("-inf"))  # -inf - -inf: an impossible prefix stays so
        ctc_gain[:, self.not_scored] = float("-inf")
        joint = (1 - self.weight) * attention_log_probs + self.weight * ctc_gain
        return joint, state | {"attention": attention_state, "candidates": (label, blank, prefix_scores)}, weights

    def _extend(self, state: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward variables (rows, frames, vocab) of the prefix extended by every character, and their prefix scores."""
        ending_label, ending_blank = state["ending_label"], state["ending_blank"]
        label, blank, prefix_scores = self._recursion(state["emissions"], ending_label, ending_blank, state["last"])
        # Stopping now: the whole clip is exactly the prefix.
        prefix_scores[:, self.stop_id] = torch.logaddexp(ending_label[:, -1], ending_blank[:, -1])
        return label, blank, prefix_scores

    def _recursion(self, emissions: torch.Tensor, ending_label: torch.Tensor, ending_blank: torch.Tensor,
                   last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`prefix_recursion` on CPU numpy views of the state; results back as tensors on the state's device."""
        rows, steps, vocab = emissions.shape
        label, blank = np.empty((rows, steps, vocab), np.float32), np.empty((rows, steps, vocab), np.float32)
        prefix_scores = np.empty((rows, vocab), np.float32)
        prefix_recursion(_host(emissions), _host(ending_label), _host(ending_blank), _host(last), self.blank_id,
                         label, blank, prefix_scores)
        return tuple(torch.from_numpy(array).to(emissions.device) for array in (label, blank, prefix_scores))

    def reorder(self, state: dict, indices: torch.Tensor) -> dict:
        return select_rows(state, indices)
