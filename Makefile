# One entry point for people and CI.  Every target installs what it needs.
#   make run    the standalone hub, on 127.0.0.1:8080
#   make test   lint, type check and the whole test suite (installs the test bed)
#   make lint   ruff (lint + format check) and mypy --strict
#   make crds   regenerate crds/*.yaml from the API models
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format testbed crds

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

# The example folder runs mcp-server-time and server-everything as stdio
# children; the installer puts both (and Node 22) in .cache/.
SERVERS_PATH = $(CURDIR)/.cache/mcp-servers-venv/bin:$(CURDIR)/.cache/node/node_modules/.bin

run: $(VENV)/.installed
	$(BIN)/python -m tests.testbed.install --servers-only
	PATH="$(SERVERS_PATH):$$PATH" $(BIN)/python -m hub_proxy --config hub_proxy/examples/standalone --anonymous

testbed: $(VENV)/.installed
	$(BIN)/python -m tests.testbed.install

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: testbed lint
	$(BIN)/pytest

crds: $(VENV)/.installed
	$(BIN)/python -m mcphub_api.crd
