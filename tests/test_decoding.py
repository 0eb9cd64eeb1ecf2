"""Greedy and beam search on hand-built decoders whose best sequences are known, and on a real translator."""
import math

import pytest
import torch

from core.decoding import beam_search, greedy_search, normalised_score, search
from core.translation import data as translation_data
from core.translation.model import Translator, TranslatorConfig

SOS, EOS, A, B = 1, 2, 3, 4
VOCAB = 5


class MarkovDecoder:
    """The next-token distribution depends only on the previous token: a table, so every score is computable.

    State is the step count per row (so `reorder` is exercised); attention is a one-hot on the step index over
    `source_length` positions, so the searches' bookkeeping of attention rows can be checked.
    """

    def __init__(self, table: dict[int, dict[int, float]], batch_size: int = 1, source_length: int = 6):
        self.log_table = torch.full((VOCAB, VOCAB), -1e9)
        for previous, row in table.items():
            for token, probability in row.items():
                self.log_table[previous, token] = math.log(probability)
        self.batch_size, self.source_length = batch_size, source_length

    def start(self):
        return torch.zeros(self.batch_size, dtype=torch.long)

    def step(self, previous_tokens, state):
        attention = torch.nn.functional.one_hot(state.clamp(max=self.source_length - 1), self.source_length).float()
        return self.log_table[previous_tokens], state + 1, attention

    def reorder(self, state, indices):
        return state[indices]


# From SOS, "a" is likelier than "b", but after "a" the stop token is unlikely (0.4) while after "b" it is
# nearly certain: greedy commits to "a" (0.55 * 0.4 = 0.22), the better sentence is "b" (0.45 * 0.99 = 0.4455).
TRAP = {
    SOS: {A: 0.55, B: 0.45},
    A: {EOS: 0.4, A: 0.3, B: 0.3},
    B: {EOS: 0.99, A: 0.01},
}


def test_greedy_takes_the_locally_best_token():
    (hypothesis,) = greedy_search(MarkovDecoder(TRAP), 1, SOS, EOS, max_length=10)
    assert hypothesis.tokens == [A] and hypothesis.finished
    assert hypothesis.log_prob == pytest.approx(math.log(0.55 * 0.4))
    assert hypothesis.score == pytest.approx(math.log(0.55 * 0.4) / 2)  # two outputs: "a" and the stop token


def test_beam_search_finds_the_higher_scoring_sentence_that_greedy_misses():
    (greedy,) = greedy_search(MarkovDecoder(TRAP), 1, SOS, EOS, max_length=10)
    (beam,) = beam_search(MarkovDecoder(TRAP), 1, SOS, EOS, beam_width=2, max_length=10)
    assert beam.tokens == [B]
    assert beam.log_prob == pytest.approx(math.log(0.45 * 0.99))
    assert beam.score > greedy.score


@pytest.mark.parametrize("batch_size", [1, 3])
def test_beam_width_one_is_greedy(batch_size):
    torch.manual_seed(0)
    table = {previous: dict(zip(range(2, VOCAB), torch.rand(VOCAB - 2).softmax(0).tolist())) for previous in range(1, VOCAB)}
    greedy = greedy_search(MarkovDecoder(table, batch_size), batch_size, SOS, EOS, max_length=12)
    beam = beam_search(MarkovDecoder(table, batch_size), batch_size, SOS, EOS, beam_width=1, max_length=12)
    for one, other in zip(greedy, beam):
        assert one.tokens == other.tokens
        assert one.score == pytest.approx(other.score)
        assert one.finished == other.finished


def test_length_normalisation_can_prefer_the_longer_sentence():
    # The likeliest whole sentence is "b" (0.5 * 0.4 = 0.2), but "a a a ..." has likelier characters (0.7 each):
    # summed log-probs (penalty 0) pick "b", the per-character mean (penalty 1) picks a longer sentence.
    table = {SOS: {A: 0.5, B: 0.5}, A: {EOS: 0.3, A: 0.7}, B: {B: 0.6, EOS: 0.4}}
    raw = beam_search(MarkovDecoder(table), 1, SOS, EOS, beam_width=4, max_length=8, length_penalty=0.0)[0]
    averaged = beam_search(MarkovDecoder(table), 1, SOS, EOS, beam_width=4, max_length=8, length_penalty=1.0)[0]
    assert raw.tokens == [B]  # 0.5 * 0.4 = 0.2 is the most probable whole sentence
    assert averaged.score >= normalised_score(math.log(0.2), 2, 1.0)
    assert len(averaged.tokens) > len(raw.tokens)  # longer sentences of likelier characters win per character


def test_max_length_cuts_off_unfinished_sentences():
    never_stops = {SOS: {A: 1.0}, A: {A: 0.9, B: 0.1}, B: {A: 1.0}}
    (greedy,) = greedy_search(MarkovDecoder(never_stops), 1, SOS, EOS, max_length=5)
    (beam,) = beam_search(MarkovDecoder(never_stops), 1, SOS, EOS, beam_width=3, max_length=5)
    assert greedy.tokens == [A] * 5 and not greedy.finished
    assert len(beam.tokens) == 5 and not beam.finished


def test_attention_rows_follow_the_chosen_hypothesis_including_the_stop_step():
    (greedy,) = greedy_search(MarkovDecoder(TRAP), 1, SOS, EOS, max_length=10)
    (beam,) = beam_search(MarkovDecoder(TRAP), 1, SOS, EOS, beam_width=3, max_length=10)
    for hypothesis in (greedy, beam):
        steps = len(hypothesis.tokens) + 1  # the stop token has its own row
        assert hypothesis.attention.shape == (steps, 6)
        assert torch.equal(hypothesis.attention, torch.eye(6)[:steps])


def test_batched_rows_decode_independently():
    decoder = MarkovDecoder(TRAP, batch_size=4)
    results = search(decoder, 4, SOS, EOS, max_length=10, beam_width=3)
    assert [hypothesis.tokens for hypothesis in results] == [[B]] * 4


def test_real_translator_beam_one_equals_greedy_and_batching_does_not_change_results():
    """Padding must not leak: each sentence decodes the same alone as in a padded batch."""
    sos, eos = translation_data.SOS, translation_data.EOS
    torch.manual_seed(1)
    model = Translator(TranslatorConfig(source_vocab_size=12, target_vocab_size=10, hidden_size=16, max_output_length=7)).eval()
    sentences = [[4, 5, 6, 7, 8, 9], [5, 4], [11, 10, 9]]
    ids, lengths = translation_data.pad_batch(sentences)
    greedy = greedy_search(model.step_decoder(ids, lengths), 3, sos, eos, 7)
    beam_one = beam_search(model.step_decoder(ids, lengths), 3, sos, eos, 1, 7)
    beam_batched = beam_search(model.step_decoder(ids, lengths), 3, sos, eos, 3, 7)
    for row, sentence in enumerate(sentences):
        assert greedy[row].tokens == beam_one[row].tokens
        alone_ids, alone_lengths = translation_data.pad_batch([sentence])
        (alone,) = beam_search(model.step_decoder(alone_ids, alone_lengths), 1, sos, eos, 3, 7)
        assert alone.tokens == beam_batched[row].tokens
        assert alone.score == pytest.approx(beam_batched[row].score, abs=1e-5)
        assert beam_batched[row].score >= greedy[row].score - 1e-6
        padded_columns = beam_batched[row].attention[:, len(sentence):]
        assert torch.all(padded_columns == 0)  # no weight on padding
