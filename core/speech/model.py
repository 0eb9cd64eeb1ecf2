"""The ASR homework's attention recognizer: a Whisper-style audio encoder and two character decoders.

    log-mel (batch, frames, 80) ─ AudioEncoder ─> (batch, frames / 2, d_model) ─┐ keys / values
    `<` c1 c2 … ─ TextDecoderRecurrent | TextDecoderTransformer ─ cross-attention ┘─> logits over 35 tokens

Every attention is the one `MultiHeadAttention` of core.attention, inside one `ResidualAttentionBlock`
(pre-norm; self-attention, cross-attention and the MLP each optional). Decoding goes through core.decoding:
`model.step_decoder(features, lengths)` binds a batch and exposes start/step/reorder, with the LSTM state or
the transformer's key/value cache carried from step to step.

The same classes build the CMU 11-785 Speech-Transformer (HW4 part 2) from config values alone: a CNN-LSTM front end
(two stride-2 convolutions, 4x fewer frames, then a bidirectional LSTM) before the encoder blocks, sinusoidal
decoder positions, and more decoder blocks and heads (`speech_transformer_config`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from core.attention import MultiHeadAttention, causal_mask, padding_mask
from core.ctc import JointCTCStepDecoder
from core.decoding import select_rows
from core.speech import vocabulary


@dataclass
class SpeechRecognizerConfig:
    """Sizes from the homework (hidden 200, 2 heads, MLP 400); `decoder` is "lstm" or "transformer"."""

    decoder: str = "transformer"
    n_mels: int = 80
    d_model: int = 200
    n_heads: int = 2
    mlp_size: int = 400
    encoder_layers: int = 2  # the statement says 4, its notebook trained 2; 2 also halves the CPU cost
    decoder_layers: int = 1  # LSTM layers, or transformer decoder blocks
    vocab_size: int = len(vocabulary.TOKENS)
    max_tokens: int = vocabulary.MAX_CHARACTERS + 1  # decoder inputs: `<` + 97 characters
    max_timescale: float = 3000.0  # sinusoidal positions, as the homework
    front_end: str = "conv"  # "conv": the homework's two convolutions; "conv-lstm": the Speech-Transformer's CNN-LSTM
    decoder_positions: str = "learned"  # "learned" (homework, torch.rand init) or "sinusoidal" (Speech-Transformer)
    ctc_head: bool = False  # a linear CTC layer on the encoder, for joint CTC-attention training and decoding


FRONT_END_STRIDES = {"conv": (1, 2), "conv-lstm": (2, 2)}  # (conv1, conv2): frames are divided by their product


def speech_transformer_config(**overrides) -> SpeechRecognizerConfig:
    """The 11-785 Speech-Transformer at a size this 2-core CPU trains in minutes per epoch.

    d_model 192 with 4 heads of 48, MLP 512 and 2 + 2 layers: 2.1 M parameters (under the 10 MB checkpoint cap). The
    CNN front end quarters the frame rate (25 encoder frames per second), which pays for the LSTM's sequential
    steps and the second decoder block; characters come at ~15 per second, so 25 frames per second still
    leaves more than one frame per character.
    """
    values = dict(decoder="transformer", front_end="conv-lstm", decoder_positions="sinusoidal", d_model=192,
                  n_heads=4, mlp_size=512, encoder_layers=2, decoder_layers=2, max_timescale=10_000.0)
    return SpeechRecognizerConfig(**(values | overrides))


def sinusoids(length: int, channels: int, max_timescale: float) -> torch.Tensor:
    """Whisper's sinusoidal position table: (length, channels), sines in the first half, cosines in the second."""
    log_increment = math.log(max_timescale) / (channels // 2 - 1)
    inverse_timescales = torch.exp(-log_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inverse_timescales[None, :]
    return torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)


class ResidualAttentionBlock(nn.Module):
    """x + SelfAttn(LN x) [masked or not], then x + CrossAttn(LN x, memory), then x + MLP(LN x); each part optional."""

    def __init__(self, d_model: int, n_heads: int, mlp_size: int, self_attention: bool = True, cross_attention: bool = False):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, n_heads) if self_attention else None
        self.self_attention_norm = nn.LayerNorm(d_model) if self_attention else None
        self.cross_attention = MultiHeadAttention(d_model, n_heads) if cross_attention else None
        self.cross_attention_norm = nn.LayerNorm(d_model) if cross_attention else None
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_size), nn.GELU(), nn.Linear(mlp_size, d_model))
        self.mlp_norm = nn.LayerNorm(d_model)

    def forward(
        self,
        x: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        cache: dict | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Returns (x, self-attention weights, cross-attention weights); weights are (batch, heads, queries, keys)."""
        self_weights = cross_weights = None
        if self.self_attention is not None:
            attended, self_weights = self.self_attention(
                self.self_attention_norm(x), mask=self_mask, cache=None if cache is None else cache.setdefault("self", {})
            )
            x = x + attended
        if self.cross_attention is not None:
            attended, cross_weights = self.cross_attention(
                self.cross_attention_norm(x), source=memory, mask=memory_mask,
                cache=None if cache is None else cache.setdefault("cross", {}),
            )
            x = x + attended
        x = x + self.mlp(self.mlp_norm(x))
        return x, self_weights, cross_weights


def conv_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Frames out of a kernel-3, padding-1 convolution with this stride."""
    return (lengths - 1) // stride + 1


class AudioEncoder(nn.Module):
    """Two GELU convolutions, [a bidirectional LSTM,] sinusoidal positions, pre-norm blocks, LayerNorm.

    The homework's front end keeps conv1 at full rate and halves the frames in conv2; the Speech-Transformer's
    CNN-LSTM front end halves them in both and runs a BiLSTM over the result. `active_layers` (not part of the
    config) lets staged training run the encoder without its attention blocks first; None uses them all.
    """

    def __init__(self, config: SpeechRecognizerConfig):
        super().__init__()
        if config.front_end not in FRONT_END_STRIDES:
            raise ValueError(f"Unknown front end '{config.front_end}'; use one of {', '.join(FRONT_END_STRIDES)}.")
        self.config = config
        self.strides = FRONT_END_STRIDES[config.front_end]
        self.conv1 = nn.Conv1d(config.n_mels, config.d_model, kernel_size=3, stride=self.strides[0], padding=1)
        self.conv2 = nn.Conv1d(config.d_model, config.d_model, kernel_size=3, stride=self.strides[1], padding=1)
        self.lstm = (nn.LSTM(config.d_model, config.d_model // 2, batch_first=True, bidirectional=True)
                     if config.front_end == "conv-lstm" else None)
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(config.d_model, config.n_heads, config.mlp_size) for _ in range(config.encoder_layers)
        )
        self.final_norm = nn.LayerNorm(config.d_model)
        self.active_layers: int | None = None

    @property
    def subsampling(self) -> int:
        """Feature frames per encoder frame."""
        return self.strides[0] * self.strides[1]

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for stride in self.strides:
            lengths = conv_lengths(lengths, stride)
        return lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """features (batch, frames, n_mels) -> (memory (batch, frames', d_model), lengths', self-attention weights per block)."""
        # Zero the padding before each convolution, so a clip's output does not depend on its batch-mates.
        frames = padding_mask(lengths, features.shape[1])[:, 0]  # (batch, 1, frames)
        x = features.transpose(1, 2) * frames  # (batch, n_mels, frames)
        x = nn.functional.gelu(self.conv1(x))
        x = x * padding_mask(conv_lengths(lengths, self.strides[0]), x.shape[2])[:, 0]
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)  # (batch, frames', d_model)
        out_lengths = self.output_lengths(lengths)
        if self.lstm is not None:  # packed, so the backward direction starts at each clip's own last frame
            padded_frames = x.shape[1]
            packed = nn.utils.rnn.pack_padded_sequence(x, out_lengths.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=padded_frames)
        x = x + sinusoids(x.shape[1], x.shape[2], self.config.max_timescale).to(x.device, x.dtype)
        mask = padding_mask(out_lengths, x.shape[1])
        attention = []
        for block in self.blocks[: self.active_layers]:
            x, weights, _ = block(x, self_mask=mask)
            attention.append(weights)
        return self.final_norm(x), out_lengths, attention


