# Two commands do all set-up on a fresh machine: `make run` and `make test` (each creates .venv first).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/ecrm/requirements.txt | sha1sum | cut -c1-12)
CHALICE_VERSION := 1.34.0

.PHONY: run test lint bench clean build-ApiFunction

$(STAMP): requirements-dev.txt layers/ecrm/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

## run: the whole system locally (moto, no Docker, no AWS account) on http://127.0.0.1:8000
run: $(STAMP)
	$(PY) -m infra.local run

## test: every test (unit, integration, contract, e2e) and the linters
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/cfn-lint template.yaml

## bench: the benchmarks under bench/ (figures go to docs/benchmarks.md)
bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .local .aws-sam .pytest_cache .ruff_cache

# `sam build` calls this for ApiFunction (Metadata BuildMethod: makefile): app.py plus Chalice's runtime
# module only (chalice/app.py), not the Chalice CLI and its dependencies. The layer carries ecrm.
build-ApiFunction:
	$(eval TMP := $(shell mktemp -d))
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --target $(TMP) chalice==$(CHALICE_VERSION)
	mkdir -p $(ARTIFACTS_DIR)/chalice
	cp app.py $(ARTIFACTS_DIR)/
	cp $(TMP)/chalice/app.py $(ARTIFACTS_DIR)/chalice/app.py
	printf 'from chalice.app import *  # noqa: F401,F403\nfrom chalice.app import __version__  # noqa: F401\n' \
		> $(ARTIFACTS_DIR)/chalice/__init__.py
	rm -rf $(TMP)
	# Lambda's code directory is read-only: ship bytecode for the runtime's Python, or every cold start compiles.
	if python3.12 -c pass 2>/dev/null; then python3.12 -m compileall -q $(ARTIFACTS_DIR); fi
