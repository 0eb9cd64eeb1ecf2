"""The server's shared resources: `warm()` leaves every shipped model loaded and the Speech lab's first example
transcribed, so the first visitor waits for neither."""
import pytest

from core.checkpoints import list_checkpoints
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
