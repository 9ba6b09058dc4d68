# One entry point for people and CI.  Every target installs what it needs.
#   make run    the standalone hub, on 127.0.0.1:8080
#   make test   lint, type check and the whole test suite (installs the test bed)
#   make lint   ruff (lint + format check) and mypy --strict
#   make crds   regenerate crds/*.yaml from the API models
#   make lock   re-resolve requirements*.lock after a change of pyproject.toml
#   make chart-files  copy what kustomize ships and the Helm chart reads into the chart
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The test bed's folder (tests/testbed/paths.py reads the same variable).
MCPHUB_CACHE_DIR ?= $(CURDIR)/.cache
CACHE := $(MCPHUB_CACHE_DIR)

# Dependencies install from hashed lock files with uv: seconds, and the same
# versions on every machine.  uv comes from PATH, else it is installed once per
# machine beside the test bed: by the system's pip when there is one (a venv
# with its own pip costs twice the time), else in a virtual environment.
UV_VERSION := 0.13.9
UV_HOME := $(CACHE)/uv-$(UV_VERSION)
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_HOME)/bin/uv)
UV_PIP = $(UV) pip install --quiet --python $(BIN)/python
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint format testbed crds lock chart-files

$(UV_HOME)/bin/uv:
	$(PYTHON) -m pip install --disable-pip-version-check --root-user-action=ignore -q \
		--target $(UV_HOME) uv==$(UV_VERSION) 2>/dev/null \
	|| ($(PYTHON) -m venv $(UV_HOME) \
		&& $(UV_HOME)/bin/python -m pip install --disable-pip-version-check -q uv==$(UV_VERSION))

$(BIN)/python: | $(UV)
	$(UV) venv --quiet --seed --python $(PYTHON) $(VENV)

# What the hub and the operator run on (make run) ...
$(VENV)/.installed-run: requirements.lock pyproject.toml | $(BIN)/python
	$(UV_PIP) --require-hashes -r requirements.lock
	$(UV_PIP) --no-deps -e .
	touch $@

# ... and the checks and the test bed besides (make test, make lint).
$(VENV)/.installed: requirements-dev.lock $(VENV)/.installed-run
	$(UV_PIP) --require-hashes -r requirements-dev.lock
	touch $@

lock: | $(UV)
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		pyproject.toml -o requirements.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		pyproject.toml --extra dev -c requirements.lock -o requirements-dev.lock

# The example folder runs mcp-server-time and server-everything as stdio
# children; the installer puts both (and Node 22) in the test bed's folder.
SERVERS_PATH = $(CACHE)/mcp-servers-venv/bin:$(CACHE)/node/node_modules/.bin

run: $(VENV)/.installed-run
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
	cp crds/mcphub.dev_*.yaml manifests/helm/mcphub/files/crds/

# Helm reads no file outside its chart, so the chart carries copies (a test
# fails when they drift from what kustomize ships).
chart-files: crds
	cp manifests/monitoring/prometheusrule.yaml manifests/monitoring/dashboards/mcphub.json \
		manifests/helm/mcphub/files/monitoring/
	cp manifests/rbac/peering.yaml manifests/helm/mcphub/files/rbac/
