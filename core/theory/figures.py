"""Figures of the Theory lab: the convolution matrix, attention on a tiny image, linear-attention error and cost."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures import wrapped
from core.theory.conv_matrix import ConvolutionCheck, LayerCount
from core.theory.image_attention import ImageAttention, PermutationCheck


def convolution_matrix_figure(check: ConvolutionCheck) -> go.Figure:
    """Entries of A; zeros left blank so the banded sparsity pattern shows. Row = output pixel, column = input."""
    matrix = check.matrix
    rows, columns = matrix.shape
    shown = np.where(matrix == 0, np.nan, matrix)
    limit = float(np.abs(matrix).max()) or 1.0
    figure = go.Figure(go.Heatmap(
        z=shown, colorscale="RdBu", zmid=0, zmin=-limit, zmax=limit, xgap=1, ygap=1,
        text=np.where(matrix == 0, "", np.round(matrix, 2).astype(str)),
        texttemplate="%{text}" if rows * columns <= 900 else None, textfont=dict(size=9),
        hovertemplate="output %{y}, pixel %{x}: %{z:.2f}<extra></extra>", colorbar=dict(title="entry"),
    ))
    figure.update_layout(
        title=f"A is {rows} × {columns}; {check.nonzero_fraction:.1%} of its entries are non-zero",
        xaxis=dict(title="input pixel (row-major vec(x))", constrain="domain"),
        yaxis=dict(title="output pixel", autorange="reversed", scaleanchor="x"),
        plot_bgcolor="#f4f4f4", height=max(320, min(900, 120 + 14 * rows)), margin=dict(l=10, r=10, t=40, b=10),
    )
    return figure


def _image_panels(images: dict[str, np.ndarray], title: str, shared_scale: bool = False) -> go.Figure:
    """Images side by side; each colour bar lies flat under its own panel (or one bar for a shared scale), so no
    bar's ticks run into the next panel, on a phone either."""
    figure = make_subplots(rows=1, cols=len(images), subplot_titles=list(images), horizontal_spacing=0.08)
    values = np.concatenate([image.reshape(-1) for image in images.values()])
    for column, image in enumerate(images.values(), start=1):
        scale = dict(zmin=float(values.min()), zmax=float(values.max())) if shared_scale else {}
        domain = figure.layout[f"xaxis{column if column > 1 else ''}"].domain
        show_scale = column == len(images) or not shared_scale
        bar = (dict(x=0.5, len=1.0) if shared_scale else dict(x=(domain[0] + domain[1]) / 2, len=domain[1] - domain[0]))
        figure.add_trace(go.Heatmap(z=image, colorscale="Viridis", showscale=show_scale,
                                    colorbar=dict(orientation="h", y=-0.12, yanchor="top", thickness=10,
                                                  xanchor="center", nticks=4, **bar), **scale,
                                    hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>"),
                         row=1, col=column)
        figure.update_yaxes(autorange="reversed", scaleanchor=f"x{column if column > 1 else ''}",
                            row=1, col=column)
    figure.update_layout(title=wrapped(title, 40), height=400, margin=dict(l=10, r=10, t=80, b=50))
    figure.update_annotations(font_size=12)  # the panel titles, short enough for a phone-wide panel
    return figure


def convolution_outputs_figure(check: ConvolutionCheck) -> go.Figure:
    return _image_panels({"image x": check.image, "conv(x, filter)": check.by_convolution,
                          "A·vec(x), reshaped": check.by_matrix},
                         f"The two ways agree to {check.max_abs_difference:.1e}")


def parameter_figure(counts: dict[str, list[LayerCount]]) -> go.Figure:
    """Stacked bars per network, log axis: weight sharing makes the conv layer tiny."""
    figure = go.Figure()
    layers = sorted({count.layer for network in counts.values() for count in network},
                    key=lambda name: ["conv", "fully connected", "max-pool", "output"].index(name))
    for layer in layers:
        figure.add_trace(go.Bar(
            name=layer, y=list(counts),
            x=[sum(c.parameters for c in network if c.layer == layer) for network in counts.values()],
            orientation="h", text=[next((f"{c.parameters:,}" for c in network if c.layer == layer), "")
                                   for network in counts.values()],
        ))
    totals = {name: sum(c.parameters for c in network) for name, network in counts.items()}
    figure.update_layout(barmode="stack", height=320, margin=dict(l=10, r=10, t=40, b=70),
                         title=" vs ".join(f"{total:,}" for total in totals.values()) + " parameters",
                         xaxis=dict(title="parameters"),
                         legend=dict(orientation="h", y=-0.45, yanchor="top"))  # under the axis title, not on it
    return figure


def image_attention_figure(attention: ImageAttention) -> go.Figure:
    """softmax(x xᵀ) as an HW × HW heatmap: row = query pixel, column = key pixel (row-major)."""
    side = attention.image.shape[1]
    labels = [f"({index // side},{index % side})" for index in range(attention.weights.shape[0])]
    figure = go.Figure(go.Heatmap(
        z=attention.weights, x=labels, y=labels, colorscale="Blues", colorbar=dict(title="weight"),
        hovertemplate="query pixel %{y} → key pixel %{x}: %{z:.4f}<extra></extra>",
    ))
    figure.update_layout(title="Attention probabilities softmax(x xᵀ),<br>pixels in row-major order",
                         xaxis=dict(title="key pixel (row, column)", showticklabels=False),
                         yaxis=dict(title="query pixel (row, column)", autorange="reversed", showticklabels=False,
                                    scaleanchor="x"),
                         height=580, margin=dict(l=10, r=10, t=60, b=10))
    return figure


def image_output_figure(attention: ImageAttention) -> go.Figure:
    return _image_panels({"image x": attention.image, "output softmax(x xᵀ) x": attention.output},
                         "Each output pixel is a weighted mean of all pixel values")


def permutation_figure(check: PermutationCheck) -> go.Figure:
    return _image_panels({"permuted image Px": check.permuted_image,
                          "attention(Px)": check.permuted_output,
                          "P · attention(x)": check.output_then_permuted},
                         f"Permuting first or after gives the same output (max difference "
                         f"{check.max_abs_difference:.1e})", shared_scale=True)


def feature_dimension_figure(dim: int, dimensions: dict[int, int], chosen_order: int) -> go.Figure:
    orders = list(dimensions)
    figure = go.Figure(go.Bar(
        x=orders, y=list(dimensions.values()), text=[f"{m:,}" for m in dimensions.values()],
        marker_color=["#e76f51" if order == chosen_order else "#6a9fd8" for order in orders],
    ))
    figure.update_layout(title=f"Feature dimension M for D = {dim}", xaxis=dict(title="order K", dtick=1),
                         yaxis=dict(title="M", type="log"), height=320, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def approximation_error_figure(errors: dict[int, float], length: int, dim: int) -> go.Figure:
    figure = go.Figure(go.Scatter(x=list(errors), y=list(errors.values()), mode="lines+markers"))
    figure.update_layout(title=f"Mean |linear − exact| attention output<br>(L = {length}, D = {dim})",
                         xaxis=dict(title="order K", dtick=1), yaxis=dict(title="mean absolute error", type="log"),
                         height=340, margin=dict(l=10, r=10, t=60, b=10))
    return figure


def timing_figure(timing: dict) -> go.Figure:
    """Measured time vs L on log axes; the crossover length is marked where the linear curve drops below."""
    figure = go.Figure([
        go.Scatter(x=timing["lengths"], y=timing["exact_seconds"], mode="lines+markers",
                   name="exact softmax, O(L²D)"),
        go.Scatter(x=timing["lengths"], y=timing["linear_seconds"], mode="lines+markers",
                   name=f"linear, O(LMD), M = {timing['feature_dimension']}"),
    ])
    crossover = timing["measured_crossover_length"]
    if crossover:
        figure.add_vline(x=crossover, line_dash="dash", line_color="#e76f51",
                         annotation_text=f"crossover L ≈ {crossover:.0f}", annotation_position="top left")
    figure.update_layout(title=f"Measured time per call on this machine ({timing['threads']} thread)",
                         xaxis=dict(title="sequence length L", type="log"),
                         yaxis=dict(title="seconds", type="log"), height=420,
                         margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return figure
