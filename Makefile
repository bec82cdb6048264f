# Two commands do all the set-up: `make demo` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-stages bench-tokens proto clean

$(STAMP): pyproject.toml proto/approvals.proto proto/generate.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python proto/generate.py
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/agent-authz demo

test: $(STAMP)
	$(BIN)/ruff check authz tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check authz tests bench
	$(BIN)/mypy

# Needs a load generator: wrk (Debian package), installed here if missing.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run

# µs per pipeline stage, in one process (no Envoy, no load generator).
bench-stages: $(STAMP)
	$(BIN)/python -m bench.stages

# Per-check cost with 100,000 distinct task tokens (the bounded caches; about a minute).
bench-tokens: $(STAMP)
	$(BIN)/python -m bench.token_cache

# Regenerate authz/_proto/ after editing proto/ (make does it whenever proto/ changes).
proto: $(STAMP)
	$(BIN)/python proto/generate.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache authz/_proto/*_pb2*.py authz/_proto/*.pb
