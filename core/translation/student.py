"""A translator a student trained in the homework, read from what `torch.save(model.state_dict(), "model.pt")` wrote.

The 2022-23 skeleton's Seq2Seq saves, in this order (H = hidden size, V = vocabulary sizes):
    encoder.embedding.weight (V_src, H)      encoder.lstm.*_l0 and *_l0_reverse: bidirectional, H/2 per direction
    decoder.embedding.weight (V_tgt, H)      decoder.lstm.*_l0: H units
    decoder.attn.linear_in.weight (H, H)     decoder.attn.linear_out.weight (H, 2H) and .bias (H)   [with attention]
    generator.weight (V_tgt, H), .bias       generator.weight is decoder.embedding.weight (tied)
Students rename modules, so roles are found by structure, not by name: the bidirectional LSTM is the encoder and
the other LSTM the decoder; each embedding is the weight-only matrix nearest its LSTM in the tree of names; the
generator is the linear layer with one output per target character; whatever is left must be the bilinear
attention. The shapes are then checked against Glassbox's `Translator` of the same sizes, which loads them strictly.

The file holds the vocabulary sizes, not the characters. Sizes equal to the course data's vocabularies mean those
vocabularies; other sizes need a vocabulary file in VOCABULARY_FORMAT.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core import checkpoints
from core.state_dicts import (
    Detection, StudentCheckpointError, StudentWeights, read_student_file, read_student_weights,
)
from core.translation import data
from core.translation.inference import DEFAULT_MODEL, LoadedTranslator
from core.translation.model import Translator, TranslatorConfig

TASK = "mt"
VOCABULARY_FORMAT = ('a JSON file {"source": [...], "target": [...]} listing each vocabulary\'s characters in id '
                     'order after <pad>, <sos>, <eos>, <unk> (or every token, those four first; or the course '
                     'Lang\'s index2word dict, {"0": "<pad>", ...})')
LSTM_PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@dataclass
class TranslatorReading:
    """How a student's tensors map onto Glassbox's `Translator` (student name -> Glassbox name)."""

    config: TranslatorConfig
    renamed: dict[str, str]
    tied: list[str]


def detect_translator(weights: StudentWeights) -> Detection | None:
    """The lab's `core.state_dicts.Detector`: None unless the file holds a bidirectional LSTM (an encoder)."""
    reading = read_translator(weights.tensors)
    if reading is None:
        return None
    config = reading.config
    return Detection(
        task=TASK, architecture=describe(config), config=asdict(config), renamed=reading.renamed, tied=reading.tied,
        parameters=sum(weights.tensors[name].numel() for name in reading.renamed), notes=[vocabulary_note(config)])


def describe(config: TranslatorConfig) -> str:
    hidden = config.hidden_size
    attention = "bilinear attention" if config.attention else "no attention"
    return (f"homework character translator: BiLSTM encoder ({hidden // 2} per direction), LSTM decoder ({hidden}), "
            f"{attention}, vocabularies {config.source_vocab_size} -> {config.target_vocab_size}")


