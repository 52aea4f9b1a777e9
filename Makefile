# Everything a newcomer needs: `make run` (the platform with a demo model) and `make test` (the suite).
# Both create .venv and install what they need; torch is pinned by constraints.txt (-c on every pip call).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
STAMP := $(VENV)/.installed-dev
DEMO_HOME ?= $(CURDIR)/.modelplane
PYTEST_WORKERS ?= 2

.PHONY: install run demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: demo

demo: $(STAMP)
	MODELPLANE_HOME=$(DEMO_HOME) bash scripts/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/train.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
