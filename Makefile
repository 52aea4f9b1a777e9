# Everything a newcomer needs: `make run` (the platform with a demo model) and `make test` (the suite).
# Both create .venv and install what they need; torch is pinned by constraints.txt (-c on every pip call).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
DEMO_HOME ?= $(CURDIR)/.modelplane
PYTEST_WORKERS ?= 2
BENCHES ?= train serve up audit tune compress

.PHONY: install run demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e ".[dev,bench]"
	touch $(BENCH_STAMP)

install: $(STAMP)

# The clock starts before the install, so the demo can print the time to its first prediction.
run:
	MODELPLANE_DEMO_T0=$$(date +%s.%N) $(MAKE) --no-print-directory demo

demo: $(STAMP)
	MODELPLANE_HOME=$(DEMO_HOME) $(BIN)/modelplane up --demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(BENCH_STAMP)
	for name in $(BENCHES); do $(BIN)/python bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
