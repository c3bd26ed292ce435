# Two commands on a fresh clone: `make demo` and `make test`. Both run `make setup` first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0

.PHONY: setup demo test test-slow bench docs lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first and pinned: the CPU wheel on this machine; a GPU user installs their own before.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	-@bash scripts/install-system-packages.sh
	touch $(STAMP)

demo: setup
	$(BIN)/disentkit quickstart

test: setup
	$(BIN)/python -m pytest -q -m "not slow" --timeout=900

test-slow: setup
	$(BIN)/python -m pytest -q -m slow --timeout=1800

bench: setup
	$(BIN)/python -m benchmarks.run

# The user guide (docs/*.md, README.md as home) and the API reference → site/ (git-ignored); warnings
# are errors. `make test` builds it too (tests/test_docs_build.py).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info .pytest_cache
