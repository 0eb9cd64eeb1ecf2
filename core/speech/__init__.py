"""The Speech lab's homework in one package: an attention recognizer from audio to characters.

Read it bottom up: `vocabulary` (35 tokens) and `features` (audio → log-mel, long audio cut at pauses, the no-speech
check); `corpus/` (LJ Speech, its synthetic stand-in, real recordings, augmentation); `model` (encoder, decoders,
Speech-Transformer; joint CTC decoding from core.ctc); `dataset` and `recipe` (batches, loss, stages); `inference`
(clip → transcript, attention maps, `warm_up`); `evaluation` (scores, tuning, real-speech benchmarks); `speed` (`bench
asr`); `training` and `card` (run → checkpoint); `figures`, `examples` and `cli` on top.
"""
