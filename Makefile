# keras-au: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Two pytest workers (tests of one file stay on one worker: module fixtures are built once; the long subprocess
# checks have a file each so both workers share them). More workers only help on more cores (TEST_WORKERS=auto).
TEST_WORKERS ?= 2

.PHONY: setup test demo bench sample-data info freeze clean

setup:
	@bash scripts/setup_venv.sh

test: setup
	@bash scripts/install_browser.sh
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

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
