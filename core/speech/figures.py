"""Figures of the Speech lab: waveform, log-mel spectrogram, and attention placed in time under the spectrogram.

Everything shares one x axis in seconds: feature frame i sits at i × 10 ms, encoder frame j at j × 20 ms from
its chunk's start (the encoder's second convolution halves the frame rate), so a character's cross-attention
lines up with the sound it came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.speech.inference import LAB_MAX_SECONDS, ChunkAttention, card_decoding
from core.speech import vocabulary
from core.speech.features import FEATURES
from core.speech.pocketsphinx import POCKETSPHINX_VERSION
from core.figures import attention_heatmap, shown_label
from core.metrics import levenshtein_distance

FRAME_SECONDS = FEATURES.hop_length / FEATURES.sample_rate  # 10 ms between feature frames
MAX_WAVEFORM_POINTS = 3000  # min/max envelope points drawn; a 30 s clip has 480,000 samples

# What the Speech lab (and any front end) says under each figure and beside its controls.
BEAM_HELP = ("Greedy keeps the single best character at each step; beam search keeps this many partial transcripts, "
             "ranked by mean log-probability.")
POCKETSPHINX_HELP = ("CMU's classic offline recognizer (HMM acoustic model + n-gram language model, trained on hundreds "
                     "of hours of real speech): what a user might otherwise pick.")
POCKETSPHINX_ON_REQUEST_HELP = (POCKETSPHINX_HELP + " Off for your own audio until you ask: it takes a few seconds of "
                                "the server's CPU per clip, which a class shares (the examples' columns are ready).")
AUDIO_TYPES = ["wav", "flac", "ogg", "oga", "opus", "mp3", "webm", "m4a"]  # what the Speech lab's uploader takes
UPLOAD_HELP = f"Any rate, mono or stereo, up to {LAB_MAX_SECONDS:.0f} s."
POCKETSPHINX_MISSING = f"PocketSphinx is not installed here: `pip install pocketsphinx=={POCKETSPHINX_VERSION}`."
SPECTROGRAM_NOTE = ("Below the waveform: the 80-bin log-mel spectrogram the encoder reads, 100 frames per second (the "
                    "homework's features).")
DIAGONAL_NOTE = ("Each row is one character the decoder wrote (the last, `>`, is its stop token); each column is a moment "
                 "of the audio, aligned under the spectrogram. A clean alignment is a **diagonal**: as the transcript "
                 "moves on, attention moves forward through the audio. Blurred or vertical bands mean the decoder is "
                 "guessing from its language model rather than listening.")
CROSS_ATTENTION_NOTE = ("Hover a cell for the character, the time and the weight; the colour scale tops out at the largest "
                        "weight. The red box is the step chosen with the slider, and the red curve over the spectrogram "
                        "is where that step listened.")
CTC_NOTE = ("This model also learned a CTC layer on its encoder (joint CTC-attention training). At every encoder frame it "
            "gives each character a probability, and mostly the blank `@`: a character shows as a short spike where it "
            "is heard, and the white curve over the spectrogram is the probability of anything but the blank. CTC must "
            "read the audio left to right, one spike per character, so it cannot loop or skip the way an attention "
            "decoder can on unfamiliar voices; joint decoding uses it to keep the decoder honest.")
SELF_ATTENTION_NOTE = ("Each character (row) looks back at the characters already written (columns, starting with `<`); "
                       "the mask hides the future, hence the empty upper triangle.")
LAB_SCORES_NOTE = ("(lowercase, only the 35 homework tokens). Jaccard, cosine and Damerau-Levenshtein are similarities "
                   "(higher is better) computed as the homework did, on token lists wrapped in `<` … `>` and cut at 97 "
                   "characters; Levenshtein distance counts edits; CER and WER are error rates (lower is better).")
SCROLLING_HEATMAPS = ("<style>[class*='st-key-attention-'] {overflow-x: auto;} [class*='st-key-attention-'] "
                      "[data-testid='stElementContainer']:has([data-testid='stPlotlyChart']) {min-width: 720px;}"
                      "</style>")  # on a phone the maps keep their width and scroll sideways
BEAM_ON_REQUEST_HELP = "Slower: keeps several partial transcripts alive at each step, for every model."
ALIGNMENT_COLOURS = "Grey: equal · orange: substituted · blue: inserted · red: deleted · purple: two neighbours swapped."


def decoding_heading(label: str, seconds: float, text: str, greedy_text: str) -> str:
    """The line above a transcript in the Speech lab: the search, its time and, for a beam, what it changed."""
    if label == "greedy":
        return f"**{label}** · {seconds:.2f} s"
    changed = levenshtein_distance(text, greedy_text)
    return f"**{label}** · {seconds:.2f} s · " + (f"beam search changed {changed} character(s) of the greedy transcript"
                                                   if changed else "beam search wrote the same transcript")


def chunking_note(chunks_and_cards: dict[str, tuple[list[ChunkAttention], dict]]) -> str | None:
    """Where each model (label -> its chunks and its card) cut a long recording; None when none did."""
    chunked = {label: (chunks, card_decoding(card).max_chunk_seconds)
               for label, (chunks, card) in chunks_and_cards.items() if len(chunks) > 1}
    if not chunked:
        return None
    return ("The recording was cut at pauses into chunks, as long as each model decodes best (chosen on validation "
            "clips: its decoder writes at most 97 characters per chunk): " + "; ".join(
                f"{label}, {len(chunks)} chunks of at most {seconds:g} s "
                f"(from {', '.join(f'{chunk.start_s:.1f}' for chunk in chunks)} s)"
                for label, (chunks, seconds) in chunked.items()) + ".")


POCKETSPHINX_NOTE = ("An HMM recognizer with a word language model: it writes only dictionary words, and it has no "
                     "attention to show, so it appears in no heatmap below.")


@dataclass(frozen=True)
class AttentionChoice:
    """Which attention map to draw: one layer and head, or an average (None = averaged over that axis)."""

    label: str
    layer: int | None
    head: int | None


def attention_choices(layers: int, heads: int) -> list[AttentionChoice]:
    """Averaged first, then each layer averaged over heads, then every single head."""
    choices = [AttentionChoice("average of all layers and heads" if layers > 1 else "average of the heads", None, None)]
    for layer in range(layers):
        if layers > 1:
            choices.append(AttentionChoice(f"layer {layer + 1}, average of the heads", layer, None))
        choices += [AttentionChoice(f"layer {layer + 1}, head {head + 1}", layer, head) for head in range(heads)]
    return choices


@dataclass
class TimedAttention:
    """Cross-attention of a whole recording: every chunk's rows, placed on one grid of encoder frames in time."""

    weights: np.ndarray  # (output characters of all chunks, encoder frames of the whole recording)
    output_labels: list[str]
    times: list[float]  # seconds, one per column


