# Quick start on a fresh Debian 12 machine, as root:  make demo ; make test
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python

.PHONY: install install-dev demo demo-cluster test unit integration e2e fuzz lint bench clean

install:            ## apt packages the project needs, then .venv with hatoba installed
	./scripts/install.sh

install-dev:
	./scripts/install.sh --dev

demo: install       ## the seed walkthrough in a throwaway sandbox
	$(PY) -m hatoba.demo

demo-cluster: install-dev   ## two hosts, one overlay network, the VXLAN packets on the wire
	$(PY) -m hatoba.demo_cluster

test: install-dev   ## lint, types, layering, then every test
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q tests

unit: install-dev
	$(PY) -m pytest -q tests/unit

integration: install-dev
	$(PY) -m pytest -q tests/integration

e2e: install-dev
	$(PY) -m pytest -q tests/e2e

fuzz: install-dev   ## the fuzzers of `make test`, 50 times as many examples (~10 minutes)
	HATOBA_FUZZ=long $(PY) -m pytest -q -m fuzz --timeout 3600 tests

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install-dev  ## prints the performance tables (see README)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
