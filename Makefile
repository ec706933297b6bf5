# One venv for everything. `make demo` and `make test` are the README's Quick start.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xmodal-installed
DEMO   ?= $(or $(TMPDIR),/tmp)/xmodal-demo

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of torch first, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/python -m bench.sample_photos $(DEMO)/photos
	$(BIN)/xmodal index $(DEMO)/photos --index-dir $(DEMO)/index
	$(BIN)/xmodal search "a cat sleeping on a sofa" -n 5 --index-dir $(DEMO)/index
	$(BIN)/xmodal search "rocket launch" -n 3 --index-dir $(DEMO)/index

lint: $(STAMP)
	$(BIN)/ruff format --check xmodal_cli tests bench
	$(BIN)/ruff check xmodal_cli tests bench
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.text_to_image_eval
	$(BIN)/python -m bench.index_throughput
	$(BIN)/python -m bench.reindex_unchanged
	$(BIN)/python -m bench.query_latency
	$(BIN)/python -m bench.large_index
	$(BIN)/python -m bench.peak_rss

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
