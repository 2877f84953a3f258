# Two commands: `make run` (the product) and `make test` (the whole suite). Both bootstrap themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench services clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing Baton (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch; a plain range would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py run

services:
	@bin/ensure-services

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	# The layers of DESIGN.md: an upward import fails here (contracts in pyproject.toml).
	$(VENV)/bin/lint-imports

test: $(STAMP) services lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP) services
	@for b in bench/[!_]*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .baton
