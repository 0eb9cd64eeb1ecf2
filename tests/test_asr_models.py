"""The speech recognizers: shapes, masks, step-by-step decoding equal to teacher forcing, learning, checkpoints, CLI."""
import io
import json

import numpy as np
import pytest
import soundfile
import torch

from core import paths
from core.__main__ import main as cli_main
from core.checkpoints import architecture_of, save_checkpoint
from core.ctc import JointCTCStepDecoder
from core.decoding import DecodingOptions, beam_search, greedy_search
from core.speech import vocabulary
from core.speech.features import silence_chunk_spans
from core.speech.inference import card_decoding, load_model, transcribe_audio
from core.speech.model import SpeechRecognizer, SpeechRecognizerConfig, speech_transformer_config
from core.speech.recipe import (
    SpeechRecipe,
    apply_stage,
    batch_loss,
    first_complete_epoch,
    staged_schedule,
    warmup_then_linear_decay,
)
from core.train import RunSettings, fit

DECODERS = ["lstm", "transformer", "speech-transformer"]  # the homework decoders and the 11-785 Speech-Transformer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine run far faster on one thread (no hand-offs between threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(decoder: str, **overrides) -> SpeechRecognizer:
    torch.manual_seed(0)
    sizes = dict(d_model=32, n_heads=2, mlp_size=64, encoder_layers=1) | overrides
    if decoder == "speech-transformer":
        return SpeechRecognizer(speech_transformer_config(**sizes))
    return SpeechRecognizer(SpeechRecognizerConfig(decoder=decoder, **sizes))


def test_homework_sizes():
    model = SpeechRecognizer(SpeechRecognizerConfig(decoder="transformer"))
    assert model.encoder.conv1.in_channels == 80 and model.encoder.conv1.out_channels == 200
    assert model.encoder.conv2.stride == (2,) and len(model.encoder.blocks) == 2
    assert model.decoder.positions.shape == (98, 200) and model.decoder.output.out_features == 35
    assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) < 2_000_000  # < 10 MB of float32 weights


@pytest.mark.parametrize("decoder", DECODERS)
def test_shapes_and_cross_attention_weights(decoder):
    model = tiny(decoder).eval()
    features, lengths = torch.randn(3, 41, 80), torch.tensor([41, 30, 7])
    logits, cross = model(features, lengths, torch.randint(0, 35, (3, 6)))
    assert logits.shape == (3, 6, 35)
    weights = cross[-1]
    frames = {"speech-transformer": [11, 8, 2]}.get(decoder, [21, 15, 4])  # 2 stride-2 convolutions, or 1
    assert model.encoder.output_lengths(lengths).tolist() == frames
    assert weights.shape == (3, 2, 6, frames[0])  # (batch, heads, steps, encoder frames)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 6), atol=1e-5)
    assert torch.all(weights[2, :, :, frames[2]:] == 0)  # padding gets no attention


