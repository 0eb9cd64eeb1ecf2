"""Home: a picture, one plain sentence and a first thing to try per lab, one click from each; jargon one level down.

The pictures are screenshots of the labs (assets/home/, made by `python -m tests.screenshots thumbnails`); what
each model learned from is read from its card by the same function the lab itself calls, so both say the same.
"""
from typing import NamedTuple

import streamlit as st

from core import paths
from core.checkpoints import list_checkpoints, read_card
from core.errors import GlassboxError
from core.speech.card import training_data_summary as speech_training_data
from core.translation.evaluation import training_data_summary as translation_training_data
from core.translation.inference import ATTENTION_MODEL
from core.vision.protocol import training_data_summary as vision_training_data

THUMBNAILS = paths.ASSETS / "home"


class Lab(NamedTuple):
    page: str  # labs/<page>.py, assets/home/<page>.png
    title: str  # as in app.py's navigation
    icon: str
    see: str  # one plain sentence: what you will see
    try_first: str
    jargon: str  # markdown for the "what is this?" expander


LABS = [
    Lab("vision", "Vision lab", ":material/image:",
        "Two small networks guess which of 10 handwritten Japanese characters an image shows, and you see what each "
        "layer picked out on the way.",
        "Pick another example, then upload any picture of your own: see how sure each model is, and the warning when "
        "your image is unlike anything it learned from.",
        "**CNN** (convolutional neural network): a network that slides small filters over the image. **Max-pool vs "
        "strided**: two ways to shrink the image between layers, keeping the largest value of each 2×2 patch, or "
        "letting the filter step two pixels at a time. **Activation maps**: what each filter responded to. "
        "**Kuzushiji-MNIST**: 28×28 scans of cursive hiragana from old Japanese books."),
    Lab("translation", "Translation lab", ":material/translate:",
        "Two small models translate short Spanish sentences into English one letter at a time; a heatmap shows which "
        "Spanish letters one of them looked at for every English letter it wrote.",
        "Type “¿Dónde está la estación?”, then move the output-step slider: each row of the heatmap is one English "
        "letter. Click the example sentences and compare each translation with the person's reference.",
        "**Character-level**: the models read and write letters, not words. **Encoder / decoder**: one network reads "
        "the Spanish (a **BiLSTM**, reading forwards and backwards), another writes the English (an **LSTM**). "
        "**Bilinear attention**: at each step the writer scores every Spanish letter against what it is writing and "
        "looks at the best-scoring ones. **Greedy vs beam search**: keep only the likeliest next letter, or several "
        "candidate sentences at once."),
    Lab("speech", "Speech lab", ":material/mic:",
        "Small speech recognizers write down an English recording letter by letter, next to a classic recognizer, "
        "and show where in the sound each letter came from.",
        "Pick the first example recording and compare each model's transcript with the reference underneath; then "
        "record yourself.",
        "**Spectrogram**: the sound's energy per frequency over time, the picture the models listen to. "
        "**Cross-attention**: for each letter written, how much each moment of the recording counted. **Synthetic "
        "voices**: text-to-speech voices reading the LJ Speech sentences, which is most of what these models heard. "
        "**PocketSphinx**: a classic recognizer trained on real speech, for comparison."),
    Lab("metrics", "Metrics lab", ":material/rule:",
        "Type a reference and a guess and see every score the labs use side by side, with the letters that differ "
        "marked.",
        "Load the “transposition” preset: two swapped letters cost one edit in one score and two in another.",
        "**Levenshtein distance**: the fewest single-letter insertions, deletions and substitutions from one text to "
        "the other. **Damerau-Levenshtein**: the same, but swapping two neighbouring letters counts as one edit. "
        "**CER / WER**: that distance per letter or per word of the reference. **chrF**: overlap of letter sequences. "
        "**Jaccard, cosine**: overlap of words, ignoring their order."),
    Lab("theory", "Theory lab", ":material/functions:",
        "The maths behind the other labs, checked with numbers you choose: a convolution written as one big matrix, "
        "attention on a tiny image, and a faster approximation of attention.",
        "In “Self-attention on a flattened image”, change the permutation seed: shuffling the pixels shuffles the "
        "output the same way, so attention alone cannot see shape.",
        "**Convolution as a matrix**: sliding a filter equals multiplying by a sparse matrix that repeats the same "
        "few numbers. **Self-attention**: each pixel becomes a weighted mix of all pixels. **Linear attention**: "
        "replacing the softmax with a truncated McLaurin (Taylor) series so the cost grows with the length, not its "
        "square."),
]


def training_data(page: str) -> list[str]:
    """What the lab's shipped models learned from, in the very words the lab shows (empty: nothing trained here)."""
    try:
        if page == "vision":
            return [vision_training_data(read_card("cnn/kmnist-maxpool"))]
        if page == "translation":
            return [translation_training_data(read_card(ATTENTION_MODEL))]
        if page == "speech":
            return [f"`{name.split('/')[1]}`: {speech_training_data(read_card(name))}" for name in list_checkpoints("asr")]
    except GlassboxError as error:
        return [f"No shipped model to describe: {error}"]
    return []


def lab_card(lab: Lab) -> None:
    with st.container(border=True):
        st.subheader(lab.title)
        picture, words = st.columns([2, 3], vertical_alignment="center")
        thumbnail = THUMBNAILS / f"{lab.page}.png"
        if thumbnail.exists():
            picture.image(str(thumbnail), width="stretch")
        with words:
            st.write(lab.see)
            st.markdown(f"**Try first:** {lab.try_first}")
            for sentence in training_data(lab.page):
                st.caption(sentence)
            st.page_link(f"labs/{lab.page}.py", label=f"Open the {lab.title}", icon=lab.icon)
            with st.expander("What is this?"):
                st.markdown(lab.jargon)


st.title("Glassbox")
st.write("Small trained models you can look inside. Each lab below is one click away: open one, try the "
         "suggested first thing, and see what the model does and why.")
with st.expander("Where do the models come from?"):
    st.write("Every model was trained by this project's own code from deep-learning homework, and every number on "
             "a page comes from its checkpoint's model card. What each one learned from is written under its lab, "
             "in the same words the lab uses: the speech models, for instance, heard mostly synthetic voices.")
for lab in LABS:
    lab_card(lab)
