"""The translation lab's figures, for the Streamlit page and the Gradio tab alike (drawn by core.figures)."""
from __future__ import annotations

import plotly.graph_objects as go

from core.figures import attention_heatmap, training_curves_figure
from core.translation.inference import Translation

CURVE_TITLES = {"val_error_rate": "validation error rate (greedy)", "train_loss": "training loss"}


def attention_figure(result: Translation, highlight_step: int | None = None, title: str | None = None) -> go.Figure:
    """Where each output character (stop token included) looked in the normalised source; 1-based `highlight_step`."""
    return attention_heatmap(result.attention, result.output_tokens, result.source_characters, title=title,
                             highlight_row=None if highlight_step is None else highlight_step - 1)


def training_curves(cards: dict[str, dict]) -> go.Figure:
    """Validation error rate and training loss per epoch of each card (label -> card), the kept epoch starred."""
    return training_curves_figure(
        {label: card["curves"] for label, card in cards.items()}, list(CURVE_TITLES), titles=CURVE_TITLES,
        marker_epoch={label: card["training"]["weights_from_epoch"] for label, card in cards.items()},
    )
