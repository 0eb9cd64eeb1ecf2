"""Metrics lab: every string score side by side, what each one ignores, and pairs on which they disagree."""
import streamlit as st

from core import figures, metrics
from core.figures import CHART_CONFIG
from core.errors import BadInputError
from core.speech import vocabulary

EXAMPLES = {f"{metrics.SPEECH_EXAMPLE.name} (speech example)": metrics.SPEECH_EXAMPLE}
EXAMPLES.update({f"{pair.name} (preset)": pair for pair in metrics.DISAGREEMENT_PRESETS})


def load_example() -> None:
    pair = EXAMPLES[st.session_state.example]
    st.session_state.reference, st.session_state.hypothesis = pair.reference, pair.hypothesis


@st.cache_data
def disagreement():
    table = metrics.disagreement_table(vocabulary.encode)
    return table, metrics.rank_pairs(table)


st.title("Metrics lab")
st.caption("How the labs score a transcript or a translation, and what each score cannot see.")
if "reference" not in st.session_state:
    st.session_state.reference = metrics.SPEECH_EXAMPLE.reference
    st.session_state.hypothesis = metrics.SPEECH_EXAMPLE.hypothesis

st.selectbox("Load an example", list(EXAMPLES), key="example", on_change=load_example)
left, right = st.columns(2)
reference = left.text_area("Reference", key="reference", height=90)
hypothesis = right.text_area("Hypothesis", key="hypothesis", height=90)
note = next((pair.note for pair in EXAMPLES.values()
             if (pair.reference, pair.hypothesis) == (reference, hypothesis)), "")
if note:
    st.caption(note)

if not reference.strip():
    st.error("Type a reference: every score is measured against it.")
    st.stop()
try:
    metrics.check_alignable(reference=reference, hypothesis=hypothesis)
except BadInputError as error:
    st.error(str(error))
    st.stop()

scores = metrics.every_score(hypothesis, reference, vocabulary.encode)
st.subheader("Every score, and what it ignores")
for row_start in range(0, len(metrics.METRICS), 4):
    for column, info in zip(st.columns(4), metrics.METRICS[row_start:row_start + 4]):
        value = scores[info.key]
        column.markdown(f"**{info.label}**", help=f"{'Higher' if info.higher_is_better else 'Lower'} is better; "
                        f"unit: {info.unit}.")  # a wrapping label: st.metric would cut a long one short
        column.metric(info.label, metrics.shown_score(info.key, value), label_visibility="collapsed")
        column.caption(f"**Ignores:** {info.ignores}")

bars, tokens = st.columns([3, 2])
bars.plotly_chart(figures.score_bars(scores), width="stretch", config=CHART_CONFIG)
tokens.plotly_chart(figures.token_comparison(scores), width="stretch", config=CHART_CONFIG)
tokens.caption("The ASR homework scored lists of token indices wrapped in `<` and `>`: "
               f"{vocabulary.encode(hypothesis)[:12]}… The two shared tokens always match.")

steps = metrics.transposition_alignment(hypothesis, reference)
counts = metrics.operation_counts(steps)
st.subheader("Alignment")
st.plotly_chart(figures.alignment_figure(steps, columns=30), width="stretch", config=CHART_CONFIG)  # 30 fit a phone
st.caption(f"{counts['substitute']} substitutions, {counts['insert']} insertions, {counts['delete']} deletions, "
           f"{counts['transpose']} transpositions: {sum(counts.values()) - counts['equal']} Damerau-Levenshtein "
           f"edits, against {scores['levenshtein_distance']} Levenshtein edits (a swap costs two there).")

st.subheader("Why they disagree")
table, ranks = disagreement()
st.plotly_chart(figures.disagreement_figure(table, ranks), width="stretch", config=CHART_CONFIG)
for pair in metrics.DISAGREEMENT_PRESETS:
    st.markdown(f"- **{pair.name}**: `{pair.hypothesis}` — {pair.note}")
st.caption(f"Reference for all four: `{metrics.DISAGREEMENT_REFERENCE}` (LJ Speech LJ001-0002). "
           "Load any of them above to see its alignment.")
