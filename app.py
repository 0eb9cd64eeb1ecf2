"""Glassbox: st.navigation over the labs in labs/; nothing else lives here."""
import streamlit as st

from core import paths

# A file, not ":material/…:": Streamlit fetches a material favicon from fonts.gstatic.com; everything here is offline.
st.set_page_config(page_title="Glassbox", page_icon=str(paths.ASSETS / "favicon.png"), layout="wide")

LABS = [
    st.Page("labs/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("labs/vision.py", title="Vision lab", icon=":material/image:", url_path="vision"),
    st.Page("labs/metrics.py", title="Metrics lab", icon=":material/rule:", url_path="metrics"),
    st.Page("labs/theory.py", title="Theory lab", icon=":material/functions:", url_path="theory"),
    st.Page("labs/translation.py", title="Translation lab", icon=":material/translate:", url_path="translation"),
    st.Page("labs/speech.py", title="Speech lab", icon=":material/mic:", url_path="speech"),
]

st.navigation(LABS).run()
