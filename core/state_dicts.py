"""Reading the weights a student's homework script saved, without running any code from the file.

Accepted: `torch.save(model.state_dict(), "model.pt")` (.pt/.pth/.bin, the zip format torch has written since 1.6),
`.safetensors`, and the same dict wrapped in a training checkpoint ({"model_state_dict": ...}). The pickle inside a
torch file is read opcode by opcode first (`pickletools`, which executes nothing), so a whole pickled model
(`torch.save(model, ...)`) is refused with the one line that fixes it; `torch.load(weights_only=True)` is the second
lock. Which homework model the tensors belong to is the labs' question (core/vision, core/translation).
"""
from __future__ import annotations

import io
import pickletools
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from core.errors import BadInputError

STUDENT_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors"}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a homework CNN or translator is 1-8 MB; this leaves room and bounds memory
MAX_UNPACKED_BYTES = 4 * MAX_UPLOAD_BYTES  # torch stores tensors uncompressed: more than this inside is a zip bomb
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")  # where training loops nest the weights
# Globals a plain state_dict's pickle names: the dict type and torch's tensor rebuilders and storages.
STATE_DICT_GLOBALS = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter",
                      "torch._utils _rebuild_parameter_with_state", "torch._tensor _rebuild_from_type_v2",
                      "torch.serialization _get_layout", "torch device", "torch Size", "builtins dict", "__builtin__ dict"}
SAVE_STATE_DICT = 'torch.save(model.state_dict(), "model.pt")'


class StudentCheckpointError(BadInputError):
    """An uploaded checkpoint cannot be read as weights; the message says why and what to do."""


@dataclass
class StudentWeights:
    """The tensors of an uploaded file and how they were found (`unwrapped_from`: a training checkpoint's key)."""

    tensors: dict[str, torch.Tensor]
    file_format: str
    unwrapped_from: str | None = None

    @property
    def parameter_count(self) -> int:
        """Numbers the file holds: a tensor saved under two names (tied weights, e.g. the translator's generator and
        target embedding) counts once, as it does in the model's parameters()."""
        distinct = {(tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape)): tensor.numel()
                    for tensor in self.tensors.values()}
        return sum(distinct.values())


@dataclass
class Detection:
    """Which homework model a lab found in the tensors, and how their names map onto Glassbox's model.

    `variants` lists the readings the file cannot tell apart (the CNN's max-pool and strided variants have the
    same tensors); `renamed` maps the student's key to Glassbox's; `tied` names tensors stored twice."""

    task: str  # the checkpoint task of the lab: "cnn", "mt"
    architecture: str  # in words, e.g. "homework CNN, Kuzushiji-MNIST preset (conv1 8x5x5, fc1 576->600)"
    parameters: int
    config: dict  # the lab's model config, as a card's architecture holds it (without the variant when ambiguous)
    variants: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    tied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# A lab's detector: None when the tensors are not its model; a StudentCheckpointError naming the first layer
# that does not fit when they almost are.
Detector = Callable[[StudentWeights], "Detection | None"]


def detect(weights: StudentWeights, detectors: list[Detector], filename: str) -> list[Detection]:
    """Every lab's reading of the tensors; an unknown architecture is a user error that lists what was seen."""
    found = [detection for detector in detectors if (detection := detector(weights)) is not None]
    if not found:
        shapes = ", ".join(f"{name} {tuple(tensor.shape)}" for name, tensor in list(weights.tensors.items())[:4])
        raise StudentCheckpointError(
            f"{filename}: {len(weights.tensors)} tensors ({weights.parameter_count:,} parameters) that match no homework "
            f"model Glassbox knows (the CNN of homework 2 in either preset, the character translator with or without "
            f"attention). First tensors: {shapes}.")
    return found


def read_student_file(path: Path) -> StudentWeights:
    """`read_student_weights` for a file on disk (the command line), refusing oversized files before reading them."""
    if not path.is_file():
        raise StudentCheckpointError(f"{path} is not a file.")
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise StudentCheckpointError(f"{path.name} is {path.stat().st_size / 2**20:.1f} MB; checkpoints up to "
                                     f"{MAX_UPLOAD_BYTES // 2**20} MB are accepted.")
    return read_student_weights(path.read_bytes(), path.name)


