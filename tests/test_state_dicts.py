"""Reading uploaded weights: state_dicts and safetensors are read, everything that could run code or is damaged is
refused with its own message, and nothing from the file ever executes."""
import io
import os
import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save as save_safetensors

from core import state_dicts
from core.state_dicts import SAVE_STATE_DICT, StudentCheckpointError, read_student_weights


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 2, 3)
        self.fc1 = torch.nn.Linear(4, 3)


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def with_pickle(data: bytes, new_pickle: bytes) -> bytes:
    """The same torch archive with its data.pkl replaced."""
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for entry in source.infolist():
            archive.writestr(entry, new_pickle if entry.filename.endswith("data.pkl") else source.read(entry))
    return target.getvalue()


def test_a_state_dict_is_read_with_its_names_and_values():
    model = TinyNet()
    weights = read_student_weights(saved(model.state_dict()), "model.pt")
    assert set(weights.tensors) == set(model.state_dict())
    assert torch.equal(weights.tensors["conv1.weight"], model.conv1.weight)
    assert weights.parameter_count == sum(p.numel() for p in model.parameters())
    assert weights.file_format == "torch.save zip" and weights.unwrapped_from is None


def test_tied_weights_saved_under_two_names_count_once():
    """A decoder whose output layer shares its embedding's matrix (as the translation homework's does)."""
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.generator = torch.nn.Embedding(7, 4), torch.nn.Linear(4, 7)
            self.generator.weight = self.embedding.weight

    model = Tied()
    weights = read_student_weights(saved(model.state_dict()), "tied.pt")
    assert set(weights.tensors) == {"embedding.weight", "generator.weight", "generator.bias"}
    assert weights.parameter_count == sum(p.numel() for p in model.parameters()) == 7 * 4 + 7


def test_a_training_checkpoint_is_unwrapped():
    model = TinyNet()
    weights = read_student_weights(saved({"epoch": 3, "model_state_dict": model.state_dict()}), "ckpt.pth")
    assert weights.unwrapped_from == "model_state_dict" and set(weights.tensors) == set(model.state_dict())


def test_safetensors_are_read():
    model = TinyNet()
    weights = read_student_weights(save_safetensors(dict(model.state_dict())), "model.safetensors")
    assert weights.file_format == "safetensors" and torch.equal(weights.tensors["fc1.bias"], model.fc1.bias)


def test_a_whole_pickled_model_is_refused_with_the_line_that_fixes_it():
    with pytest.raises(StudentCheckpointError) as error:
        read_student_weights(saved(TinyNet()), "model.pt")
    assert "whole pickled model" in str(error.value) and SAVE_STATE_DICT in str(error.value)
    assert "TinyNet" in str(error.value)


def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    data = with_pickle(saved(TinyNet().state_dict()), pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(StudentCheckpointError, match="would run code"):
        read_student_weights(data, "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize("data, filename, message", [
    (b"", "empty.pt", "is empty"),
    (os.urandom(2048), "noise.pt", "not a checkpoint torch can write"),
    (b"\x00" * 64, "zeros.safetensors", "not a readable .safetensors"),
])
def test_files_that_are_not_checkpoints_get_their_own_message(data, filename, message):
    with pytest.raises(StudentCheckpointError, match=message):
        read_student_weights(data, filename)


def test_a_truncated_checkpoint_is_refused():
    data = saved(TinyNet().state_dict())
    with pytest.raises(StudentCheckpointError, match="damaged|truncated|not a checkpoint"):
        read_student_weights(data[: len(data) // 2], "cut.pt")


def test_oversized_uploads_and_zip_bombs_are_refused(monkeypatch):
    with pytest.raises(StudentCheckpointError, match="up to 50 MB"):
        read_student_weights(b"x" * (state_dicts.MAX_UPLOAD_BYTES + 1), "huge.pt")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        archive.writestr("archive/data/0", b"\x00" * (2 * 2**20))
    monkeypatch.setattr(state_dicts, "MAX_UNPACKED_BYTES", 2**20)
    assert len(bomb.getvalue()) < 2**20 / 50  # it is small on disk, large unpacked
    with pytest.raises(StudentCheckpointError, match="unpacks to more than"):
        read_student_weights(bomb.getvalue(), "bomb.pt")


def test_diverged_weights_are_refused_by_name():
    state = TinyNet().state_dict()
    state["fc1.weight"][0, 0] = float("nan")
    with pytest.raises(StudentCheckpointError, match="fc1.weight contains NaN"):
        read_student_weights(saved(state), "nan.pt")
