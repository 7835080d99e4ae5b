# Every target sets itself up: a fresh clone needs only Python >= 3.11 (3.11 or 3.12 for the
# bundled redis-server; elsewhere put redis-server on PATH or set ROVER_REDIS_SERVER).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA ?= $(or $(ROVER_DATA_DIR),.rover-data)
PIP_LOG := $(VENV)/pip-install.log
# pip's own lines that show progress (one per package), without its noise; the whole output
# goes to $(PIP_LOG), whose tail is shown when the install fails. grep finding nothing is no
# failure; pip's own status still fails the pipe (pipefail).
PIP_PROGRESS := tee $(PIP_LOG) | { grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed|ERROR|WARNING)' || true; } | sed -u 's/^/  /'

.PHONY: setup redis run run-secure certs test lint protos bench shell clean clean-data

setup: $(STAMP) redis

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "[setup 1/3] creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@echo "[setup 2/3] upgrading pip"
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@echo "[setup 3/3] installing the project and its tools into $(VENV) (about a minute the first time)"
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' 2>&1 | $(PIP_PROGRESS) \
	  || { echo "pip failed; the end of its output ($(PIP_LOG)):"; tail -n 30 $(PIP_LOG); exit 1; }
	@touch $(STAMP)

# The one rule for which redis-server runs (services/up/redis_binary.py): PATH, else the bundled one.
redis: $(STAMP)
	@$(BIN)/python -m services.up.redis_binary

protos: $(STAMP)
	$(BIN)/python -m protos.generate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/buf lint --config protos/buf.yaml --path protos

test: lint redis
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: setup
	$(BIN)/python -m services.up

# A development CA and server/client certificates under .certs/ (services/up/certs.py).
certs: $(STAMP)
	$(BIN)/python -m services.up.certs

# make run over TLS, with users on the event store and static tokens (docs/security.md).
run-secure: setup certs
	ROVER_SECURE=true $(BIN)/python -m services.up

bench: setup
	$(BIN)/python -m bench

# A shell with the venv active: `rover`, `grpcurl` and `python` are the project's.
shell: setup
	@echo "venv active: rover, grpcurl and python are the project's; exit to leave"
	@bash --rcfile <(echo '[ -f ~/.bashrc ] && . ~/.bashrc; . $(BIN)/activate; PS1="(rover) $$PS1"') -i

# Deletes everything `make run` stored (events, read model, logs) after asking (YES=1: don't ask).
clean-data: $(STAMP)
	@$(BIN)/python -m services.up.clean_data "$(DATA)" $(if $(filter 1 yes true,$(YES)),--yes)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
