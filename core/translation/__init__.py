"""The translation lab: the IST 2022-23 homework's character-level Spanish->English seq2seq, without and with
bilinear attention.

    data.py        the sentence pairs, character vocabularies, normalisation of typed text, example sentences
    model.py       Translator: BiLSTM encoder, LSTM decoder, BilinearAttention, and its step decoder for search
    inference.py   load a shipped translator and translate one sentence, with its attention weights
    evaluation.py  the homework's error rate over a split, the card's test scores, the results table
    training.py    TranslationRecipe, train, build_card, publish_best
    student.py     a translator a student trained in the homework: recognised by structure, loaded into Translator
    figures.py     the lab's plotly figures, for both front ends
    cli.py         register: `train mt`, `translate`, `evaluate mt/NAME|FILE`, `data translation-examples`, the
                   student translator's detector for `inspect-checkpoint`
"""
