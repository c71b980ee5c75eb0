# Every target sets itself up: it creates .venv (or reuses it) and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test check bench screenshots clean stack-up stack-down

# CI: make demo DEMO_ARGS="--approve-as alice --override-reason 'seen in CI'"
DEMO_ARGS ?=
# make demo AGENT=<agent> runs flows/<agent>/demo.py; FORGE's demo is the historic flows/demo.py.
AGENT ?= forge
DEMO_MODULE = $(if $(filter forge,$(AGENT)),prefect_review_gate.flows.demo,prefect_review_gate.flows.$(AGENT).demo)

demo: $(STAMP)  ## the main job: an agent (FORGE by default) end to end on a temporary Prefect server
	$(BIN)/python -m $(DEMO_MODULE) $(DEMO_ARGS)

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

check: $(STAMP)  ## lint, format and type checks, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# build/ is setuptools' cache: a module deleted from the tree would survive in it.
	rm -rf .typecheck build && $(BIN)/pip install -q --no-deps --target .typecheck .
	cd .typecheck && ../$(BIN)/mypy -p prefect_review_gate

screenshots: $(STAMP)  ## the README's Prefect UI screenshots, from real runs in Debian's chromium
	REVIEW_GATE_SCREENSHOTS=docs/images REVIEW_GATE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/test_prefect_ui.py tests/test_monitoring_ui.py

bench: $(STAMP)  ## benchmarks: print figures, never fail
	$(BIN)/python benchmarks/grounding_bench.py
	$(BIN)/python benchmarks/grounding_context_probe.py
	$(BIN)/python benchmarks/stats_bench.py
	$(BIN)/python benchmarks/actions_bench.py
	$(BIN)/python benchmarks/gate_bench.py
	$(BIN)/python benchmarks/approve_cli_bench.py
	$(BIN)/python benchmarks/slack_bench.py
	$(BIN)/python benchmarks/citation_units_bench.py
	$(BIN)/python benchmarks/commit_bench.py
	$(BIN)/python benchmarks/request_census.py
	$(BIN)/python benchmarks/stack_bench.py
	$(BIN)/python benchmarks/steady_bench.py

stack-up: $(STAMP)  ## PostgreSQL 15, a Prefect server on it and an S3 server, on this machine (scripts/stack.py)
	scripts/stack.sh up

stack-down:  ## stop what stack-up started and delete its folders
	scripts/stack.sh down

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache .hypothesis