def read_translator(tensors: dict[str, torch.Tensor]) -> TranslatorReading | None:
    """Find the skeleton's layers by structure; None when there is no bidirectional LSTM (not a translator)."""
    modules = _modules(tensors)
    lstms = [prefix for prefix, parameters in modules.items() if "weight_ih_l0" in parameters]
    encoders = [prefix for prefix in lstms if "weight_ih_l0_reverse" in modules[prefix]]
    if not encoders and len(lstms) == 2:
        raise StudentCheckpointError(
            f"{lstms[0]} is a one-directional LSTM, but the homework's encoder is bidirectional: its *_reverse "
            "tensors (weight_ih_l0_reverse, ...) are missing.")
    if not encoders:
        return None
    decoders = [prefix for prefix in lstms if prefix not in encoders]
    if len(encoders) != 1 or len(decoders) != 1:
        raise StudentCheckpointError(
            f"The file has {len(encoders)} bidirectional and {len(decoders)} unidirectional LSTMs; the homework "
            "translator has exactly one of each (the encoder and the decoder).")
    encoder, decoder = encoders[0], decoders[0]
    hidden = modules[decoder]["weight_ih_l0"].shape[0] // 4  # an LSTM's gates: 4 * hidden rows
    rest = {prefix: parameters for prefix, parameters in modules.items() if prefix not in (encoder, decoder)}
    source_embedding = _nearest_embedding(encoder, modules[encoder], rest, None)
    target_embedding = _nearest_embedding(decoder, modules[decoder], rest, source_embedding)
    generator = _generator(rest, rest[target_embedding]["weight"], (source_embedding, target_embedding))
    generator_weight = _join(generator, "weight")
    stored = "weight" in rest[generator]  # safetensors' save_model keeps one name of tied tensors
    if stored and not torch.equal(rest[generator]["weight"], rest[target_embedding]["weight"]):
        raise StudentCheckpointError(
            f"{generator_weight} differs from {_join(target_embedding, 'weight')}: this generator is not tied to the "
            "target embedding. The skeleton ties them (`self.generator.weight = self.decoder.embedding.weight`) and "
            "Glassbox's translator has one matrix for both, so an untied generator is not supported.")
    renamed = {_join(source_embedding, "weight"): "source_embedding.weight",
               **{_join(encoder, name): f"encoder.{name}" for name in modules[encoder]},
               _join(target_embedding, "weight"): "target_embedding.weight",
               **{_join(decoder, name): f"decoder.{name}" for name in modules[decoder]}}
    attention = {prefix: parameters for prefix, parameters in rest.items()
                 if prefix not in (source_embedding, target_embedding, generator)}
    renamed.update(_attention_names(attention, hidden))
    renamed[_join(generator, "bias")] = "generator_bias"
    _refuse_leftovers(tensors, renamed, generator_weight)
    config = TranslatorConfig(source_vocab_size=rest[source_embedding]["weight"].shape[0],
                              target_vocab_size=rest[target_embedding]["weight"].shape[0],
                              hidden_size=hidden, attention=bool(attention))
    _check_shapes(tensors, renamed, config)
    tied = [f"{generator_weight} = {_join(target_embedding, 'weight')} (Glassbox: target_embedding.weight)"
            + ("" if stored else "; the file stores it once")]
    return TranslatorReading(config, renamed, tied)