class TextDecoderRecurrent(nn.Module):
    """Embedding → LayerNorm → LSTM → residual cross-attention block (query = LSTM output) → LayerNorm → Linear."""

    def __init__(self, config: SpeechRecognizerConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.embedding_norm = nn.LayerNorm(config.d_model)
        self.lstm = nn.LSTM(config.d_model, config.d_model, num_layers=config.decoder_layers, batch_first=True)
        self.block = ResidualAttentionBlock(config.d_model, config.n_heads, config.mlp_size, self_attention=False, cross_attention=True)
        self.final_norm = nn.LayerNorm(config.d_model)
        self.output = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens, memory, memory_mask, state: dict | None = None):
        """tokens (batch, steps) -> (logits (batch, steps, vocab), [cross weights (batch, heads, steps, frames')], []):
        the same three results as the transformer decoder, with no self-attention to return.

        With `state` (a dict), the LSTM's (h, c) and the cross-attention keys/values are read and updated there.
        """
        hidden = None if state is None or "h" not in state else (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
        x, (h, c) = self.lstm(self.embedding_norm(self.embedding(tokens)), hidden)
        if state is not None:
            state["h"], state["c"] = h.transpose(0, 1), c.transpose(0, 1)  # batch first, so reorder is one index_select
        x, _, cross_weights = self.block(x, memory=memory, memory_mask=memory_mask, cache=None if state is None else state.setdefault("block", {}))
        return self.output(self.final_norm(x)), [cross_weights], []


class TextDecoderTransformer(nn.Module):
    """Embedding + learned positions → blocks of (masked self-attention, cross-attention, MLP) → LayerNorm → Linear."""

    def __init__(self, config: SpeechRecognizerConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.decoder_positions == "sinusoidal":  # fixed table, not saved with the weights
            self.register_buffer("positions", sinusoids(config.max_tokens, config.d_model, config.max_timescale), persistent=False)
        else:
            self.positions = nn.Parameter(torch.rand(config.max_tokens, config.d_model))  # torch.rand, as the homework
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(config.d_model, config.n_heads, config.mlp_size, cross_attention=True)
            for _ in range(config.decoder_layers)
        )
        self.final_norm = nn.LayerNorm(config.d_model)
        self.output = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens, memory, memory_mask, state: dict | None = None):
        """tokens (batch, steps) -> (logits (batch, steps, vocab), cross weights per block, self weights per block);
        weights are (batch, heads, steps, keys), returned by the call so that concurrent callers never share them.

        With `state`, `tokens` continue the sequence after state["position"] cached steps (key/value cache).
        """
        offset = 0 if state is None else state.get("position", 0)
        steps = tokens.shape[1]
        if offset + steps > self.positions.shape[0]:
            raise ValueError(f"The decoder has {self.positions.shape[0]} positions; asked for {offset + steps}.")
        x = self.embedding(tokens) + self.positions[offset : offset + steps]
        self_mask = causal_mask(steps, tokens.device) if state is None else None  # with a cache, all keys are in the past
        cross_weights, self_weights = [], []
        for index, block in enumerate(self.blocks):
            cache = None if state is None else state.setdefault(f"block{index}", {})
            x, block_self_weights, weights = block(x, self_mask=self_mask, memory=memory, memory_mask=memory_mask, cache=cache)
            cross_weights.append(weights)
            self_weights.append(block_self_weights)
        if state is not None:
            state["position"] = offset + steps
        return self.output(self.final_norm(x)), cross_weights, self_weights


