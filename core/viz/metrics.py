"""Figures of the Metrics lab: scores side by side, a character alignment, and how metrics rank preset pairs."""
from __future__ import annotations

import plotly.graph_objects as go

from core.metrics import METRICS, AlignmentStep

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
        y=[info.label for info in infos],
        orientation="h",
        marker_color=[SIMILARITY_COLOR if info.higher_is_better else ERROR_COLOR for info in infos],
        text=[f"{scores[info.key]:.3f}" for info in infos],
        textposition="outside",
        hovertext=[f"{'higher' if info.higher_is_better else 'lower'} is better" for info in infos],
    ))
    top = max([1.0] + [scores[info.key] for info in infos])
    figure.update_layout(
        title="Scores (green: similarity, higher is better; red: error rate, lower is better)",
        xaxis=dict(range=[0, top * 1.2]), yaxis=dict(autorange="reversed"),
        height=60 + 32 * len(infos), margin=dict(l=10, r=10, t=40, b=10),
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
        title="Alignment: reference (upper row) over hypothesis (lower row)",
        yaxis=dict(autorange="reversed", showticklabels=False, range=[rows - 0.5, -0.5]),
        xaxis=dict(showticklabels=False), height=90 + 26 * rows, plot_bgcolor="white",
        margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.05),
    )
    return figure


def _char(chars: str, offset: int) -> str:
    char = chars[offset] if offset < len(chars) else ""
    return "␣" if char == " " else char


def disagreement_figure(table: dict[str, dict[str, float]], ranks: dict[str, dict[str, int]]) -> go.Figure:
    """Which preset pair each metric judges best (rank 1) to worst; the cell text is the score itself."""
    names = list(table)
    figure = go.Figure(go.Heatmap(
        z=[[ranks[name][info.key] for info in METRICS] for name in names],
        x=[info.label for info in METRICS], y=names,
        text=[[_format(table[name][info.key]) for info in METRICS] for name in names],
        texttemplate="%{text}", colorscale="RdYlGn_r", zmin=1, zmax=len(names),
        colorbar=dict(title="rank<br>(1 = best)"),
        hovertemplate="%{y} under %{x}: score %{text}, rank %{z}<extra></extra>",
    ))
    figure.update_layout(title="Same reference, four kinds of damage: each metric's ranking",
                         height=140 + 45 * len(names), margin=dict(l=10, r=10, t=40, b=10),
                         xaxis=dict(tickangle=-30), yaxis=dict(autorange="reversed"))
    return figure


def _format(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"
