"""Plotly figures shared by every lab and both front ends: attention heatmaps and training curves, and the
Metrics lab's score bars and character alignments (the scores themselves live in core.metrics).
"""
from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.metrics import METRICS, AlignmentStep, shown_score

SPACE_SYMBOL = "␣"  # spaces are real tokens here; an empty-looking label would hide them


def shown_label(label: str) -> str:
    return SPACE_SYMBOL if label == " " else str(label)


def attention_heatmap(
    weights,
    output_labels: list[str],
    input_labels: list[str],
    input_title: str = "source character",
    output_title: str = "output character",
    highlight_row: int | None = None,
    title: str | None = None,
    input_positions: list[float] | None = None,
    zmax: float = 1.0,
    input_hover_format: str = ".2f",
    rows_are_steps: bool = True,
) -> go.Figure:
    """One row per output token (stop token included), one column per input position (characters, frames, times).

    Axes are numeric with text ticks, so repeated labels (two spaces, two "a"s) stay separate cells; the hover
    names both the output and the input with the weight. `highlight_row` outlines what one output step attended to.
    `input_positions` (evenly spaced numbers, e.g. seconds) replace column indices on a plain numeric x axis, so the
    heatmap can share its x axis with another plot such as a spectrogram; the hover then names the input by its
    position (`input_hover_format`) and the output by its row's category name, so a long recording sends no per-cell
    hover text to the browser (a 10 s clip has ~100,000 cells). A lower `zmax` saturates
    the colour scale, for attention spread over hundreds of audio frames, where no single weight comes near 1.
    `rows_are_steps=False` names rows by their (distinct) labels alone, for rows that are not output steps.
    """
    weights = np.asarray(weights, dtype=float)  # (outputs, inputs)
    outputs, inputs = weights.shape
    if len(output_labels) != outputs or len(input_labels) != inputs:
        raise ValueError(f"labels ({len(output_labels)} x {len(input_labels)}) do not match weights {weights.shape}.")
    rows, hover, hovertemplate = _heatmap_rows_and_hover(output_labels, input_labels, input_title, output_title,
                                                         input_positions is not None, input_hover_format, rows_are_steps)
    x = list(range(inputs)) if input_positions is None else [float(position) for position in input_positions]
    half_cell = 0.5 if inputs < 2 else (x[-1] - x[0]) / (inputs - 1) / 2
    figure = go.Figure(
        go.Heatmap(
            z=weights.astype(np.float32), x=x, y=rows, customdata=hover,
            colorscale="Blues", zmin=0, zmax=zmax, colorbar=dict(title="weight"),
            hovertemplate=hovertemplate + "<br>weight %{z:.3f}<extra></extra>",
        )
    )
    if highlight_row is not None and 0 <= highlight_row < outputs:
        figure.add_shape(type="rect", x0=x[0] - half_cell, x1=x[-1] + half_cell, y0=highlight_row - 0.5,
                         y1=highlight_row + 0.5, line=dict(color="#d62728", width=3))
    if input_positions is None:
        tick_step = max(1, inputs // 40)  # long inputs (audio frames) would crowd the axis
        figure.update_xaxes(title=input_title, tickmode="array", tickvals=list(range(0, inputs, tick_step)),
                            ticktext=[shown_label(input_labels[column]) for column in range(0, inputs, tick_step)])
    else:
        figure.update_xaxes(title=input_title)
    figure.update_yaxes(title=output_title, tickmode="array", tickvals=rows,
                        ticktext=[shown_label(label) for label in output_labels], autorange="reversed")
    figure.update_layout(title=title, height=max(260, 60 + 22 * outputs), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure


def _heatmap_rows_and_hover(output_labels, input_labels, input_title, output_title, positioned: bool,
                            input_hover_format: str, rows_are_steps: bool):
    """Row keys, per-cell hover text and the hover template of `attention_heatmap`.

    With positioned inputs the rows are categories named "a (step 3)" and the hover reads that name: no per-cell
    text, which a long recording would send by the hundred thousand."""
    if positioned:
        rows = [f"{shown_label(label)} (step {row + 1})" if rows_are_steps else shown_label(label)
                for row, label in enumerate(output_labels)]
        return rows, None, f"{output_title} %{{y}}<br>{input_title} %{{x:{input_hover_format}}}"
    hover = np.array(
        [[f"{shown_label(output)} (step {row + 1})", f"{shown_label(source)} (#{column + 1})"]
         for row, output in enumerate(output_labels) for column, source in enumerate(input_labels)],
        dtype=object,
    ).reshape(len(output_labels), len(input_labels), 2)
    return list(range(len(output_labels))), hover, f"{output_title} %{{customdata[0]}}<br>{input_title} %{{customdata[1]}}"


def training_curves_figure(
    runs: dict[str, dict[str, list]],
    metrics: list[str],
    titles: dict[str, str] | None = None,
    x_key: str = "epoch",
    marker_epoch: dict[str, int] | None = None,
) -> go.Figure:
    """One panel per metric, one line per run; `runs` maps a run name to a card's `curves` dict.

    `marker_epoch` (run name -> epoch) marks the epoch whose weights were kept. Panels sit two to a row, so their
    titles stay readable on a phone.
    """
    titles = titles or {}
    columns = min(2, len(metrics))
    rows = -(-len(metrics) // columns)
    figure = make_subplots(rows=rows, cols=columns, vertical_spacing=0.5 / rows,
                           subplot_titles=[_wrapped(titles.get(metric, metric)) for metric in metrics])
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for run_index, (run_name, curves) in enumerate(runs.items()):
        color = palette[run_index % len(palette)]
        for index, metric in enumerate(metrics):
            row, column = index // columns + 1, index % columns + 1
            if metric not in curves:
                continue
            x = curves.get(x_key, list(range(1, len(curves[metric]) + 1)))
            figure.add_scatter(
                x=x, y=curves[metric], mode="lines", name=run_name, legendgroup=run_name, showlegend=index == 0,
                line=dict(color=color), row=row, col=column,
                hovertemplate=f"{run_name}<br>{x_key} %{{x}}: %{{y:.4f}}<extra></extra>",
            )
            if marker_epoch and run_name in marker_epoch and marker_epoch[run_name] in list(x):
                position = list(x).index(marker_epoch[run_name])
                figure.add_scatter(
                    x=[x[position]], y=[curves[metric][position]], mode="markers", marker=dict(color=color, size=10, symbol="star"),
                    name=f"{run_name}: kept", legendgroup=run_name, showlegend=False, row=row, col=column,
                    hovertemplate=f"{run_name}: weights kept from {x_key} %{{x}}<extra></extra>",
                )
        figure.update_xaxes(title_text=x_key)
    figure.update_layout(height=60 + 280 * rows, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", y=-0.25 / rows))
    return figure



def _wrapped(title: str, width: int = 20) -> str:
    """A panel title broken at the space nearest its middle when longer than `width`: half a phone is ~170 px."""
    if len(title) <= width or " " not in title:
        return title
    middle = len(title) // 2
    cut = min((index for index, char in enumerate(title) if char == " "), key=lambda index: abs(index - middle))
    return f"{title[:cut]}<br>{title[cut + 1:]}"


OPERATION_COLORS = {
    "equal": "#e8e8e8",
    "substitute": "#f4a261",
    "insert": "#6a9fd8",
    "delete": "#e76f51",
    "transpose": "#9b5de5",
}
SIMILARITY_COLOR, ERROR_COLOR = "#2a9d8f", "#e76f51"


def score_bars(scores: dict[str, float]) -> go.Figure:
    """Every 0-1 score as a bar; similarities (higher is better) and error rates (lower is better) in two colours."""
    infos = [info for info in METRICS if info.key in scores and info.unit != "edits"]
    figure = go.Figure(go.Bar(
        x=[scores[info.key] for info in infos],
        y=[wrapped(info.label) for info in infos],
        orientation="h",
        marker_color=[SIMILARITY_COLOR if info.higher_is_better else ERROR_COLOR for info in infos],
        text=[f"{scores[info.key]:.3f}" for info in infos],
        textposition="outside",
        hovertext=[f"{'higher' if info.higher_is_better else 'lower'} is better" for info in infos],
    ))
    top = max([1.0] + [scores[info.key] for info in infos])
    figure.update_layout(
        title="Scores: green higher is better,<br>red lower is better",
        xaxis=dict(range=[0, top * 1.3]), yaxis=dict(autorange="reversed"),
        height=80 + 40 * len(infos), margin=dict(l=10, r=10, t=60, b=10),
    )
    return figure


def token_comparison(scores: dict[str, float]) -> go.Figure:
    """The ASR homework's three scores on characters beside the same scores on start/stop-wrapped token lists."""
    keys = ["jaccard", "cosine", "damerau_levenshtein"]
    labels = ["Jaccard", "cosine", "Damerau-Levenshtein"]
    figure = go.Figure([
        go.Bar(name="characters", x=labels, y=[scores[key] for key in keys],
               text=[f"{scores[key]:.4f}" for key in keys]),
        go.Bar(name="homework tokens (with < and >)", x=labels, y=[scores[f"tokens_{key}"] for key in keys],
               text=[f"{scores[f'tokens_{key}']:.4f}" for key in keys]),
    ])
    low = min(scores[key] for key in keys + [f"tokens_{key}" for key in keys])
    figure.update_layout(barmode="group", title="Characters vs homework tokens",
                         yaxis=dict(range=[max(0.0, low - 0.1), 1.02]), height=320,
                         margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15))
    return figure


def alignment_figure(steps: list[AlignmentStep], columns: int = 45) -> go.Figure:
    """Reference over hypothesis, one cell per character, coloured by edit; long sentences wrap every `columns`."""
    cells = []  # one (operation, reference char, hypothesis char) per column; a transposition spans two columns
    for step in steps:
        width = max(len(step.reference), len(step.hypothesis))
        for offset in range(width):
            cells.append((step.operation, _char(step.reference, offset), _char(step.hypothesis, offset)))
    codes = {operation: code for code, operation in enumerate(OPERATION_COLORS)}
    z, text, hover = [], [], []
    for start in range(0, max(len(cells), 1), columns):
        chunk = cells[start:start + columns]
        pad = columns - len(chunk)
        for row in (1, 2):
            z.append([codes[cell[0]] for cell in chunk] + [None] * pad)
            text.append([cell[row] for cell in chunk] + [""] * pad)
            hover.append([f"{cell[0]}: '{cell[1]}' → '{cell[2]}'" for cell in chunk] + [""] * pad)
        z.append([None] * columns)
        text.append([""] * columns)
        hover.append([""] * columns)
    count = len(OPERATION_COLORS)
    colorscale = []
    for code, color in enumerate(OPERATION_COLORS.values()):
        colorscale += [[code / count, color], [(code + 1) / count, color]]
    figure = go.Figure(go.Heatmap(
        z=z, text=text, hovertext=hover, hoverinfo="text", texttemplate="%{text}", textfont=dict(size=14),
        colorscale=colorscale, zmin=-0.5, zmax=count - 0.5, xgap=1, ygap=1, showscale=False,
    ))
    for operation, color in OPERATION_COLORS.items():  # legend entries only
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=operation,
                                    marker=dict(size=12, color=color, symbol="square")))
    rows = len(z)
    figure.update_layout(
        title="Alignment: reference (upper row)<br>over hypothesis (lower row)",
        yaxis=dict(autorange="reversed", showticklabels=False, range=[rows - 0.5, -0.5]),
        xaxis=dict(showticklabels=False), height=110 + 26 * rows, plot_bgcolor="white",
        margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", y=-0.05),
    )
    return figure


def _char(chars: str, offset: int) -> str:
    char = chars[offset] if offset < len(chars) else ""
    return "␣" if char == " " else char


def disagreement_figure(table: dict[str, dict[str, float]], ranks: dict[str, dict[str, int]]) -> go.Figure:
    """Which preset pair each metric judges best (rank 1) to worst; the cell text is the score itself.

    One row per metric and one column per pair, so four narrow columns fit a phone without scrolling."""
    names = list(table)
    figure = go.Figure(go.Heatmap(
        z=[[ranks[name][info.key] for name in names] for info in METRICS],
        x=[wrapped(name, 10) for name in names], y=[wrapped(info.label) for info in METRICS],
        text=[[shown_score(info.key, table[name][info.key], 3) for name in names] for info in METRICS],
        texttemplate="%{text}", colorscale="RdYlGn_r", zmin=1, zmax=len(names),
        colorbar=dict(title="rank", orientation="h", y=-0.08, yanchor="top", thickness=12, tickvals=list(range(1, len(names) + 1))),
        hovertemplate="%{x} under %{y}: score %{text}, rank %{z} (1 = best)<extra></extra>",
    ))
    figure.update_layout(title=dict(text="Same reference, four kinds of damage:<br>each metric's ranking (1 = best)",
                                    yref="container", y=1, yanchor="top", pad=dict(t=12)),
                         height=200 + 42 * len(METRICS), margin=dict(l=10, r=10, t=130, b=10),
                         xaxis=dict(side="top"), yaxis=dict(autorange="reversed"))
    return figure


def wrapped(label: str, width: int = 18) -> str:
    """A long axis label over several lines, so a phone-wide chart keeps its plot area."""
    return "<br>".join(textwrap.wrap(label, width)) or label


# Plotly's tool bar appears on hover, and a tap on a phone is a hover: it would sit over the top of every chart.
# Without it, dragging still zooms and a double click resets; the page's own full-screen button stays.
CHART_CONFIG = {"displayModeBar": False, "displaylogo": False}