def timed_cross_attention(chunks: list[ChunkAttention], duration_s: float, choice: AttentionChoice) -> TimedAttention:
    """Stack the chunks' rows; each chunk's columns go where its audio starts, zero elsewhere."""
    rows = [select_heads(chunk.cross_attention, choice) for chunk in chunks]  # (outputs, frames') each
    return TimedAttention(_placed_in_time(chunks, duration_s, rows, stack=True),
                          [label for chunk in chunks for label in chunk.output_labels], _frame_times(chunks, duration_s))


def timed_ctc(chunks: list[ChunkAttention], duration_s: float) -> TimedAttention:
    """The CTC head's probability of every character (rows, in vocabulary order, the blank `@` first) over the whole
    recording's encoder frames; characters it never gives 5% anywhere are left out."""
    per_token = _placed_in_time(chunks, duration_s, [chunk.ctc_posteriors.T for chunk in chunks], stack=False)
    blank = vocabulary.PAD
    shown = [blank] + [token for token in range(len(vocabulary.TOKENS))
                       if token not in (vocabulary.START, vocabulary.STOP, blank) and per_token[token].max() >= 0.05]
    return TimedAttention(per_token[shown], [vocabulary.TOKENS[token] for token in shown], _frame_times(chunks, duration_s))


def _frame_times(chunks: list[ChunkAttention], duration_s: float) -> list[float]:
    frame_seconds = chunks[0].frame_seconds
    return [column * frame_seconds for column in range(int(round(duration_s / frame_seconds)) + 1)]


def _placed_in_time(chunks: list[ChunkAttention], duration_s: float, values: list[np.ndarray], stack: bool) -> np.ndarray:
    """One grid of encoder frames for the whole recording; each chunk's (rows, frames') block goes where its audio
    starts. `stack`: each chunk adds its own rows (cross-attention); otherwise all chunks share the same rows (CTC)."""
    columns = len(_frame_times(chunks, duration_s))
    grid = np.zeros((sum(block.shape[0] for block in values) if stack else values[0].shape[0], columns))
    row = 0
    for chunk, block in zip(chunks, values):
        offset = int(round(chunk.start_s / chunks[0].frame_seconds))
        width = min(block.shape[1], columns - offset)
        grid[row : row + block.shape[0], offset : offset + width] = block[:, :width]
        row += block.shape[0] if stack else 0
    return grid