@pytest.mark.parametrize("decoder", DECODERS)
def test_padding_does_not_change_a_clip(decoder):
    model = tiny(decoder).eval()
    clip, tokens = torch.randn(1, 25, 80), torch.randint(0, 35, (1, 5))
    alone, _ = model(clip, torch.tensor([25]), tokens)
    padded = torch.cat([clip, torch.randn(1, 15, 80)], dim=1)
    with_padding, _ = model(padded, torch.tensor([25]), tokens)
    assert torch.allclose(alone, with_padding, atol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_step_decoding_equals_teacher_forcing(decoder):
    model = tiny(decoder).eval()
    features, lengths = torch.randn(2, 30, 80), torch.tensor([30, 22])
    tokens = torch.randint(0, 35, (2, 8))
    logits, _ = model(features, lengths, tokens)
    step_decoder = model.step_decoder(features, lengths)
    state, outputs = step_decoder.start(), []
    for position in range(8):
        log_probs, state, attention = step_decoder.step(tokens[:, position], state)
        outputs.append(log_probs)
        assert attention.shape == (2, model.encoder.output_lengths(lengths)[0])
    assert torch.allclose(torch.stack(outputs, 1), torch.log_softmax(logits, -1), atol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_beam_of_one_is_greedy_and_results_carry_attention(decoder):
    model = tiny(decoder).eval()
    features, lengths = torch.randn(2, 30, 80), torch.tensor([30, 18])
    greedy = greedy_search(model.step_decoder(features, lengths), 2, vocabulary.START, vocabulary.STOP, 12)
    beam1 = beam_search(model.step_decoder(features, lengths), 2, vocabulary.START, vocabulary.STOP, 1, 12)
    assert [h.tokens for h in greedy] == [h.tokens for h in beam1]
    beam3 = beam_search(model.step_decoder(features, lengths), 2, vocabulary.START, vocabulary.STOP, 3, 12)
    frames = model.encoder.output_lengths(lengths)[0]
    assert all(h.attention.shape[1] == frames for h in greedy + beam3)
    assert all(b.score >= g.score - 1e-6 for b, g in zip(beam3, greedy))


@pytest.mark.parametrize("decoder", DECODERS)
def test_tiny_model_overfits_one_batch(decoder):
    torch.manual_seed(1)
    model = tiny(decoder)
    texts = ["a cat.", "the dog ran", "hi, bob?"]
    features = torch.randn(3, 16, 80)
    batch = {
        "features": features,
        "lengths": torch.tensor([16, 14, 12]),
        "tokens": vocabulary.pad_targets([vocabulary.encode(text) for text in texts]),
        "indices": [0, 1, 2],
    }
    recipe = SpeechRecipe(label_smoothing=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        optimizer.zero_grad()
        loss, _ = batch_loss(model, batch, recipe)
        loss.backward()
        optimizer.step()
        first = first if first is not None else float(loss)
    assert float(loss) < 0.05 < first
    model.eval()
    hypotheses = greedy_search(model.step_decoder(features, batch["lengths"]), 3, vocabulary.START, vocabulary.STOP, 20)
    assert [vocabulary.decode(h.tokens) for h in hypotheses] == texts


def test_learning_rate_shape_follows_the_homework():
    recipe = SpeechRecipe(epochs=5, warmup_epochs=2)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = warmup_then_linear_decay(optimizer, batches_per_epoch=10, recipe=recipe)
    rates = []
    for _ in range(50):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-5) and rates[20] == pytest.approx(1e-3)
    assert rates[-1] < 1e-4 and max(rates) == pytest.approx(1e-3)


def test_silence_chunks_stay_short():
    rate = 16_000
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(3 * rate) / rate)
    pause = np.zeros(rate // 2)
    audio = np.concatenate([tone, pause] * 6).astype(np.float32)  # 21 s with a pause every 3 s
    spans = silence_chunk_spans(audio, max_seconds=8.0)
    assert len(spans) >= 3 and all(end - start <= 8 * rate for start, end in spans)
    assert sum(end - start for start, end in spans) >= 18 * rate * 0.95  # no speech dropped
    assert len(silence_chunk_spans(audio[: 5 * rate], 8.0)) == 1


@pytest.fixture()
def shipped_tiny(tmp_path, monkeypatch):
    """A tiny untrained model saved as asr/tiny in a temporary checkpoints folder."""
    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    model = tiny("transformer")
    save_checkpoint(model, {"architecture": architecture_of(model)}, "asr/tiny")
    return model


def test_checkpoint_round_trip_and_transcribe_cli(shipped_tiny, tmp_path, capsys):
    loaded, card = load_model("asr/tiny")
    assert card["architecture"]["config"]["decoder"] == "transformer"
    rate = 44_100
    stereo = 0.2 * np.random.default_rng(0).standard_normal((int(1.5 * rate), 2)).astype(np.float32)
    audio_path = tmp_path / "clip.flac"
    soundfile.write(audio_path, stereo, rate)
    assert cli_main(["transcribe", str(audio_path), "--model", "asr/tiny", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"text", "duration_s", "seconds"} and result["duration_s"] == pytest.approx(1.5, abs=0.01)
    assert set(result["text"]) <= set(vocabulary.TOKENS[3:])
    assert transcribe_audio(loaded, audio_path, DecodingOptions(beam_width=3))["chunks"] == 1


def test_a_long_recording_is_cut_into_the_chunk_length_the_model_was_tuned_for(shipped_tiny, tmp_path):
    """The decoders write at most 97 characters, so each card carries the chunk length chosen for its model at export."""
    rate = 16_000
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(int(1.5 * rate)) / rate)
    audio = np.concatenate([tone, np.zeros(rate // 2)] * 6).astype(np.float32)  # 12 s, a pause every 1.5 s
    audio_path = tmp_path / "long.wav"
    soundfile.write(audio_path, audio, rate)
    loaded, card = load_model("asr/tiny")
    assert card_decoding(card).max_chunk_seconds == 8.0  # cards written before the setting existed keep the old length
    assert transcribe_audio(loaded, audio_path, card_decoding(card))["chunks"] == 2
    result = transcribe_audio(loaded, audio_path, card_decoding({"decoding": {"max_chunk_seconds": 4.0}}))
    assert result["chunks"] == 3 and "longer than 4 s" in result["note"]


def test_transcribe_cli_explains_bad_audio(shipped_tiny, tmp_path, capsys):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("definitely not a recording")
    assert cli_main(["transcribe", str(not_audio), "--model", "asr/tiny"]) == 2
    assert "could not be read as audio" in capsys.readouterr().err
    silent = tmp_path / "silent.wav"
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(16_000, dtype=np.float32), 16_000, format="WAV")
    silent.write_bytes(buffer.getvalue())
    assert cli_main(["transcribe", str(silent), "--model", "asr/tiny"]) == 2
    assert "silent" in capsys.readouterr().err


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoding_without_cache_gives_the_same_transcript(decoder):
    model = tiny(decoder).eval()
    features, lengths = torch.randn(2, 30, 80), torch.tensor([30, 18])
    cached = greedy_search(model.step_decoder(features, lengths), 2, vocabulary.START, vocabulary.STOP, 15)
    uncached = greedy_search(model.step_decoder(features, lengths, use_cache=False), 2, vocabulary.START, vocabulary.STOP, 15)
    assert [h.tokens for h in cached] == [h.tokens for h in uncached]
    assert all(torch.allclose(a.attention, b.attention, atol=1e-5) for a, b in zip(cached, uncached))


def test_speech_transformer_shape_and_size():
    model = SpeechRecognizer(speech_transformer_config())
    encoder = model.encoder
    assert encoder.conv1.stride == (2,) and encoder.conv2.stride == (2,) and encoder.subsampling == 4
    assert encoder.lstm.bidirectional and encoder.lstm.hidden_size * 2 == model.config.d_model
    assert len(encoder.blocks) == 2 and len(model.decoder.blocks) == 2
    assert all(block.self_attention.n_heads == 4 for block in model.decoder.blocks)
    assert "decoder.positions" not in model.state_dict()  # sinusoidal: a fixed table, not a weight
    assert sum(p.numel() for p in model.parameters()) * 4 < 9_000_000  # float32 checkpoint under the 10 MB cap
    assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in model.modules())


def test_staged_schedule_switches_blocks_and_freezes_the_rest():
    recipe = SpeechRecipe(epochs=6, stages=staged_schedule(6, part1=2, frozen=3))
    assert first_complete_epoch(recipe) == 2 and first_complete_epoch(SpeechRecipe()) == 0
    model = tiny("speech-transformer")
    features, lengths = torch.randn(2, 30, 80), torch.tensor([30, 22])
    seen = []
    for epoch in range(6):
        apply_stage(model, recipe, epoch)
        trainable = {name.split(".")[1] if name.startswith("encoder.") else "decoder"
                     for name, p in model.named_parameters() if p.requires_grad}
        seen.append((model.encoder.active_layers, sorted(trainable)))
        _, _, attention = model.encoder(features, lengths)
        assert len(attention) == (0 if epoch < 2 else 1)
    everything = ["blocks", "conv1", "conv2", "decoder", "final_norm", "lstm"]
    assert seen == [(0, everything)] * 2 + [(None, ["blocks"])] * 3 + [(None, everything)]
    with pytest.raises(ValueError):
        staged_schedule(5, part1=2, frozen=3)


def test_staged_training_only_moves_what_the_stage_trains(tmp_path):
    """Two staged epochs on a tiny model: Part I never touches the encoder blocks; the frozen stage touches only them."""
    recipe = SpeechRecipe(epochs=3, stages=staged_schedule(3, part1=1, frozen=1), label_smoothing=0.0)
    model = tiny("speech-transformer")
    batch = {"features": torch.randn(2, 24, 80), "lengths": torch.tensor([24, 20]),
             "tokens": vocabulary.pad_targets([vocabulary.encode("ab"), vocabulary.encode("c")]), "indices": [0, 1]}
    snapshots = []
    fit(model, torch.optim.AdamW(model.parameters(), lr=1e-2), lambda epoch: [batch] * 3,
        lambda trained, item: batch_loss(trained, item, recipe),
        lambda trained: {"val": 0.0}, RunSettings(run_dir=tmp_path, epochs=3, quiet=True),
        on_epoch_start=lambda trained, epoch: apply_stage(trained, recipe, epoch),
        on_epoch_end=lambda record: snapshots.append({k: v.clone() for k, v in model.state_dict().items()}))
    start = tiny("speech-transformer").state_dict()

    def moved(before, after, prefix):
        return any(not torch.equal(before[key], after[key]) for key in before if key.startswith(prefix))

    assert not moved(start, snapshots[0], "encoder.blocks") and moved(start, snapshots[0], "encoder.lstm")
    assert moved(snapshots[0], snapshots[1], "encoder.blocks")
    assert not moved(snapshots[0], snapshots[1], "encoder.lstm") and not moved(snapshots[0], snapshots[1], "decoder")
    assert moved(snapshots[1], snapshots[2], "decoder")


def test_joint_ctc_training_learns_and_decoding_ignores_the_head():
    torch.manual_seed(1)
    model = tiny("transformer", ctc_head=True)
    texts = ["a cat.", "the dog ran"]
    batch = {"features": torch.randn(2, 40, 80), "lengths": torch.tensor([40, 36]),
             "tokens": vocabulary.pad_targets([vocabulary.encode(text) for text in texts]), "indices": [0, 1]}
    recipe = SpeechRecipe(label_smoothing=0.0, ctc_loss_weight=0.5)
    memory, memory_lengths, _ = model.encoder(batch["features"], batch["lengths"])
    targets = [vocabulary.encode(text)[1:-1] for text in texts]
    first_ctc = float(model.ctc_loss(memory, memory_lengths, targets))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        loss, _ = batch_loss(model, batch, recipe)
        loss.backward()
        optimizer.step()
    memory, memory_lengths, _ = model.encoder(batch["features"], batch["lengths"])
    assert float(model.ctc_loss(memory, memory_lengths, targets)) < first_ctc / 4
    model.eval()
    hypotheses = greedy_search(model.step_decoder(batch["features"], batch["lengths"]), 2, vocabulary.START, vocabulary.STOP, 20)
    assert [vocabulary.decode(h.tokens) for h in hypotheses] == texts
    with pytest.raises(ValueError, match="no CTC head"):
        tiny("transformer").ctc_loss(memory, memory_lengths, targets)
    for width in (1, 3):
        joint = beam_search(model.step_decoder(batch["features"], batch["lengths"], ctc_weight=0.5), 2,
                            vocabulary.START, vocabulary.STOP, width, 20)
        assert [vocabulary.decode(h.tokens) for h in joint] == texts
    with pytest.raises(ValueError, match="needs a model trained with a CTC head"):
        tiny("transformer").step_decoder(batch["features"], batch["lengths"], ctc_weight=0.5)


class _SilentAttention:
    """An attention decoder with no opinion (log-probs 0), so the joint scores are the CTC prefix scores alone."""

    def start(self):
        return {}

    def step(self, previous_tokens, state):
        return torch.zeros(len(previous_tokens), len(vocabulary.TOKENS)), state, None


def _brute_force_prefix_log_probs(probabilities: np.ndarray, symbols: list[int], prefix: list[int]) -> dict[int, float]:
    """Sum every alignment over `symbols` (blank included): log P(transcript starts with prefix + c), and for STOP
    log P(transcript is exactly prefix)."""
    import itertools

    sums: dict[int, float] = {}
    for path in itertools.product(symbols, repeat=probabilities.shape[0]):
        collapsed = [token for frame, token in enumerate(path) if token != vocabulary.PAD and (frame == 0 or token != path[frame - 1])]
        probability = float(np.prod([probabilities[frame, token] for frame, token in enumerate(path)]))
        if collapsed == prefix:
            sums[vocabulary.STOP] = sums.get(vocabulary.STOP, 0.0) + probability
        elif collapsed[: len(prefix)] == prefix:
            following = collapsed[len(prefix)]
            sums[following] = sums.get(following, 0.0) + probability
    return {token: float(np.log(value)) for token, value in sums.items()}


def test_ctc_prefix_scores_equal_the_sum_over_all_alignments():
    a, b = vocabulary.encode("ab")[1:3]
    symbols = [vocabulary.PAD, a, b]
    rng = np.random.default_rng(0)
    frames = [5, 3]  # the second clip is padded: its last two frames must not count
    probabilities = np.zeros((2, 5, len(vocabulary.TOKENS)))
    probabilities[:, :, symbols] = rng.dirichlet(np.ones(3), size=(2, 5))
    with np.errstate(divide="ignore"):
        log_probabilities = torch.tensor(np.log(probabilities), dtype=torch.float32)
    decoder = JointCTCStepDecoder(_SilentAttention(), log_probabilities, torch.tensor(frames), weight=1.0,
                                  blank=vocabulary.PAD, sos=vocabulary.START, eos=vocabulary.STOP)
    state, previous = decoder.start(), torch.full((2,), vocabulary.START)
    # A repeated character needs a blank between its copies; "aab" does not fit in the short clip's 3 frames.
    for prefix in ([], [a], [a, a], [a, a, b]):
        if prefix:
            previous = torch.full((2,), prefix[-1])
        scores, state, _ = decoder.step(previous, state)
        for row, length in enumerate(frames):
            expected = _brute_force_prefix_log_probs(probabilities[row, :length], symbols, prefix)
            previous_score = (_brute_force_prefix_log_probs(probabilities[row, :length], symbols, prefix[:-1])
                              .get(prefix[-1], float("-inf")) if prefix else 0.0)
            for token in (a, b, vocabulary.STOP):
                want = expected.get(token, float("-inf")) - previous_score if previous_score > float("-inf") else float("-inf")
                if want == float("-inf"):
                    assert torch.isneginf(scores[row, token])
                else:
                    assert float(scores[row, token]) == pytest.approx(want, abs=1e-4)
            assert torch.isneginf(scores[row, [vocabulary.START, vocabulary.PAD]]).all()  # never emitted
