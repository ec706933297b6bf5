# One venv for everything. `make demo` and `make test` are the README's Quick start.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xmodal-installed
DEMO   ?= $(or $(TMPDIR),/tmp)/xmodal-demo

# Test media from Debian: espeak-ng speaks known sentences, pocketsphinx-testdata has people
# reading, sox makes and measures sounds; chromium and its driver run the browser test of
# `xmodal serve`. Installed once; skipped when already there.
# libgl1, libglib2.0-0: OpenCV, which rapidocr (words in images) imports, links them.
# sound-theme-freedesktop: real sounds for the `sound` space's tests (380 KB).
TEST_PACKAGES := espeak-ng pocketsphinx-testdata sox chromium chromium-driver libgl1 libglib2.0-0 \
	sound-theme-freedesktop
# Real sounds for bench.real_sounds (not needed by the tests; it skips what is missing).
BENCH_SOUND_PACKAGES := gcompris-qt-data oxygen-sounds sound-icons pingus-data frozen-bubble-data
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages demo test lint bench bench-sounds clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of torch first, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,serve,ray]'
	touch $(STAMP)

setup: $(STAMP) system-packages

system-packages:
	@if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null \
	    || [ ! -d /usr/share/pocketsphinx/test/data/librivox ] \
	    || [ ! -d /usr/share/sounds/freedesktop/stereo ] \
	    || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing test media tools: $(TEST_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(TEST_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP) system-packages
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/python -m bench.sample_photos $(DEMO)/photos
	$(BIN)/python -m bench.sample_sounds $(DEMO)/recordings
	$(BIN)/xmodal index $(DEMO)/photos $(DEMO)/recordings --index-dir $(DEMO)/index
	$(BIN)/xmodal search "a cat sleeping on a sofa" -n 5 --index-dir $(DEMO)/index
	$(BIN)/xmodal search "the meeting where we discussed spending" -n 3 --index-dir $(DEMO)/index
	$(BIN)/xmodal similar $(DEMO)/recordings/samples/kick_00.wav -n 3 --index-dir $(DEMO)/index

lint: $(STAMP)
	$(BIN)/ruff format --check xmodal_cli tests bench
	$(BIN)/ruff check xmodal_cli tests bench
	$(BIN)/mypy --strict xmodal_cli
	$(BIN)/mypy tests bench

test: $(STAMP) system-packages lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.text_to_image_eval
	$(BIN)/python -m bench.index_throughput
	$(BIN)/python -m bench.ray_scaling
	$(BIN)/python -m bench.reindex_unchanged
	$(BIN)/python -m bench.query_latency
	$(BIN)/python -m bench.large_index
	$(BIN)/python -m bench.million
	$(BIN)/python -m bench.peak_rss
	$(BIN)/python -m bench.audio_throughput
	$(BIN)/python -m bench.audio_similarity
	$(BIN)/python -m bench.real_sounds
	$(BIN)/python -m bench.audio_memory

bench-sounds:  # the real sounds bench.real_sounds reads (Debian; data only, no games)
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	  $(BENCH_SOUND_PACKAGES) >/dev/null

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
