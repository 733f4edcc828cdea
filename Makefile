# Videoflix: `make dev` runs the whole platform in one process, `make test` checks it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: dev stack test test-lowest lint format migrate clean studio-vendor

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

# the studio's browser libraries, locked in studio/package-lock.json and committed under
# STUDIO_VENDOR (so `make dev` needs no npm); the tests check the two agree when npm is there
STUDIO_VENDOR := services/gateway/gateway/studio/vendor
STUDIO_NPM := studio/node_modules/.package-lock.json
$(STUDIO_NPM): studio/package-lock.json
	@if command -v npm >/dev/null; then cd studio && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the studio's vendored files will not be checked"; fi

## studio-vendor: refresh the studio's vendored tus-js-client and hls.js from the npm lock
studio-vendor:
	cd studio && npm ci --no-audit --no-fund --silent
	cp studio/node_modules/tus-js-client/dist/tus.min.js $(STUDIO_VENDOR)/tus.min.js
	cp studio/node_modules/tus-js-client/LICENSE $(STUDIO_VENDOR)/tus-js-client.LICENSE.txt
	cp studio/node_modules/hls.js/dist/hls.min.js $(STUDIO_VENDOR)/hls.min.js
	cp studio/node_modules/hls.js/LICENSE $(STUDIO_VENDOR)/hls.js.LICENSE.txt

## test: lint, layering contracts, then the whole test suite
test: $(VENV)/.dev $(E2E_HLS) $(STUDIO_NPM)
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
	rm -rf $(VENV) .venv-lowest .data .pytest_cache .ruff_cache .mypy_cache tests/e2e/node_modules studio/node_modules test-artifacts
