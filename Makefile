# Videoflix: `make dev` runs the whole platform in one process, `make test` checks it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: dev stack test test-lowest lint format migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the stamps re-run pip whenever pyproject.toml changes
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[bundled-ffmpeg]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.runtime

## dev: install, migrate and start every service all-in-one on 127.0.0.1:$(PORT)
dev: $(VENV)/.runtime
	PORT=$(PORT) $(BIN)/python -m allinone

## stack: every service its own process (two transcoders) against PostgreSQL, RabbitMQ, Redis
## (STACK_POSTGRES_URL, STACK_RABBITMQ_URL, STACK_REDIS_URL) and S3 (S3_ENDPOINT, else moto);
## the gateway on 127.0.0.1:$(PORT); Ctrl-C stops everything it started
stack: $(VENV)/.dev
	PORT=$(PORT) $(BIN)/python -m stack

# hls.js for the browser tests' client; without npm those tests are skipped (CI has it)
E2E_HLS := tests/e2e/node_modules/hls.js/dist/hls.min.js
$(E2E_HLS): tests/e2e/package-lock.json
	@if command -v npm >/dev/null; then cd tests/e2e && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the browser tests will be skipped"; fi

## test: lint, layering contracts, then the whole test suite
test: $(VENV)/.dev $(E2E_HLS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

## test-lowest: the tests again with every direct dependency at the oldest release it allows
test-lowest: $(VENV)/.dev
	PYTHON=$(PYTHON) .ci/lowest-deps

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv-lowest .data .pytest_cache .ruff_cache .mypy_cache tests/e2e/node_modules test-artifacts
