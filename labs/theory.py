"""Theory lab: convolution as a matrix, self-attention on a tiny image, and linear attention's error and cost."""
import streamlit as st

from core.errors import GlassboxError
from core.figures import CHART_CONFIG
from core.theory import conv_matrix, figures, image_attention, linear_attention
from core.vision.data import load_kmnist_10k

KMNIST_SOURCE = "KMNIST test image"
IMAGE_SOURCES = [KMNIST_SOURCE, *image_attention.PATTERNS]


@st.cache_data
def image_for(source: str, size: int, index: int):
    """A KMNIST test character shrunk to size×size (the Vision lab's data), or a synthetic pattern."""
    if source == KMNIST_SOURCE:
        images, _ = load_kmnist_10k().splits["test"]
        return image_attention.shrink_image(images[index], size)
    return image_attention.pattern_image(source, size)


@st.cache_data(show_spinner="Timing exact and linear attention…", max_entries=16)
def timing(dim: int, order: int, lengths: tuple[int, ...]) -> dict:
    return linear_attention.attention_timing(linear_attention.TimingConfig(dim=dim, order=order, lengths=lengths, repeats=3))


@st.cache_data(max_entries=32)
def errors_by_order(length: int, dim: int) -> dict[int, float]:
    return linear_attention.approximation_errors(length, dim, list(range(7)))


def convolution_as_a_matrix() -> None:
    st.header("Convolution as a matrix")
    columns = st.columns(6)
    height = columns[0].number_input("H (image rows)", 2, 12, 4)
    width = columns[1].number_input("W (image columns)", 2, 12, 4)
    kernel_height = columns[2].number_input("M (filter rows)", 1, 12, 2)
    kernel_width = columns[3].number_input("N (filter columns)", 1, 12, 2)
    pool = columns[4].number_input("pool size", 1, 6, 2)
    seed = columns[5].number_input("seed", 0, 9999, 0)
    try:
        check = conv_matrix.check_convolution_matrix(height, width, kernel_height, kernel_width, seed)
        counts = conv_matrix.parameter_counts(height, width, kernel_height, kernel_width, pool, classes=10)
    except GlassboxError as error:
        st.error(str(error))
        return
    st.plotly_chart(figures.convolution_matrix_figure(check), width="stretch", config=CHART_CONFIG)
    left, right = st.columns([3, 1])
    left.plotly_chart(figures.convolution_outputs_figure(check), width="stretch", config=CHART_CONFIG)
    right.metric("max |A·vec(x) − conv(x)|", f"{check.max_abs_difference:.1e}")
    right.write("Filter (rounded to 2 decimals):")
    right.dataframe(check.kernel, hide_index=True)
    st.plotly_chart(figures.parameter_figure(counts), width="stretch", config=CHART_CONFIG)
    st.caption("Parameters (weights and biases) of one conv filter + max-pool + a 10-class output layer, against "
               "a fully connected layer with the same (H−M+1)(W−N+1) outputs in place of the conv. Each row of A "
               "reuses the same M·N numbers: that is the weight sharing the conv layer's count reflects.")


def attention_on_an_image() -> None:
    st.header("Self-attention on a flattened image")
    columns = st.columns(4)
    source = columns[0].selectbox("Image", IMAGE_SOURCES)
    index = columns[1].number_input("KMNIST test index", 0, 999, 0, disabled=source != KMNIST_SOURCE)
    side = columns[2].slider("Side (pixels)", 4, 12, 8)
    permutation_seed = columns[3].number_input("Permutation seed", 0, 9999, 1)
    try:
        image = image_for(source, side, index)
    except GlassboxError as error:
        st.error(str(error))
        return
    attention = image_attention.image_self_attention(image)
    st.plotly_chart(figures.image_output_figure(attention), width="stretch", config=CHART_CONFIG)
    st.plotly_chart(figures.image_attention_figure(attention), width="stretch", config=CHART_CONFIG)
    permuted = image_attention.permutation_check(image, permutation_seed)
    st.plotly_chart(figures.permutation_figure(permuted), width="stretch", config=CHART_CONFIG)
    st.metric("max |attention(Px) − P·attention(x)|", f"{permuted.max_abs_difference:.1e}")
    st.caption("With q = k = v = vec(x) and no positional encoding, a pixel's weights depend only on its value "
               "and the multiset of all values: equal pixels get equal outputs wherever they are, and shuffling "
               "the pixels shuffles the output the same way. The layer cannot see shape, only intensities.")


def softmax_vs_linear_attention() -> None:
    st.header("Softmax attention vs its linear approximation")
    columns = st.columns(4)
    dim = columns[0].slider("D (query/key dimension)", 1, 16, 8)
    order = columns[1].slider("K (McLaurin order)", 0, 6, 3)
    length = columns[2].select_slider("L for the error", [16, 64, 256, 1024], 256)
    max_length = columns[3].select_slider("longest L timed", [256, 512, 1024, 2048, 4096], 2048)
    dimensions = {k: linear_attention.feature_dimension(dim, k) for k in range(7)}
    left, right = st.columns(2)
    left.metric("Feature dimension M = Σₙ C(n+D−1, D−1)", f"{dimensions[order]:,}")
    left.plotly_chart(figures.feature_dimension_figure(dim, dimensions, order), width="stretch", config=CHART_CONFIG)
    errors = errors_by_order(length, dim)
    right.metric(f"Mean error at K = {order}", f"{errors[order]:.2e}" if order in errors else "over budget")
    right.plotly_chart(figures.approximation_error_figure(errors, length, dim), width="stretch", config=CHART_CONFIG)
    if len(errors) < 7:
        right.caption(f"Orders {', '.join(str(k) for k in range(7) if k not in errors)} are left out at L = {length}, "
                      f"D = {dim}: their feature maps would need more than {budget_words()} on this shared server.")
    lengths = [2 ** n for n in range(4, max_length.bit_length())]
    affordable = linear_attention.affordable_lengths(lengths, dim, order)
    if len(affordable) < len(lengths):
        st.info(f"With D = {dim} and K = {order} the timing stops at L = {max(affordable, default=0):,}: longer "
                f"sequences would need more than {budget_words()} on this shared server.")
    if len(affordable) >= 2 and st.button("Measure time vs L on this machine", help="Takes a few seconds."):
        measured_time_vs_length(dim, order, tuple(affordable))


def budget_words() -> str:
    return f"{linear_attention.FEATURE_BUDGET / 2 ** 20:.0f} M numbers"


def measured_time_vs_length(dim: int, order: int, lengths: tuple[int, ...]) -> None:
    max_length = lengths[-1]
    measured = timing(dim, order, lengths)
    st.plotly_chart(figures.timing_figure(measured), width="stretch", config=CHART_CONFIG)
    crossover = measured["measured_crossover_length"]
    flops_crossover = measured["flops_crossover_length"]
    st.metric("Measured crossover length L", f"{crossover:.0f}" if crossover else f"beyond {max_length}")
    st.caption(f"By FLOP count (4L²D vs 4LMD + feature maps) linear attention should win from L ≈ "
               f"{flops_crossover:.0f}" if flops_crossover else "By FLOP count linear attention does not win here")


def main() -> None:
    st.title("Theory lab")
    st.caption("What the vision and sequence labs compute, checked numerically on inputs you choose.")
    convolution_as_a_matrix()
    attention_on_an_image()
    softmax_vs_linear_attention()


main()
