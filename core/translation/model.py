"""Character-level Spanish->English seq2seq of the IST 2022-23 homework: BiLSTM encoder, LSTM decoder, bilinear attention.

    source chars -> embedding -> dropout -> BiLSTM (64 per direction) -> dropout -> encoder states h_i (128)
                                              final (h, c) of both directions, concatenated -> decoder's initial state
    previous char -> embedding -> dropout -> LSTM step -> q -> [bilinear attention over h_i] -> dropout -> generator

The encoder keeps the course skeleton's split, hidden_size // 2 per direction: the two directions concatenate
to exactly the decoder's size, so encoder states and final states feed the decoder and the attention with no
extra projection layer (128 per direction would need one to get back to 128, i.e. parameters the homework
does not have). As in the skeleton the generator shares its weights with the target embedding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from core.translation.data import PAD


@dataclass
class TranslatorConfig:
    source_vocab_size: int
    target_vocab_size: int
    hidden_size: int = 128  # decoder size = embedding size = both encoder directions together
    dropout: float = 0.3
    attention: bool = True
    max_output_length: int = 50  # decoding stops here even without a stop token (targets are < 20 chars + EOS)
    # None: hidden_size // 2 per direction (the skeleton's split). A larger size is reduced back to hidden_size
    # by one linear `bridge` shared by the encoder states and the final (h, c), e.g. 128 per direction reduced to 128.
    encoder_per_direction: int | None = None


class BilinearAttention(nn.Module):
    """s_i = (W_q^T q)^T h_i, p = softmax(s) over real source positions, c = sum p_i h_i, a = tanh(W_o^T [q; c]).

    Returns the attended output *and* the weights p, so pages can draw what each output character looked at.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear_in = nn.Linear(hidden_size, hidden_size, bias=False)  # W_q
        self.linear_out = nn.Linear(2 * hidden_size, hidden_size)  # W_o

    def forward(self, queries, encoder_states, source_mask):
        # queries: (batch, steps, hidden); encoder_states: (batch, source, hidden); source_mask: (batch, source), True = real
        projected = self.linear_in(queries)  # z = W_q^T q, (batch, steps, hidden)
        scores = projected @ encoder_states.transpose(1, 2)  # (batch, steps, source)
        scores = scores.masked_fill(~source_mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)  # (batch, steps, source)
        context = weights @ encoder_states  # (batch, steps, hidden)
        attended = torch.tanh(self.linear_out(torch.cat([queries, context], dim=-1)))  # (batch, steps, hidden)
        return attended, weights


class Translator(nn.Module):
    config_class = TranslatorConfig

    def __init__(self, config: TranslatorConfig):
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.source_embedding = nn.Embedding(config.source_vocab_size, hidden, padding_idx=PAD)
        per_direction = config.encoder_per_direction or hidden // 2
        self.encoder = nn.LSTM(hidden, per_direction, bidirectional=True, batch_first=True)
        self.bridge = nn.Linear(2 * per_direction, hidden) if 2 * per_direction != hidden else None
        self.target_embedding = nn.Embedding(config.target_vocab_size, hidden, padding_idx=PAD)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.attention = BilinearAttention(hidden) if config.attention else None
        self.dropout = nn.Dropout(config.dropout)
        self.generator_bias = nn.Parameter(torch.zeros(config.target_vocab_size))

    def encode(self, source, source_lengths):
        """(batch, source) ids -> encoder states (batch, source, hidden), mask (batch, source), initial decoder (h, c)."""
        embedded = self.dropout(self.source_embedding(source))  # (batch, source, hidden)
        packed = pack_padded_sequence(embedded, source_lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, (final_h, final_c) = self.encoder(packed)
        states, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        # (2 directions, batch, per direction) -> (1 layer, batch, 2 * per direction), forward half first as in `states`
        initial = tuple(torch.cat([final[0], final[1]], dim=-1)[None] for final in (final_h, final_c))
        if self.bridge is not None:  # (…, 2 * per direction) -> (…, hidden)
            states, initial = self.bridge(states), tuple(self.bridge(part) for part in initial)
        states = self.dropout(states)  # (batch, source, hidden): forward and backward halves side by side
        return states, source != PAD, initial

    def decode(self, previous_tokens, decoder_state, encoder_states, source_mask):
        """Run the decoder over (batch, steps) previous tokens; returns logits, new state and attention weights.

        With no input feeding, steps do not depend on earlier attention outputs, so teacher-forced training
        runs all steps at once and search runs one step at a time through the same code.
        """
        embedded = self.dropout(self.target_embedding(previous_tokens))  # (batch, steps, hidden)
        queries, decoder_state = self.decoder(embedded, decoder_state)  # (batch, steps, hidden)
        weights = None
        if self.attention is not None:
            queries, weights = self.attention(queries, encoder_states, source_mask)
        logits = F.linear(self.dropout(queries), self.target_embedding.weight, self.generator_bias)  # (batch, steps, vocab)
        return logits, decoder_state, weights

    def forward(self, source, source_lengths, target_inputs):
        """Teacher forcing: logits (batch, steps, vocab) for each next character after `target_inputs` (SOS + chars)."""
        encoder_states, source_mask, initial = self.encode(source, source_lengths)
        logits, _, _ = self.decode(target_inputs, initial, encoder_states, source_mask)
        return logits

    def step_decoder(self, source, source_lengths) -> "TranslatorStepDecoder":
        """Encode once and hand out the `core.decoding.StepDecoder` that greedy and beam search drive."""
        return TranslatorStepDecoder(self, *self.encode(source, source_lengths))


class TranslatorStepDecoder:
    """`core.decoding.StepDecoder` for `Translator`: state = (h, c, encoder states, source mask)."""

    def __init__(self, model: Translator, encoder_states, source_mask, initial):
        self.model = model
        self.initial = (initial[0], initial[1], encoder_states, source_mask)

    def start(self):
        return self.initial

    def step(self, previous_tokens, state):
        h, c, encoder_states, source_mask = state
        logits, (h, c), weights = self.model.decode(previous_tokens[:, None], (h, c), encoder_states, source_mask)
        log_probs = logits[:, 0].log_softmax(dim=-1)  # (rows, vocab)
        return log_probs, (h, c, encoder_states, source_mask), None if weights is None else weights[:, 0]

    def reorder(self, state, indices):
        h, c, encoder_states, source_mask = state
        return h[:, indices], c[:, indices], encoder_states[indices], source_mask[indices]
