"""A translator trained with the homework skeleton, saved as `torch.save(model.state_dict(), ...)`, read into Glassbox.

The classes below are the IST 2022-23 skeleton's Encoder / Decoder / Attention / Seq2Seq with their TODOs done the
way the course's reference solutions do them; Glassbox must give the same logits and translations from their files.
"""
import json

import pytest
import torch
from playwright.sync_api import expect
from safetensors.torch import save_model
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence as pack
from torch.nn.utils.rnn import pad_packed_sequence as unpack

from core.__main__ import main
from core.state_dicts import StudentCheckpointError, detect, read_student_file
from core.translation import data
from core.translation.evaluation import evaluate_translator
from core.translation.student import course_vocabularies, detect_translator, load_student_file
from tests.helpers import assert_no_exception, run_lab, wait_for_app

HIDDEN = 32
PAD, SOS, EOS = data.PAD, data.SOS, data.EOS
SENTENCES = ["tengo hambre .", " donde esta mi libro ?", " que ?"]  # as the course data writes them


def reshape_state(state):
    h_state, c_state = state
    return torch.cat([h_state[:-1], h_state[1:]], dim=2), torch.cat([c_state[:-1], c_state[1:]], dim=2)


class Attention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.linear_in = nn.Linear(hidden_size, hidden_size, bias=False)
        self.linear_out = nn.Linear(hidden_size * 2, hidden_size)

    def forward(self, query, encoder_outputs, src_lengths):
        src_seq_mask = ~self.sequence_mask(src_lengths)
        scores = torch.bmm(self.linear_in(query), encoder_outputs.transpose(1, 2))
        scores = scores.masked_fill(src_seq_mask.unsqueeze(1), float("-inf"))
        context = torch.bmm(torch.softmax(scores, dim=-1), encoder_outputs)
        return torch.tanh(self.linear_out(torch.cat([query, context], dim=2)))

    def sequence_mask(self, lengths):
        return torch.arange(0, lengths.max()).type_as(lengths).repeat(lengths.numel(), 1).lt(lengths.unsqueeze(1))


class Encoder(nn.Module):
    def __init__(self, src_vocab_size, hidden_size, padding_idx, dropout):
        super().__init__()
        self.hidden_size = hidden_size // 2
        self.embedding = nn.Embedding(src_vocab_size, hidden_size, padding_idx=padding_idx)
        self.lstm = nn.LSTM(hidden_size, self.hidden_size, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src, lengths):
        embedded = self.dropout(self.embedding(src))
        output, final_hidden = self.lstm(pack(embedded, lengths, batch_first=True, enforce_sorted=False))
        enc_output, _ = unpack(output, batch_first=True)
        return self.dropout(enc_output), final_hidden


