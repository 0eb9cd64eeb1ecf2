"""Figures of the Vision lab, shared by both front ends: probabilities, activation maps, sweeps, confusion matrices."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

YOUR_MODEL = "your model"  # a student's own network, shown beside the shipped variants
VARIANT_COLORS = {"maxpool": "#1f77b4", "strided": "#ff7f0e", YOUR_MODEL: "#2ca02c"}
RATE_DASHES = ["solid", "dash", "dot", "dashdot"]


def probabilities_figure(class_names: list[str], probabilities: dict[str, np.ndarray]) -> go.Figure:
    """One horizontal bar per class and model, so the two variants' beliefs sit next to each other."""
    figure = go.Figure()
    for model_name, values in probabilities.items():
        figure.add_bar(
            y=class_names, x=values, orientation="h", name=model_name,
            marker_color=VARIANT_COLORS.get(model_name), hovertemplate="%{y}: %{x:.1%}<extra>" + model_name + "</extra>",
        )
    figure.update_layout(barmode="group", xaxis=dict(title="probability", range=[0, 1], tickformat=".0%"),
                         yaxis=dict(autorange="reversed"), height=60 + 32 * len(class_names), margin=dict(l=10, r=10, t=30, b=10),
                         legend=dict(orientation="h", y=1.08))
    return figure


def activation_maps_figure(pixels: np.ndarray, activations: dict[str, np.ndarray], zmax: float | None = None,
                           columns: int = 4) -> go.Figure:
    """The input, then every channel of conv1 and conv2 after ReLU, all channels on one colour scale.

    `zmax` lets two models share the scale so brighter means the same in both.
    """
    conv1, conv2 = activations["conv1"], activations["conv2"]
    rows = 1 + int(np.ceil(len(conv1) / columns)) + int(np.ceil(len(conv2) / columns))
    titles = ["input (28×28)"] + [""] * (columns - 1)
    cells = []
    for name, maps in (("conv1", conv1), ("conv2", conv2)):
        for start in range(0, len(maps), columns):
            chunk = maps[start:start + columns]
            titles += [f"{name}·{start + index + 1}" for index in range(len(chunk))] + [""] * (columns - len(chunk))
            cells.append(chunk)
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.035)
    figure.add_heatmap(z=pixels, row=1, col=1, colorscale="gray", showscale=False,
                       hovertemplate="x %{x}, y %{y}: %{z}<extra>input</extra>")
    top = float(zmax if zmax is not None else max(conv1.max(), conv2.max(), 1e-6))
    for row_offset, chunk in enumerate(cells):
        for column, activation_map in enumerate(chunk):
            figure.add_heatmap(z=activation_map, row=2 + row_offset, col=column + 1, coloraxis="coloraxis",
                               hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>")
    figure.update_layout(coloraxis=dict(colorscale="Viridis", cmin=0, cmax=top, colorbar=dict(title="ReLU", len=0.8)),
                         height=135 * rows + 40, margin=dict(l=10, r=10, t=30, b=10))
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", autorange="reversed")
    for index in range(1, rows * columns + 1):  # each map square on its own axes
        suffix = "" if index == 1 else str(index)
        figure.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", constrain="domain")
        figure.layout[f"xaxis{suffix}"].update(constrain="domain")
    figure.update_annotations(font_size=10)
    return figure


def sweep_figure(sweep: list[dict], selected_rate: float | None = None) -> go.Figure:
    """Training loss and validation accuracy per epoch: one line per learning rate, colour per variant."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "validation accuracy"))
    rates = sorted({run["learning_rate"] for run in sweep})
    for run in sweep:
        epochs = list(range(1, len(run["train_loss"]) + 1))
        name = f"{run['variant']}, lr {run['learning_rate']:g}" + (" (selected)" if run["learning_rate"] == selected_rate else "")
        style = dict(color=VARIANT_COLORS[run["variant"]], dash=RATE_DASHES[rates.index(run["learning_rate"]) % len(RATE_DASHES)])
        figure.add_scatter(x=epochs, y=run["train_loss"], mode="lines", name=name, legendgroup=name, line=style, row=1, col=1)
        figure.add_scatter(x=epochs, y=run["val_accuracy"], mode="lines", name=name, legendgroup=name, line=style,
                           showlegend=False, row=1, col=2)
    figure.update_xaxes(title="epoch")
    figure.update_yaxes(title="NLL loss", type="log", row=1, col=1)
    figure.update_yaxes(title="accuracy", tickformat=".0%", row=1, col=2)
    figure.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def confusion_matrix_figure(matrix: list[list[int]], class_names: list[str], title: str = "") -> go.Figure:
    counts = np.asarray(matrix)
    row_share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = go.Figure(go.Heatmap(
        z=row_share, x=class_names, y=class_names, customdata=counts, colorscale="Blues", zmin=0, zmax=1,
        text=counts, texttemplate="%{text}", colorbar=dict(title="share of row", tickformat=".0%"),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} images (%{z:.1%} of the row)<extra></extra>",
    ))
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                         height=460, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def parameter_figure(table: list[dict]) -> go.Figure:
    """Parameters per layer on a log axis, with the fully connected replacement of the conv layers beside them."""
    labels = [row["layer"].split(" (")[0] for row in table]
    colors = ["#2ca02c" if row["layer"].startswith("conv") else "#d62728" if "replace" in row["layer"] else "#7f7f7f"
              for row in table]
    figure = go.Figure(go.Bar(x=labels, y=[row["parameters"] for row in table], marker_color=colors,
                              text=[f"{row['parameters']:,}" for row in table], textposition="outside",
                              hovertemplate="%{x}: %{y:,} parameters<extra></extra>"))
    figure.update_layout(yaxis=dict(type="log", title="parameters"), height=360, margin=dict(l=10, r=10, t=20, b=10))
    return figure
