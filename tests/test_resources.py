"""The server's shared resources: `warm()` leaves every shipped model loaded and the Speech lab's first example
transcribed, so the first visitor waits for neither."""
import subprocess
import sys

import pytest

from core.checkpoints import list_checkpoints
from core.paths import REPO_ROOT
from core.speech import examples
from core.speech.pocketsphinx import INSTALLED, POCKETSPHINX
from labs import resources


def test_warm_loads_every_shipped_model_and_transcribes_the_first_example():
    report = resources.warm()
    assert all(message.startswith("octmnist") for message in report["not_loaded"]), report  # the one preset not shipped
    audio_bytes = examples.example_path(examples.load_examples()[0]).read_bytes()
    key = resources.audio_key(audio_bytes)
    lines = resources.decode_queues()
    names = list_checkpoints("asr")
    assert names
    for name in names:  # a job the warm-up did not leave would run pytest.fail on the decode thread
        job = lines[resources.MODELS].submit((key, name, 1), pytest.fail, f"{name} decoded the example again")
        assert job.done() and job.result().text.strip()
    if INSTALLED:
        job = lines[POCKETSPHINX].submit((key, POCKETSPHINX), pytest.fail, "PocketSphinx decoded the example again")
        assert job.done() and job.result().text.strip()


def test_warm_leaves_the_first_visitor_no_slow_imports():
    """In a fresh process: after warm(), what the Speech lab's first page draws (plotly heatmaps, the pandas score
    table and its jinja2 templates, scipy under the evaluation code) is already imported."""
    probe = ("import sys; from labs import resources; resources.warm(); "
             "print(' '.join(m for m in ['jinja2', 'pandas.io.formats.style', 'scipy.signal', 'core.speech.evaluation', "
             "'plotly.graph_objs._heatmap'] if m not in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"imported only when the first visitor comes: {done.stdout}"
