"""Home: what Glassbox is and what each lab shows."""
import streamlit as st

st.title("Glassbox")
st.write(
    "Look inside small, real, trained models from deep-learning coursework. Every model here was trained by "
    "this project's own code on real data, and every number on a page comes from its checkpoint's model card."
)

st.subheader("Vision lab")
st.write(
    "The homework CNN on Kuzushiji-MNIST (and OCTMNIST when its data can be downloaded): max-pool vs strided "
    "convolutions side by side on an example or your own image — class probabilities, the activation maps of "
    "both convolution layers, parameters per layer (and the fully connected layer a CNN avoids), the "
    "learning-rate sweep curves, test accuracy and confusion matrices."
)
st.page_link("labs/vision.py", label="Open the Vision lab", icon=":material/image:")

st.subheader("Metrics lab and Theory lab")
st.write(
    "What the other labs measure and compute. Metrics: Jaccard, cosine, Damerau-Levenshtein, Levenshtein, the "
    "translation error rate, CER, WER and chrF side by side on a real LJ Speech transcript, with an alignment "
    "that marks swaps and what each score ignores. Theory: a convolution written as a sparse matrix, "
    "self-attention on a tiny image (and why it cannot see order), and softmax vs linear attention, timed here."
)
st.page_link("labs/metrics.py", label="Open the Metrics lab", icon=":material/rule:")
st.page_link("labs/theory.py", label="Open the Theory lab", icon=":material/functions:")

st.subheader("Translation lab")
st.write(
    "The homework's character-level Spanish→English translator, a BiLSTM encoder and an LSTM decoder, trained "
    "without and with bilinear attention: both translations side by side with greedy and beam search, the "
    "attention heatmap of every output character over the source, the validation curves, and the test error "
    "rates beside the ones students reported."
)
st.page_link("labs/translation.py", label="Open the Translation lab", icon=":material/translate:")

st.subheader("Speech lab")
st.write(
    "The homework's speech recognizer, an audio encoder with an LSTM or a transformer character decoder: pick an "
    "example, upload a file or record yourself, and see every model's transcript side by side (greedy and beam "
    "search, timed, scored against a reference with a character alignment) next to PocketSphinx, a classic "
    "recognizer trained on real speech, then the cross-attention of each output "
    "character over the spectrogram, step by step, the transformer's self-attention, the training curves, and the "
    "test scores beside the students'."
)
st.page_link("labs/speech.py", label="Open the Speech lab", icon=":material/mic:")