DECODERS = {"lstm": TextDecoderRecurrent, "transformer": TextDecoderTransformer}


class SpeechRecognizer(nn.Module):
    """AudioEncoder + one of the homework's decoders; trained with teacher forcing, decoded step by step."""

    config_class = SpeechRecognizerConfig

    def __init__(self, config: SpeechRecognizerConfig):
        super().__init__()
        if config.decoder not in DECODERS:
            raise ValueError(f"Unknown decoder '{config.decoder}'; use one of {', '.join(DECODERS)}.")
        self.config = config
        self.encoder = AudioEncoder(config)
        self.decoder = DECODERS[config.decoder](config)
        self.ctc = nn.Linear(config.d_model, config.vocab_size) if config.ctc_head else None

    def forward(self, features: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor, with_memory: bool = False):
        """Teacher forcing: tokens (batch, steps) are the inputs `<` c1 …; returns (logits, cross weights per block),
        plus (memory, memory lengths) with `with_memory` (joint CTC training reads the encoder output)."""
        memory, memory_lengths, _ = self.encoder(features, lengths)
        logits, cross_weights, _ = self.decoder(tokens, memory, padding_mask(memory_lengths, memory.shape[1]))
        return (logits, cross_weights, (memory, memory_lengths)) if with_memory else (logits, cross_weights)

    def ctc_loss(self, memory: torch.Tensor, memory_lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
        """CTC loss of the encoder output against the character ids (no `<`/`>`), `@` padding as the blank.

        The auxiliary objective of joint CTC-attention training (Kim, Hori & Watanabe 2017): it forces a monotonic
        alignment onto the encoder, which the attention decoder then finds much sooner.
        """
        log_probs = self.ctc_log_probs(memory).transpose(0, 1)  # (frames, batch, vocab)
        flat = torch.tensor([token for target in targets for token in target], dtype=torch.long, device=memory.device)
        target_lengths = torch.tensor([len(target) for target in targets], dtype=torch.long)
        return nn.functional.ctc_loss(log_probs, flat, memory_lengths.cpu(), target_lengths, blank=vocabulary.PAD,
                                      zero_infinity=True)

    def ctc_log_probs(self, memory: torch.Tensor) -> torch.Tensor:
        """The CTC head's log-probabilities (batch, frames, vocab) over the encoder output; `@` is the blank."""
        if self.ctc is None:
            raise ValueError("This model has no CTC head (config.ctc_head is False).")
        return torch.log_softmax(self.ctc(memory.float()), dim=-1)

    def step_decoder(self, features: torch.Tensor, lengths: torch.Tensor, use_cache: bool = True,
                     ctc_weight: float = 0.0) -> "RecognizerStepDecoder | JointCTCStepDecoder":
        """Bind a batch for core.decoding; with a CTC weight > 0 (needs the CTC head) every step's scores mix in the
        CTC prefix score: joint CTC-attention decoding."""
        memory, memory_lengths, _ = self.encoder(features, lengths)
        decoder = RecognizerStepDecoder(self.decoder, memory, padding_mask(memory_lengths, memory.shape[1]), use_cache)
        if not ctc_weight:
            return decoder
        if self.ctc is None:
            raise ValueError("Joint CTC-attention decoding needs a model trained with a CTC head.")
        return JointCTCStepDecoder(decoder, self.ctc_log_probs(memory), memory_lengths, ctc_weight,
                                   blank=vocabulary.PAD, sos=vocabulary.START, eos=vocabulary.STOP)


class RecognizerStepDecoder:
    """core.decoding's StepDecoder for both decoders: the state dict holds memory, mask and the carried state/cache.

    With `use_cache=False` every step re-runs the decoder over the whole prefix, as the homework generated;
    the results are the same, only slower (`python -m core bench asr` measures by how much).
    """

    def __init__(self, decoder: nn.Module, memory: torch.Tensor, memory_mask: torch.Tensor, use_cache: bool = True):
        self.decoder, self.memory, self.memory_mask, self.use_cache = decoder, memory, memory_mask, use_cache

    def start(self) -> dict:
        empty_prefix = torch.zeros(self.memory.shape[0], 0, dtype=torch.long, device=self.memory.device)
        return {"memory": self.memory, "memory_mask": self.memory_mask, "decoder": {}, "prefix": empty_prefix}

    def step(self, previous_tokens: torch.Tensor, state: dict):
        if self.use_cache:
            logits, cross_weights, _ = self.decoder(previous_tokens[:, None], state["memory"], state["memory_mask"], state["decoder"])
        else:
            state["prefix"] = torch.cat([state["prefix"], previous_tokens[:, None]], dim=1)
            logits, cross_weights, _ = self.decoder(state["prefix"], state["memory"], state["memory_mask"])
        attention = cross_weights[-1][:, :, -1].mean(dim=1)  # last block, last step, mean over heads: (rows, frames')
        return torch.log_softmax(logits[:, -1].float(), dim=-1), state, attention

    def reorder(self, state: dict, indices: torch.Tensor) -> dict:
        return select_rows(state, indices)