class Decoder(nn.Module):
    def __init__(self, hidden_size, tgt_vocab_size, attn, padding_idx, dropout):
        super().__init__()
        self.hidden_size, self.tgt_vocab_size = hidden_size, tgt_vocab_size
        self.embedding = nn.Embedding(tgt_vocab_size, hidden_size, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.attn = attn

    def forward(self, tgt, dec_state, encoder_outputs, src_lengths):
        if dec_state[0].shape[0] == 2:
            dec_state = reshape_state(dec_state)
        outputs = []
        for step in torch.split(self.dropout(self.embedding(tgt)), 1, dim=1):
            output, dec_state = self.lstm(step, dec_state)
            if self.attn is not None:
                output = self.attn(output, encoder_outputs, src_lengths)
            outputs.append(output)
        return self.dropout(torch.cat(outputs, dim=1)), dec_state


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.generator = nn.Linear(decoder.hidden_size, decoder.tgt_vocab_size)
        self.generator.weight = self.decoder.embedding.weight

    def forward(self, src, src_lengths, tgt, dec_hidden=None):
        encoder_outputs, final_enc_state = self.encoder(src, src_lengths)
        output, dec_hidden = self.decoder(tgt, dec_hidden or final_enc_state, encoder_outputs, src_lengths)
        return self.generator(output), dec_hidden


def skeleton(attention=True, sizes=None, seed=0):
    """A randomly initialised homework model, vocabularies of the course data's sizes unless given."""
    torch.manual_seed(seed)
    source_size, target_size = sizes or [len(vocabulary) for vocabulary in course_vocabularies()]
    decoder = Decoder(HIDDEN, target_size, Attention(HIDDEN) if attention else None, PAD, 0.3)
    return Seq2Seq(Encoder(source_size, HIDDEN, PAD, 0.3), decoder).eval()


def saved(tmp_path, state_dict, name="model.pt"):
    path = tmp_path / name
    torch.save(state_dict, path)
    return path


@torch.no_grad()
def skeleton_greedy(model, sentence, source_vocab, target_vocab, max_length=50):
    """The homework script's test loop: one sentence, argmax at each step until the stop symbol."""
    src = torch.tensor([source_vocab.encode(sentence)])
    src_lengths = (src != PAD).sum(1)
    encoder_outputs, dec_state = model.encoder(src, src_lengths)
    token, predicted = torch.full((1, 1), SOS), []
    for _ in range(max_length):
        output, dec_state = model.decoder(token, dec_state, encoder_outputs, src_lengths)
        token = model.generator(output).argmax(-1)
        if int(token) == EOS:
            break
        predicted.append(int(token))
    return target_vocab.decode(predicted)


RENAMINGS = {  # how students renamed the skeleton's modules: nested under other names, or all at the top level
    "nested": {"encoder.embedding": "enc.src_embed", "encoder.lstm": "enc.rnn", "decoder.embedding": "dec.tgt_embed",
               "decoder.lstm": "dec.rnn", "decoder.attn.linear_in": "dec.attention.W_q",
               "decoder.attn.linear_out": "dec.attention.W_o", "generator": "out"},
    "flat": {"encoder.embedding": "src_emb", "encoder.lstm": "bilstm", "decoder.embedding": "tgt_emb",
             "decoder.lstm": "lstm", "decoder.attn.linear_in": "attn_in", "decoder.attn.linear_out": "attn_out",
             "generator": "proj"},
}


def renamed(state_dict, renaming):
    def rename(key):
        prefix, _, parameter = key.rpartition(".")
        return f"{renaming[prefix]}.{parameter}"

    return {rename(key): tensor for key, tensor in state_dict.items()}


@pytest.mark.parametrize("attention", [True, False])
def test_the_skeleton_is_recognised_with_its_renames_and_tied_generator(tmp_path, attention):
    model = skeleton(attention)
    weights = read_student_file(saved(tmp_path, model.state_dict()))
    (detection,) = detect(weights, [detect_translator], "model.pt")
    assert detection.task == "mt"
    assert detection.config["hidden_size"] == HIDDEN and detection.config["attention"] is attention
    assert detection.config["encoder_per_direction"] is None  # the skeleton's hidden // 2, no bridge
    assert detection.renamed["encoder.embedding.weight"] == "source_embedding.weight"
    assert detection.renamed["encoder.lstm.weight_hh_l0_reverse"] == "encoder.weight_hh_l0_reverse"
    assert detection.renamed["generator.bias"] == "generator_bias"
    assert ("decoder.attn.linear_out.bias" in detection.renamed) is attention
    assert detection.tied == ["generator.weight = decoder.embedding.weight (Glassbox: target_embedding.weight)"]
    assert detection.parameters == sum(parameter.numel() for parameter in model.parameters())
    assert "are the course data's" in detection.notes[0]


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("renaming", [None, "nested", "flat"])
def test_outputs_equal_the_skeleton_models(tmp_path, attention, renaming):
    model = skeleton(attention, seed=3)
    state_dict = model.state_dict() if renaming is None else renamed(model.state_dict(), RENAMINGS[renaming])
    loaded = load_student_file(saved(tmp_path, state_dict))
    source, lengths = data.pad_batch([loaded.source_vocab.encode(sentence) for sentence in SENTENCES])
    target_inputs, _ = data.pad_batch([[SOS] + loaded.target_vocab.encode("i am hungry .")] * len(SENTENCES))
    with torch.no_grad():
        expected, _ = model(source, lengths, target_inputs)
        assert torch.allclose(loaded.model(source, lengths, target_inputs), expected, atol=1e-5)
    for sentence in SENTENCES:
        expected_text = skeleton_greedy(model, sentence, loaded.source_vocab, loaded.target_vocab)
        assert loaded.translate(sentence).translation == expected_text
    assert (loaded.translate(SENTENCES[0]).attention is not None) is attention


def test_a_safetensors_file_that_stores_the_tied_generator_once_loads_the_same(tmp_path):
    model = skeleton(seed=4)
    path = tmp_path / "model.safetensors"
    save_model(model, str(path))  # keeps decoder.embedding.weight, drops its tied twin generator.weight
    (detection,) = detect(read_student_file(path), [detect_translator], path.name)
    assert detection.tied == ["generator.weight = decoder.embedding.weight (Glassbox: target_embedding.weight); "
                              "the file stores it once"]
    loaded = load_student_file(path)
    assert loaded.translate(SENTENCES[1]).translation == skeleton_greedy(
        model, SENTENCES[1], loaded.source_vocab, loaded.target_vocab)


def test_other_vocabulary_sizes_need_a_vocabulary_file_in_either_format(tmp_path):
    source_characters, target_characters = list(" .?abcdefghijklmnopqrstuvwxyz0"), list(" .!abcdefghijklmnopqrstuvwxyz")
    model = skeleton(sizes=(len(source_characters) + 4, len(target_characters) + 4))
    path = saved(tmp_path, model.state_dict())
    with pytest.raises(StudentCheckpointError, match=r"34 and 33 differ from the course data's \(34 and 34\)"):
        load_student_file(path)
    plain = tmp_path / "vocab.json"
    plain.write_text(json.dumps({"source": source_characters, "target": target_characters}))
    index2word = tmp_path / "lang.json"  # the course Lang's index2word, dumped by json (keys become strings)
    tokens = {"source": ["<pad>", "<sos>", "<eos>", "<unk>"] + source_characters,
              "target": ["PAD", "SOS", "EOS", "UNK"] + target_characters}
    index2word.write_text(json.dumps({side: dict(enumerate(entries)) for side, entries in tokens.items()}))
    for vocabulary in (plain, index2word):
        loaded = load_student_file(path, vocabulary)
        assert loaded.source_vocab.characters == source_characters
        assert loaded.target_vocab.characters == target_characters
        expected = skeleton_greedy(model, "tengo 0 .", loaded.source_vocab, loaded.target_vocab)
        assert loaded.translate("tengo 0 .").translation == expected
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"source": source_characters[:-1], "target": target_characters}))
    with pytest.raises(StudentCheckpointError, match="source vocabulary in short.json has 29 entries.*34 rows"):
        load_student_file(path, short)