def read_student_weights(data: bytes, filename: str) -> StudentWeights:
    """Tensors of an uploaded .pt/.pth/.bin/.safetensors file, checked for size, code, and finite values."""
    if not data:
        raise StudentCheckpointError(f"{filename} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise StudentCheckpointError(f"{filename} is {len(data) / 2**20:.1f} MB; checkpoints up to "
                                     f"{MAX_UPLOAD_BYTES // 2**20} MB are accepted (the homework models are 1-8 MB).")
    if filename.lower().endswith(".safetensors"):
        tensors, file_format, wrapper = _read_safetensors(data, filename), "safetensors", None
    else:
        tensors, wrapper = _read_torch_file(data, filename)
        file_format = "torch.save zip"
    _check_finite(tensors, filename)
    return StudentWeights(tensors, file_format, wrapper)


def _read_safetensors(data: bytes, filename: str) -> dict[str, torch.Tensor]:
    try:
        return dict(load_safetensors(data))
    except (SafetensorError, ValueError, OSError) as error:
        raise StudentCheckpointError(f"{filename} is not a readable .safetensors file ({error}).") from error


def _read_torch_file(data: bytes, filename: str) -> tuple[dict[str, torch.Tensor], str | None]:
    pickle_bytes = _pickle_of(data, filename)
    foreign = [name for name in _pickled_globals(pickle_bytes, filename)
               if name not in STATE_DICT_GLOBALS and not _is_storage(name)]
    if foreign:
        shown = foreign[0].replace(" ", ".")
        raise StudentCheckpointError(
            f"{filename} holds a whole pickled model or other Python objects (first: {shown}), and loading those "
            f"would run code from the file, so Glassbox never does. Save only the weights in your homework script: "
            f"`{SAVE_STATE_DICT}`.")
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged archives; each means "unreadable"
        raise StudentCheckpointError(f"{filename} could not be read as torch weights ({type(error).__name__}: "
                                     f"{str(error).splitlines()[0][:200]}).") from error
    return _tensor_dict(loaded, filename)


def _pickle_of(data: bytes, filename: str) -> bytes:
    """The pickle inside a torch zip archive, after checking that the archive does not unpack to gigabytes."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise StudentCheckpointError(
            f"{filename} is not a checkpoint torch can write (not a .safetensors file, and not the zip archive of "
            f"`{SAVE_STATE_DICT}`). Files saved by torch before 1.6, truncated files and other formats are refused.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
                raise StudentCheckpointError(f"{filename} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MB.")
            pickles = [entry for entry in entries if entry.filename.endswith("data.pkl")]
            if len(pickles) != 1:
                raise StudentCheckpointError(f"{filename} is a zip file but not a torch checkpoint (no data.pkl).")
            return archive.read(pickles[0])
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise StudentCheckpointError(f"{filename} is damaged or truncated ({error}).") from error


def _pickled_globals(pickle_bytes: bytes, filename: str) -> list[str]:
    """Every 'module name' the pickle would import, in order (a pickled model names its class first), unexecuted."""
    names, recent_strings = [], []
    try:
        for opcode, argument, _ in pickletools.genops(pickle_bytes):
            if opcode.name in ("GLOBAL", "INST"):
                names.append(str(argument))
            elif opcode.name == "STACK_GLOBAL" and len(recent_strings) >= 2:
                names.append(f"{recent_strings[-2]} {recent_strings[-1]}")
            elif isinstance(argument, str):
                recent_strings = (recent_strings + [argument])[-2:]
    except Exception as error:  # pickletools raises ValueError and others on damaged pickles
        raise StudentCheckpointError(f"{filename} is damaged: its pickle cannot be read ({error}).") from error
    return names


def _is_storage(name: str) -> bool:
    module, _, attribute = name.partition(" ")
    return module in ("torch", "torch.storage") and attribute.endswith("Storage")


def _tensor_dict(loaded, filename: str) -> tuple[dict[str, torch.Tensor], str | None]:
    """The flat name -> tensor dict, unwrapping one level of a training checkpoint ({"model_state_dict": ...})."""
    if isinstance(loaded, dict):
        for key in WRAPPER_KEYS:
            if isinstance(loaded.get(key), dict):
                return _tensor_dict(loaded[key], filename)[0], key
        tensors = {str(name): value for name, value in loaded.items() if torch.is_tensor(value)}
        if tensors:
            return tensors, None
    raise StudentCheckpointError(f"{filename} holds no tensors by name (a {type(loaded).__name__}); save "
                                 f"`{SAVE_STATE_DICT}`.")


def _check_finite(tensors: dict[str, torch.Tensor], filename: str) -> None:
    if not tensors:
        raise StudentCheckpointError(f"{filename} holds no tensors.")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise StudentCheckpointError(f"{filename}: the tensor {name} contains NaN or infinite values (training "
                                         "diverged?); retrain with a lower learning rate and save again.")
