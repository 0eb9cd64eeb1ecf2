"""Figures shared by labs: an attention heatmap (output tokens x inputs) and per-epoch training curves."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
    if input_positions is None:
        hover = np.array(
            [[f"{shown_label(output_labels[row])} (step {row + 1})", f"{shown_label(input_labels[column])} (#{column + 1})"]
             for row in range(outputs) for column in range(inputs)],
            dtype=object,
        ).reshape(outputs, inputs, 2)
        rows = list(range(outputs))
        hovertemplate = f"{output_title} %{{customdata[0]}}<br>{input_title} %{{customdata[1]}}"
    else:  # rows are categories named "a (step 3)": the hover reads the name, no per-cell text
        hover = None
        rows = [f"{shown_label(label)} (step {row + 1})" if rows_are_steps else shown_label(label)
                for row, label in enumerate(output_labels)]
        hovertemplate = f"{output_title} %{{y}}<br>{input_title} %{{x:{input_hover_format}}}"
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


def training_curves_figure(
    runs: dict[str, dict[str, list]],
    metrics: list[str],
    titles: dict[str, str] | None = None,
    x_key: str = "epoch",
    marker_epoch: dict[str, int] | None = None,
) -> go.Figure:
    """One panel per metric, one line per run; `runs` maps a run name to a card's `curves` dict.

    `marker_epoch` (run name -> epoch) marks the epoch whose weights were kept.
    """
    titles = titles or {}
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=[titles.get(metric, metric) for metric in metrics])
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for run_index, (run_name, curves) in enumerate(runs.items()):
        color = palette[run_index % len(palette)]
        for column, metric in enumerate(metrics, start=1):
            if metric not in curves:
                continue
            x = curves.get(x_key, list(range(1, len(curves[metric]) + 1)))
            figure.add_scatter(
                x=x, y=curves[metric], mode="lines", name=run_name, legendgroup=run_name, showlegend=column == 1,
                line=dict(color=color), row=1, col=column,
                hovertemplate=f"{run_name}<br>{x_key} %{{x}}: %{{y:.4f}}<extra></extra>",
            )
            if marker_epoch and run_name in marker_epoch and marker_epoch[run_name] in list(x):
                position = list(x).index(marker_epoch[run_name])
                figure.add_scatter(
                    x=[x[position]], y=[curves[metric][position]], mode="markers", marker=dict(color=color, size=10, symbol="star"),
                    name=f"{run_name}: kept", legendgroup=run_name, showlegend=False, row=1, col=column,
                    hovertemplate=f"{run_name}: weights kept from {x_key} %{{x}}<extra></extra>",
                )
        figure.update_xaxes(title_text=x_key)
    figure.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return figure