def broken(kind):
    """A skeleton state_dict with one homework-typical fault."""
    state_dict = dict(skeleton().state_dict())
    if kind == "untied":
        state_dict["generator.weight"] = state_dict["generator.weight"].clone() + 1
    elif kind == "decoder size":
        state_dict["decoder.lstm.weight_hh_l0"] = torch.zeros(4 * HIDDEN, HIDDEN // 2)
    elif kind == "wide encoder":
        state_dict["encoder.lstm.weight_hh_l0"] = torch.zeros(4 * HIDDEN, HIDDEN)
    elif kind == "no generator bias":
        del state_dict["generator.bias"]
    elif kind == "additive attention":
        for name in ("decoder.attn.linear_in.weight", "decoder.attn.linear_out.weight", "decoder.attn.linear_out.bias"):
            del state_dict[name]
        state_dict.update({"decoder.attn.Ws.weight": torch.zeros(HIDDEN, HIDDEN),
                           "decoder.attn.Wh.weight": torch.zeros(HIDDEN, HIDDEN),
                           "decoder.attn.v.weight": torch.zeros(1, HIDDEN),
                           "decoder.attn.Wout.weight": torch.zeros(HIDDEN, 2 * HIDDEN)})
    elif kind == "one-directional encoder":
        state_dict = {name: tensor for name, tensor in state_dict.items() if not name.endswith("_reverse")}
    elif kind == "two layers":
        state_dict["decoder.lstm.weight_ih_l1"] = torch.zeros(4 * HIDDEN, HIDDEN)
    return state_dict


@pytest.mark.parametrize("kind, message", [
    ("untied", "generator.weight differs from decoder.embedding.weight.*untied generator is not supported"),
    ("decoder size", r"decoder.lstm.weight_hh_l0 is \(128, 16\); .* has \(128, 32\) there"),
    ("wide encoder", r"encoder.lstm.weight_hh_l0 is \(128, 32\); .* has \(64, 16\) there.*hidden_size // 2 = 16"),
    ("no generator bias", r"No generator: expected a linear layer with weight \(34, 32\) and bias \(34,\)"),
    ("additive attention", r"additive \(Bahdanau\) attention.*decoder.attn.v.weight.*not supported"),
    ("one-directional encoder", r"encoder.lstm is a one-directional LSTM.*_reverse tensors"),
    ("two layers", r"decoder.lstm.weight_ih_l1 \(128, 32\) has no place in Glassbox's translator"),
])
def test_wrong_or_partial_tensors_name_the_layer_and_what_was_expected(tmp_path, kind, message):
    with pytest.raises(StudentCheckpointError, match=message):
        detect_translator(read_student_file(saved(tmp_path, broken(kind))))


def test_files_of_other_models_are_left_to_other_labs(tmp_path):
    cnn = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 24 * 24, 10))
    assert detect_translator(read_student_file(saved(tmp_path, cnn.state_dict()))) is None
    speller = {"embedding.weight": torch.zeros(35, 8), "lstm.weight_ih_l0": torch.zeros(32, 8),
               "lstm.weight_hh_l0": torch.zeros(32, 8)}  # a unidirectional LSTM alone: the speech decoder's kind
    assert detect_translator(read_student_file(saved(tmp_path, speller))) is None


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_inspect_translate_and_evaluate_commands_take_a_student_file(tmp_path, capsys):
    model = skeleton(seed=5)
    path = saved(tmp_path, renamed(model.state_dict(), RENAMINGS["nested"]), "student.pth")
    inspected = run_json(capsys, ["inspect-checkpoint", str(path)])
    (detection,) = inspected["detections"]
    assert detection["task"] == "mt" and detection["renamed"]["dec.attention.W_q.weight"] == "attention.linear_in.weight"
    assert inspected["parameters"] == detection["parameters"] == sum(p.numel() for p in model.parameters())  # tied once
    translated = run_json(capsys, ["translate", "Tengo hambre.", "--model", str(path), "--attention"])
    loaded = load_student_file(path)
    assert translated["model"] == "student.pth"
    assert translated["translation"] == skeleton_greedy(model, "tengo hambre .", loaded.source_vocab, loaded.target_vocab)
    assert len(translated["attention"]) == len(translated["output_tokens"])
    evaluated = run_json(capsys, ["evaluate", str(path), "--split", "test", "--limit", "30"])
    assert evaluated == {**evaluate_translator(loaded, "test", limit=30), "ms_per_sentence": evaluated["ms_per_sentence"]}


