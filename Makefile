# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MEDMNIST := medmnist==3.0.2

.PHONY: run dev test install install-test system-test-deps clean voices

# serve.py loads the models and transcribes the Speech lab's first example, then starts `streamlit run app.py`.
run: $(VENV)/.installed
	$(PY) serve.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# For editing the app: reload on save and show full error details (the shipped config turns both off).
dev: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false \
		--server.fileWatcherType auto --client.showErrorDetails full

test: $(VENV)/.installed-test system-test-deps voices
	$(PY) -m pytest tests

install: $(VENV)/.installed

# torch first, so nothing else pulls a different (CUDA) build; medmnist without torchvision (it breaks beside CPU torch).
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(MEDMNIST)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# Debian packages the tests need: chromium for the browser tests, a Japanese font for the hiragana labels,
# espeak-ng for the speech-synthesis tests.
TEST_PACKAGES := chromium fonts-ipafont-gothic espeak-ng
system-test-deps:
	@dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); }

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

# Text-to-speech voices for `python -m core data synth-ljspeech` (piper and Kokoro from requirements-voices.txt).
# mbrola, RHVoice and pico sit in Debian's contrib/non-free components, which the default sources do not list: a
# separate sources file adds them. Skipped when everything is installed already (tests/test_synth_voices.py needs them).
VOICE_PACKAGES := espeak-ng flite festival festvox-us-slt-hts festvox-kallpc16k mbrola mbrola-us1 mbrola-us2 mbrola-us3 \
	libttspico-utils rhvoice rhvoice-english sox
APT_NONFREE := /etc/apt/sources.list.d/glassbox-nonfree.sources
voices: $(VENV)/.installed-voices
$(VENV)/.installed-voices: $(VENV)/.installed requirements-voices.txt
	$(PY) -m pip install --quiet -r requirements-voices.txt
	touch $@
voices:
	@dpkg -s $(VOICE_PACKAGES) >/dev/null 2>&1 || { \
	  { [ -f $(APT_NONFREE) ] || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $(SUDO) tee $(APT_NONFREE) >/dev/null; } && \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(VOICE_PACKAGES); }

# Translation lab: both homework models (50 epochs each, resumable in runs/mt/), then their checkpoints and cards.
.PHONY: train-mt
train-mt: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(PY) -m core train mt --attention
	OMP_NUM_THREADS=1 $(PY) -m core train mt --no-attention

# Issue 8: the Gradio front end on http://127.0.0.1:7860, and checkpoints/README.md regenerated from the JSON cards.
.PHONY: gradio cards
gradio: $(VENV)/.installed
	$(PY) gradio_app.py --port 7860
cards: $(VENV)/.installed
	$(PY) -m core cards

# Speech lab: rebuild the example clips in assets/speech/ (real LJ Speech clips + test-split texts spoken by TTS voices).
.PHONY: speech-examples
speech-examples: $(VENV)/.installed
	$(PY) -m core data speech-examples

# Every ASR checkpoint and PocketSphinx on real speech (100 real LJ clips, the "other voices" set), ~10 min;
# the Speech lab shows PocketSphinx's row and each model's beam-4 score from the file it writes.
.PHONY: bench-asr-real
bench-asr-real: $(VENV)/.installed
	nice -n 10 $(PY) -m core bench asr-real --widths 1 4 --json > assets/speech/bench-asr-real.json
