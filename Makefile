.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)

install: $(PY) ## Install Moorage and the test tools into .venv
	$(PY) -m pip install -q -e '.[test]'

serve: install ## Run the server on the embedded default (SQLite + filesystem in ./moorage-data)
	$(VENV)/bin/moorage serve --data-dir ./moorage-data

test: ## Install test dependencies (apt + pip) and run the whole suite
	scripts/test.sh

test-fast: install ## Run the suite without the slow and real-client tests, SQLite only
	$(PY) -m pytest -q -m "not slow and not clients" --backend sqlite

lint: install ## ruff lint and the import-layer contracts (formatting is by hand, to 120 columns)
	$(VENV)/bin/ruff check src tests bench
	PATH=$(VENV)/bin:$$PATH lint-imports

typecheck: install ## mypy (strict) over src/
	$(VENV)/bin/mypy

bench: install ## Benchmark against the reference registry (docker-registry); see bench/README.md
	$(PY) bench/registry_bench.py

.PHONY: help install serve test test-fast lint typecheck bench