def _modules(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """{'decoder.attn.linear_in': {'weight': ...}, ...}: tensors grouped by the module that owns them, in file order."""
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        prefix, _, parameter = name.rpartition(".")
        modules.setdefault(prefix, {})[parameter] = tensor
    return modules


def _join(prefix: str, parameter: str) -> str:
    return f"{prefix}.{parameter}" if prefix else parameter


def _parent(prefix: str) -> str:
    return prefix.rpartition(".")[0]


def _shared_depth(first: str, second: str) -> int:
    """How many leading name components two module prefixes share ('decoder.attn', 'decoder.lstm' -> 1)."""
    depth = 0
    for a, b in zip(first.split("."), second.split(".")):
        if a != b:
            break
        depth += 1
    return depth


def _nearest_embedding(lstm: str, lstm_parameters: dict, rest: dict, taken: str | None) -> str:
    """The weight-only matrix that feeds `lstm`: its width first, then a sibling, then the closest name; for the
    decoder (`taken` is the encoder's) the one a generator shares, for the encoder the one none does; then file
    order (the skeleton saves the encoder first)."""
    width = lstm_parameters["weight_ih_l0"].shape[1]
    order = list(rest)
    matrices = [prefix for prefix, parameters in rest.items()
                if set(parameters) == {"weight"} and parameters["weight"].dim() == 2 and prefix != taken]
    if not matrices:
        raise StudentCheckpointError(
            f"No embedding for {lstm or 'the LSTM'}: expected a matrix (vocabulary size, {width}) beside it.")
    linear_weights = [parameters["weight"] for parameters in rest.values() if {"weight", "bias"} <= set(parameters)]

    def closeness(prefix):
        weight = rest[prefix]["weight"]
        shared = any(other.shape == weight.shape and torch.equal(other, weight) for other in linear_weights)
        return (weight.shape[1] == width, _parent(prefix) == _parent(lstm), _shared_depth(prefix, lstm),
                shared == (taken is not None), -order.index(prefix))

    return max(matrices, key=closeness)


def _generator(rest: dict, target_embedding: torch.Tensor, embeddings: tuple[str, str]) -> str:
    """The linear layer with one output per target character (weight tied to the target embedding, so it may be
    missing from a .safetensors file, which stores shared tensors once)."""
    vocabulary, hidden = target_embedding.shape
    found = [prefix for prefix, parameters in rest.items() if prefix not in embeddings and "bias" in parameters
             and tuple(parameters["bias"].shape) == (vocabulary,) and set(parameters) <= {"weight", "bias"}]
    if not found:
        raise StudentCheckpointError(
            f"No generator: expected a linear layer with weight ({vocabulary}, {hidden}) and bias ({vocabulary},) "
            "that turns decoder states into scores for each target character.")
    weight = {prefix: rest[prefix].get("weight", target_embedding) for prefix in found}
    return max(found, key=lambda prefix: (tuple(weight[prefix].shape) == (vocabulary, hidden),
                                          torch.equal(weight[prefix], target_embedding)))


def _attention_names(attention: dict, hidden: int) -> dict[str, str]:
    """The bilinear attention's two layers: linear_in (weight only) and linear_out (weight and bias)."""
    if not attention:
        return {}
    tensors = {_join(prefix, parameter): tensor for prefix, parameters in attention.items()
               for parameter, tensor in parameters.items()}
    names = list(tensors)
    vectors = [name for name, tensor in tensors.items() if not name.endswith("bias") and tensor.numel() == hidden
               and (tensor.dim() == 1 or 1 in tensor.shape)]
    if vectors:
        raise StudentCheckpointError(
            f"{', '.join(names)}: additive (Bahdanau) attention, a score v^T tanh(W_s s + W_h h) with the vector "
            f"{vectors[0]}. Glassbox's translator has the 2022-23 skeleton's bilinear attention (linear_in ({hidden}, "
            f"{hidden}) without bias, linear_out ({hidden}, {2 * hidden}) with bias); additive attention is not supported.")
    inputs = [prefix for prefix, parameters in attention.items() if set(parameters) == {"weight"}]
    outputs = [prefix for prefix, parameters in attention.items() if set(parameters) == {"weight", "bias"}]
    if len(inputs) != 1 or len(outputs) != 1 or len(attention) != 2:
        raise StudentCheckpointError(
            f"Layers besides the encoder, decoder and generator: {', '.join(names)}. The homework's bilinear "
            f"attention has exactly linear_in.weight ({hidden}, {hidden}) without bias and linear_out.weight "
            f"({hidden}, {2 * hidden}) with linear_out.bias ({hidden},); other attention layers are not supported.")
    return {_join(inputs[0], "weight"): "attention.linear_in.weight",
            _join(outputs[0], "weight"): "attention.linear_out.weight",
            _join(outputs[0], "bias"): "attention.linear_out.bias"}


def _refuse_leftovers(tensors: dict, renamed: dict[str, str], generator_weight: str) -> None:
    for name, tensor in tensors.items():
        if name not in renamed and name != generator_weight:
            raise _no_place(name, tensor)


def _no_place(name: str, tensor: torch.Tensor) -> StudentCheckpointError:
    return StudentCheckpointError(f"{name} {tuple(tensor.shape)} has no place in Glassbox's translator, which has the "
                                  "skeleton's layers only: one-layer LSTMs (no projections), two embeddings, the "
                                  "bilinear attention and the generator.")


def _check_shapes(tensors: dict, renamed: dict[str, str], config: TranslatorConfig) -> None:
    """Name the first layer whose shape is not the one Glassbox's translator of these sizes has there."""
    student_name = {glassbox: student for student, glassbox in renamed.items()}
    hidden = config.hidden_size
    expected_tensors = Translator(config).state_dict()
    for student, glassbox in renamed.items():
        if glassbox not in expected_tensors:  # a second LSTM layer, an LSTM projection
            raise _no_place(student, tensors[student])
    for glassbox, expected in expected_tensors.items():
        if glassbox not in student_name:
            raise StudentCheckpointError(f"The file has no tensor for Glassbox's {glassbox}: expected shape "
                                         f"{tuple(expected.shape)} (hidden size {hidden}).")
        found = tensors[student_name[glassbox]]
        if found.shape != expected.shape:
            raise StudentCheckpointError(f"{student_name[glassbox]} is {tuple(found.shape)}; the homework translator "
                                         f"with hidden size {hidden} has {tuple(expected.shape)} there."
                                         + _shape_hint(glassbox, found, hidden))


def _shape_hint(glassbox: str, found: torch.Tensor, hidden: int) -> str:
    """Why a shape differs, for the two departures from the skeleton that students make most."""
    if glassbox.startswith("encoder."):
        return (f" The skeleton's encoder has hidden_size // 2 = {hidden // 2} units per direction, so that both "
                f"directions together match the decoder's {hidden}.")
    if glassbox == "decoder.weight_ih_l0" and found.shape[-1] == 2 * hidden:
        return " Input feeding (the last attention output fed back with the embedding) is not in the skeleton."
    return ""


def course_vocabularies() -> tuple[data.CharVocabulary, data.CharVocabulary]:
    """The course data's vocabularies (built from the training split), as the shipped model's card records them,
    so a page can use them without the data folder."""
    vocabulary = checkpoints.read_card(DEFAULT_MODEL)["vocabulary"]
    return data.CharVocabulary(vocabulary["source"]), data.CharVocabulary(vocabulary["target"])


def vocabulary_note(config: TranslatorConfig) -> str:
    course = tuple(len(vocabulary) for vocabulary in course_vocabularies())
    sizes = (config.source_vocab_size, config.target_vocab_size)
    if sizes == course:
        return (f"Vocabulary sizes {sizes[0]} and {sizes[1]} are the course data's: its vocabularies (<pad> <sos> "
                "<eos> <unk>, then the training characters in sorted order) are used unless a vocabulary file is given.")
    return (f"Vocabulary sizes {sizes[0]} and {sizes[1]} differ from the course data's ({course[0]} and {course[1]}): "
            f"translating needs the vocabulary, as {VOCABULARY_FORMAT}.")


def vocabularies_for(config: TranslatorConfig, vocabulary_file: bytes | None,
                     filename: str) -> tuple[data.CharVocabulary, data.CharVocabulary]:
    """The given vocabulary file's, else the course data's when the sizes match, else a request for the file."""
    sizes = (config.source_vocab_size, config.target_vocab_size)
    if vocabulary_file is None:
        course = course_vocabularies()
        if tuple(len(vocabulary) for vocabulary in course) != sizes:
            raise StudentCheckpointError(vocabulary_note(config))
        return course
    try:
        given = json.loads(vocabulary_file.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StudentCheckpointError(f"{filename} is not a JSON file ({error}); expected {VOCABULARY_FORMAT}.") from error
    if not isinstance(given, dict) or not {"source", "target"} <= set(given):
        raise StudentCheckpointError(f"{filename} has no \"source\" and \"target\" entries; expected {VOCABULARY_FORMAT}.")
    return tuple(_vocabulary(given[side], size, side, filename) for side, size in zip(("source", "target"), sizes))


def _vocabulary(entries, size: int, side: str, filename: str) -> data.CharVocabulary:
    if isinstance(entries, dict):  # index2word dumped by json: string keys "0", "1", ...
        entries = [entries.get(str(index)) for index in range(len(entries))]
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise StudentCheckpointError(f"The {side} vocabulary in {filename} is not a list of characters.")
    characters = entries[len(data.SPECIALS):] if len(entries) == size else entries
    if len(characters) + len(data.SPECIALS) != size:
        raise StudentCheckpointError(
            f"The {side} vocabulary in {filename} has {len(entries)} entries, but the model's {side} embedding has "
            f"{size} rows: give its {size - len(data.SPECIALS)} characters (or all {size} tokens, specials first).")
    if any(len(character) != 1 for character in characters) or len(set(characters)) != len(characters):
        raise StudentCheckpointError(f"The {side} vocabulary in {filename} must list distinct single characters.")
    return data.CharVocabulary(characters)


def load_student_translator(weights: StudentWeights, name: str, vocabulary_file: bytes | None = None,
                            vocabulary_name: str = "the vocabulary file") -> LoadedTranslator:
    """A student's translator as a `LoadedTranslator`, so it translates and draws attention like the shipped ones."""
    reading = read_translator(weights.tensors)
    if reading is None:
        raise StudentCheckpointError(f"{name} has no bidirectional LSTM, so it is not the homework translator "
                                     "(an encoder BiLSTM, a decoder LSTM, embeddings and a generator).")
    source_vocab, target_vocab = vocabularies_for(reading.config, vocabulary_file, vocabulary_name)
    model = Translator(reading.config)
    model.load_state_dict({glassbox: weights.tensors[student].float() for student, glassbox in reading.renamed.items()},
                          strict=True)
    model.eval()
    card = {"student_file": name, "architecture": describe(reading.config), "renamed": reading.renamed}
    return LoadedTranslator(name, model, card, source_vocab, target_vocab)


def load_student_upload(weights: bytes, filename: str, vocabulary: bytes | None = None,
                        vocabulary_name: str = "the vocabulary file") -> LoadedTranslator:
    """For the front ends: an uploaded file's bytes, checked by `core.state_dicts`, as a `LoadedTranslator`."""
    return load_student_translator(read_student_weights(weights, filename), filename, vocabulary, vocabulary_name)


def load_student_file(path: Path, vocabulary_path: Path | None = None) -> LoadedTranslator:
    """`load_student_translator` for files on disk (the command line)."""
    vocabulary = None
    if vocabulary_path is not None:
        if not vocabulary_path.is_file():
            raise StudentCheckpointError(f"{vocabulary_path} is not a file.")
        vocabulary = vocabulary_path.read_bytes()
    name = vocabulary_path.name if vocabulary_path else "the vocabulary file"
    return load_student_translator(read_student_file(path), path.name, vocabulary, name)
