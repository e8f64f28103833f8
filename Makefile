# keras-au: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo bench sample-data info freeze clean

setup:
	@bash scripts/setup_venv.sh

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(PY) -m keras_au.cli demo --out runs/demo

sample-data: setup
	$(PY) -m keras_au.cli sample-data

info: setup
	$(PY) -m keras_au.cli info

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Re-resolve the direct requirements and freeze them (maintainers only).
freeze:
	@bash scripts/freeze_requirements.sh

clean:
	rm -rf runs .pytest_cache