def test_commands_say_when_the_vocabulary_file_is_missing(tmp_path, capsys):
    path = saved(tmp_path, skeleton(sizes=(40, 30)).state_dict())
    assert main(["evaluate", str(path), "--limit", "5", "--json"]) == 2
    error = capsys.readouterr().err
    assert "40 and 30 differ from the course data's" in error and '{"source": [...], "target": [...]}' in error
    assert main(["translate", "hola", "--model", str(path), "--vocab", str(tmp_path / "nowhere.json")]) == 2
    assert "nowhere.json is not a file" in capsys.readouterr().err


def upload(app, path, key="student_weights"):
    app.file_uploader(key=key).upload(path.name, path.read_bytes(), "application/octet-stream").run()
    assert not app.exception
    return app


def test_the_page_shows_an_uploaded_model_beside_ours_and_scores_it_on_demand(tmp_path):
    path = saved(tmp_path, skeleton(seed=7).state_dict(), "mine.pt")
    app = upload(run_lab("translation", timeout=90), path)
    loaded = load_student_file(path)
    sentence = app.text_input(key="spanish").value
    assert [metric.label for metric in app.metric] == ["greedy", "beam 4"] * 3
    assert app.metric[4].value == (loaded.translate(sentence).translation or "(empty)")
    assert "your model (mine.pt)" in [subheader.value for subheader in app.subheader]
    assert len(app.get("plotly_chart")) == 3  # two heatmaps and the training curves
    assert app.slider(key="student-step").max == len(loaded.translate(sentence).output_tokens)
    app.button(key="student_score").click().run(timeout=180)
    table = app.dataframe[1].value  # after the results table of section 4
    assert list(table["model"])[-1] == "your model (mine.pt)"
    assert table["test error rate"].iloc[-1] == pytest.approx(evaluate_translator(loaded)["error_rate"])
    app.file_uploader(key="student_weights").clear().run()
    assert len(app.metric) == 4 and "student" not in app.session_state


def test_a_bad_upload_is_explained_and_the_shipped_models_keep_working(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(broken("untied"), path)
    app = upload(run_lab("translation", timeout=90), path)
    assert "not tied to the target embedding" in app.error[0].value
    assert len(app.metric) == 4
    other_sizes = saved(tmp_path, skeleton(sizes=(40, 30)).state_dict(), "other.pt")
    app = upload(app, other_sizes)
    assert "40 and 30 differ from the course data's" in app.error[0].value


@pytest.mark.browser
def test_user_uploads_their_model_and_sees_its_column_and_heatmap(page, app_url, tmp_path):
    path = saved(tmp_path, skeleton(seed=7).state_dict(), "student.pt")
    page.goto(f"{app_url}/translation")
    wait_for_app(page, "Where the attention model looked")
    page.get_by_text("Your model: the translator you trained in the homework").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
    page.get_by_text("your model (student.pt)").first.wait_for(timeout=90_000)
    wait_for_app(page)
    assert_no_exception(page)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(6, timeout=30_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=30_000)
    page.get_by_text("your model (student.pt)").nth(1).scroll_into_view_if_needed()