def select_heads(weights: np.ndarray, choice: AttentionChoice) -> np.ndarray:
    """(layers, heads, queries, keys) -> (queries, keys) for one layer/head or their mean."""
    chosen = weights if choice.layer is None else weights[choice.layer : choice.layer + 1]
    chosen = chosen if choice.head is None else chosen[:, choice.head : choice.head + 1]
    return chosen.mean(axis=(0, 1))


def waveform_figure(audio: np.ndarray, sample_rate: int = FEATURES.sample_rate, chunk_starts: list[float] = ()) -> go.Figure:
    """The waveform as a min/max envelope (every peak visible at any length); dashed lines where chunks start."""
    bins = max(1, min(MAX_WAVEFORM_POINTS, len(audio)))
    edges = np.linspace(0, len(audio), bins + 1).astype(int)
    lows = np.minimum.reduceat(audio, edges[:-1])
    highs = np.maximum.reduceat(audio, edges[:-1])
    times = edges[:-1] / sample_rate
    figure = go.Figure([
        go.Scatter(x=times, y=highs, mode="lines", line=dict(width=0.6, color="#1f77b4"), hoverinfo="skip", showlegend=False),
        go.Scatter(x=times, y=lows, mode="lines", line=dict(width=0.6, color="#1f77b4"), fill="tonexty",
                   hovertemplate="%{x:.2f} s<extra></extra>", showlegend=False),
    ])
    for start in chunk_starts[1:]:
        figure.add_vline(x=start, line=dict(color="#d62728", dash="dash"), annotation_text="chunk")
    figure.update_layout(height=170, margin=dict(l=10, r=10, t=10, b=10),
                         xaxis=dict(title="time (s)", range=[0, len(audio) / sample_rate]), yaxis=dict(title="amplitude"))
    return figure


def spectrogram_trace(features: np.ndarray, show_scale: bool = True, frames_per_column: int = 1) -> go.Heatmap:
    """Log-mel features (frames, n_mels) as a heatmap: time in seconds across, mel bin up.

    `frames_per_column` > 1 averages neighbouring frames (2 gives the encoder's own 20 ms grid, half the cells to draw).
    """
    features = np.asarray(features, dtype=np.float32)  # float32: half the bytes sent to the browser
    if frames_per_column > 1:
        usable = features.shape[0] // frames_per_column * frames_per_column
        features = features[:usable].reshape(-1, frames_per_column, features.shape[1]).mean(axis=1)
    return go.Heatmap(
        z=features.T, x=np.arange(features.shape[0]) * FRAME_SECONDS * frames_per_column, y=np.arange(features.shape[1]),
        colorscale="Viridis", showscale=show_scale, colorbar=dict(title="log-mel", len=0.8),
        hovertemplate="%{x:.2f} s · mel bin %{y}<br>value %{z:.2f}<extra></extra>",
    )


def spectrogram_figure(features: np.ndarray) -> go.Figure:
    figure = go.Figure(spectrogram_trace(features))
    figure.update_layout(height=240, margin=dict(l=10, r=10, t=10, b=10),
                         xaxis=dict(title="time (s)"), yaxis=dict(title="mel bin"))
    return figure


def aligned_attention_figure(features: np.ndarray, attention: TimedAttention, step: int) -> go.Figure:
    """Spectrogram on top, cross-attention (characters × seconds) under it, on one time axis; output `step` is
    outlined in the heatmap and its attention drawn over the spectrogram (red, scaled to the plot's height).

    The colour scale tops out at the largest weight: attention spread over hundreds of frames rarely nears 1.
    """
    heatmap = attention_heatmap(
        attention.weights.round(3), attention.output_labels, [f"{time:.2f} s" for time in attention.times],
        input_title="time (s)", output_title="output character", highlight_row=step,
        input_positions=attention.times, zmax=max(float(attention.weights.max()), 1e-3),
    )
    figure = _under_spectrogram(features, heatmap, "weight", row_height=12)
    step_weights = attention.weights[step]
    n_mels = np.asarray(features).shape[1]
    figure.add_scatter(
        x=attention.times, y=step_weights / (float(step_weights.max()) or 1.0) * (n_mels - 1), mode="lines",
        fill="tozeroy", line=dict(color="#ff4b4b", width=2), fillcolor="rgba(255, 75, 75, 0.35)",
        customdata=step_weights.round(4), hovertemplate="%{x:.2f} s<br>weight %{customdata:.3f}<extra></extra>",
        showlegend=False, row=1, col=1,
    )
    focus = attention.times[int(step_weights.argmax())]
    figure.add_vline(x=focus, line=dict(color="white", dash="dot"), row=1, col=1)
    label = shown_label(attention.output_labels[step])
    figure.update_layout(title=f"Step {step + 1}: writing “{label}”, attention peaks at {focus:.2f} s")
    return figure


