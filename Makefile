# Two commands do all the set-up: `make demo` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Canaille's SCIM server (tests/e2e/canaille/, the e2e tests and `agent-authz demo --api scim`) in
# a venv of its own: Canaille 0.3.6 needs scim2-models 0.9, scim2-server in .venv needs 0.12.
CANAILLE_VENV  := .venv-canaille
CANAILLE_STAMP := $(CANAILLE_VENV)/.installed

.PHONY: demo test lint bench bench-stages bench-tokens proto clean

$(STAMP): pyproject.toml proto/approvals.proto proto/generate.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# xds-protos ships its own, older copy of opentelemetry/proto/: whichever is installed last
	# wins, so put opentelemetry-proto's own files back (the OTLP exporter needs them).
	$(BIN)/pip install --quiet --force-reinstall --no-deps \
	  "opentelemetry-proto==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
	$(BIN)/python proto/generate.py
	touch $(STAMP)

$(CANAILLE_STAMP): tests/e2e/canaille/requirements.txt
	$(PYTHON) -m venv $(CANAILLE_VENV)
	$(CANAILLE_VENV)/bin/pip install --quiet --upgrade pip
	$(CANAILLE_VENV)/bin/pip install --quiet -r tests/e2e/canaille/requirements.txt
	touch $(CANAILLE_STAMP)

# A real redis-server and redis-sentinel (Debian packages) for the Redis store's tests and
# `agent-authz demo --store redis`, and promtool (Debian package prometheus) that checks
# deploy/prometheus/alerts.yml: installed here if missing, like wrk.
.PHONY: tools
tools:
	command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null && command -v promtool >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-sentinel prometheus)

demo: $(STAMP) $(CANAILLE_STAMP) tools
	$(BIN)/agent-authz demo

test: $(STAMP) $(CANAILLE_STAMP) tools
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

# 10,000 rounds of one approval raced by 2 processes on a real Redis, and a budget raced: exits
# non-zero unless every round had exactly one allow and the budget held (README, "Races").
ROUNDS ?= 10000
.PHONY: race
race: $(STAMP) tools
	$(BIN)/python -m bench.race --store redis --rounds $(ROUNDS) --processes 2

# SQLite vs Redis, 1 vs 2 agent-authz processes, reads with and without a task budget, behind
# Envoy in the same run: req/s, p50, p99, CPU µs per decision (README, "State store").
.PHONY: bench-stores
bench-stores: $(STAMP) tools
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.stores --seconds 10 --rounds 3

# From `agent-authz task revoke` returning to the first deny on each of 3 replicas under load,
# on a real Redis: p50, p99, max over 200 revocations (README, "State store").
.PHONY: bench-revocation
bench-revocation: $(STAMP) tools
	$(BIN)/python -m bench.revocation --revocations 200 --replicas 3

# Regenerate authz/_proto/ after editing proto/ (make does it whenever proto/ changes).
proto: $(STAMP)
	$(BIN)/python proto/generate.py

clean:
	rm -rf $(VENV) $(CANAILLE_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache authz/_proto/*_pb2*.py authz/_proto/*.pb

# Mutation testing of the security-critical modules with the unit and integration tests
# (mutmut, configured in pyproject.toml [tool.mutmut]; installed here if missing); prints the
# per-module score. A full run takes about 26 minutes on 2 cores: tests/mutation/scores.md.
.PHONY: mutation
mutation: $(STAMP) $(CANAILLE_STAMP)
	$(BIN)/python -c 'import mutmut' 2>/dev/null || $(BIN)/pip install --quiet 'mutmut==3.8.1'
	$(BIN)/python tests/mutation/run.py --fresh --fail-under 95

# Property-based fuzzing of the pipeline against an independent oracle (tests/fuzz/README.md):
# N requests from the grammar through the real Authorizer, every allow judged; ends with
# "N checks, W wrongful allows, E internal errors, A allows, R checks/s", non-zero if W or E.
# Needs hypothesis in .venv. About 10 minutes per million checks on 2 idle cores.
N    ?= 100000
SEED ?= 1
.PHONY: fuzz
fuzz: $(STAMP)
	PYTHONPATH=tests:. $(BIN)/python -m fuzz.run -n $(N) --seed $(SEED)
