"""The Speech lab's "your model": a recognizer trained elsewhere with `python -m core train asr` (on a GPU, say).

Its two files, the .safetensors and the .json card that training wrote, are checked as a shipped checkpoint is
(sha256, safetensors only, strict loading) and then join the lab as one more column. The model lives in this
visitor's session only: nothing is written to disk, and other visitors never see it.
"""
import hashlib

import streamlit as st

from core.checkpoints import count_trainable_parameters, load_uploaded_model
from core.errors import GlassboxError
from core.speech.model import SpeechRecognizer

SESSION_KEY = "your_recognizer"  # (weights sha256, {name: (model, card)}) of the files last uploaded


def uploaded_recognizer() -> dict:
    """{name: (model, card)} for the recognizer this visitor uploaded; empty without one or when it cannot load."""
    with st.expander("Your model: a recognizer you trained with `python -m core train asr`"):
        files = st.file_uploader("Its checkpoint: the .safetensors and the .json card written beside it",
                                 type=["safetensors", "json"], accept_multiple_files=True, key="your_asr")
        weights = [file for file in files or [] if file.name.endswith(".safetensors")]
        card = [file for file in files or [] if file.name.endswith(".json")]
        if not files:
            st.caption("It joins the shipped models as one more column, decoded as its card says. "
                       "Only you see it, and it is gone when you close the page.")
            return {}
        if len(weights) != 1 or len(card) != 1:
            st.error("Upload exactly two files: one .safetensors and its .json card.")
            return {}
        weights_bytes = weights[0].getvalue()
        digest = hashlib.sha256(weights_bytes).hexdigest()
        if st.session_state.get(SESSION_KEY, (None,))[0] != digest:
            try:
                model, model_card = load_uploaded_model(weights_bytes, card[0].getvalue(), SpeechRecognizer)
            except GlassboxError as error:
                st.error(str(error))
                return {}
            name = f"yours/{str(model_card.get('name', 'model')).split('/')[-1]}-{digest[:8]}"
            st.session_state[SESSION_KEY] = (digest, {name: (model, model_card)})
        recognizer = st.session_state[SESSION_KEY][1]
        (name, (model, _)), = recognizer.items()
        st.success(f"Loaded {name}: {count_trainable_parameters(model):,} parameters.")
        return recognizer