def ctc_figure(features: np.ndarray, ctc: TimedAttention) -> go.Figure:
    """Spectrogram on top, the CTC head's character probabilities under it, on one time axis; over the spectrogram,
    the probability of any character but the blank: CTC fires in short spikes, one per character, blank between."""
    heatmap = attention_heatmap(ctc.weights.round(3), ctc.output_labels, [f"{time:.2f} s" for time in ctc.times],
                                input_title="time (s)", output_title="character (@ = blank)", input_positions=ctc.times,
                                rows_are_steps=False)
    heatmap.data[0].hovertemplate = "character %{y}<br>%{x:.2f} s<br>probability %{z:.3f}<extra></extra>"
    figure = _under_spectrogram(features, heatmap, "probability", row_height=14)
    n_mels = np.asarray(features).shape[1]
    firing = 1 - ctc.weights[0]
    figure.add_scatter(x=ctc.times, y=firing * (n_mels - 1), mode="lines", line=dict(color="#ffffff", width=1.5),
                       customdata=firing.round(3), hovertemplate="%{x:.2f} s<br>not blank %{customdata:.2f}<extra></extra>",
                       showlegend=False, row=1, col=1)
    figure.update_layout(title="Probability of each character at each encoder frame (the white curve: anything but the blank)")
    return figure


def _under_spectrogram(features: np.ndarray, heatmap: go.Figure, colorbar_title: str, row_height: int) -> go.Figure:
    """The spectrogram on top and `heatmap` (an attention_heatmap over seconds, with its outlines) under it, sharing
    one time axis; the caller draws its own curve over the spectrogram and sets the title."""
    rows = len(heatmap.data[0].y)
    heatmap_height, spectrogram_height = max(200, row_height * rows), 200
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.02,
                           row_heights=[spectrogram_height, heatmap_height])
    figure.add_trace(spectrogram_trace(features, show_scale=False, frames_per_column=2), row=1, col=1)
    trace = heatmap.data[0]
    trace.colorbar = dict(title=colorbar_title, len=0.5, y=0.3)
    figure.add_trace(trace, row=2, col=1)
    for shape in heatmap.layout.shapes:  # an outlined row, if any
        figure.add_shape(shape, row=2, col=1)
    figure.update_yaxes(title="mel bin", range=[0, np.asarray(features).shape[1] - 1], row=1, col=1)
    figure.update_yaxes(heatmap.layout.yaxis.to_plotly_json(), row=2, col=1)
    figure.update_xaxes(title="time (s)", row=2, col=1)
    figure.update_layout(height=spectrogram_height + heatmap_height + 90, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def self_attention_figure(chunk: ChunkAttention, choice: AttentionChoice) -> go.Figure:
    """The transformer decoder's masked self-attention: each output step over the characters read so far."""
    return attention_heatmap(
        select_heads(chunk.self_attention, choice), chunk.output_labels, chunk.input_labels,
        input_title="decoder input (characters read so far)", output_title="output character",
    )


def error_rate_bars(rows: list[dict], test_sets: list[str]) -> go.Figure:
    """Corpus CER per test set (x) and system (one bar colour each): where each recognizer stands, real speech included.

    `rows` are the Speech lab's results rows ({"model", "test data", "cer", …}); rows without a CER, or on a test
    set not in `test_sets`, are left out."""
    figure = go.Figure()
    systems = list(dict.fromkeys(row["model"] for row in rows if row.get("cer") is not None and row["test data"] in test_sets))
    for system in systems:
        scores = {row["test data"]: row["cer"] for row in rows if row["model"] == system and row.get("cer") is not None}
        shown = [test_set for test_set in test_sets if test_set in scores]
        figure.add_bar(name=system, x=[_wrapped(test_set) for test_set in shown], y=[scores[test_set] for test_set in shown],
                       text=[f"{scores[test_set]:.2f}" for test_set in shown], textposition="outside")
    figure.update_layout(barmode="group", title="Character error rate by test data (lower is better)",
                         yaxis=dict(title="CER", rangemode="tozero"), xaxis=dict(tickangle=0), height=500,
                         legend=dict(orientation="h", yanchor="top", y=-0.18), margin=dict(l=10, r=10, t=40, b=10))
    return figure


def _wrapped(label: str) -> str:
    """A long axis label over two or three lines, broken after its commas and colons."""
    return label.replace(", ", ",<br>").replace(": ", ":<br>")
