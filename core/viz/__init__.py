"""Plotly figures built from core outputs, shared by the Streamlit pages and the Gradio app.

One module per lab (`vision`, `translation`, `speech`, ...); figures used by several labs (attention
heatmaps, training curves) live in `common`.
"""
