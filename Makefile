# Everything a newcomer needs: `make run` (the platform with a demo model) and `make test` (the suite).
# Both create .venv and install what they need; torch is pinned by constraints.txt (-c on every pip call).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
RUN_STAMP := $(VENV)/.installed
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
DEMO_HOME ?= $(CURDIR)/.modelplane
PYTEST_WORKERS ?= 2
BENCHES ?= train prep forest_export serve overload up artifact_crypto audit batch retrain tune compress import_model gc events monitor elastic reuseport

.PHONY: install run demo test lint bench clean console-assets

# `make run` installs what the platform needs; `make test` adds the dev tools. Packages go in with uv,
# which takes seconds where pip takes over a minute. uv does not read pip's configuration, so the
# find-links pip is configured with (a local folder of wheels, such as this machine's CPU torch) are
# passed on; without them both fetch the same packages from PyPI.
PIP_FIND_LINKS ?= $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
UV := $(BIN)/uv
# --compile-bytecode: uv, unlike pip, leaves packages uncompiled, and a CLI command that compiles typer, Rich
# and SQLAlchemy on every start (PYTHONDONTWRITEBYTECODE environments never cache) takes 2-3 s instead of ~1 s.
PIP_INSTALL := $(UV) pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt \
	$(addprefix --find-links ,$(PIP_FIND_LINKS))

$(RUN_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PIP) install -q --disable-pip-version-check -c constraints.txt uv
	$(PIP_INSTALL) -e .
	$(BIN)/python -m compileall -q src
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PIP_INSTALL) -e ".[dev]"
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# bench/serve.py's gRPC peer, NVIDIA PyTriton, in a virtualenv of its own: its bundled Triton Python stub
# links the system libpython, so it needs Debian's python3.11 (apt-get install python3.11-venv).
PYTRITON_VENV := .venv-pytriton
PYTRITON_STAMP := $(PYTRITON_VENV)/.installed
$(PYTRITON_STAMP):
	/usr/bin/python3.11 -m venv $(PYTRITON_VENV)
	$(PYTRITON_VENV)/bin/pip install -q --disable-pip-version-check nvidia-pytriton==0.7.0 onnxruntime numpy
	touch $(PYTRITON_STAMP)

install: $(STAMP)

# The clock starts before the install, so the demo can print the time to its first prediction.
run:
	MODELPLANE_DEMO_T0=$$(date +%s.%N) $(MAKE) --no-print-directory demo

demo: $(RUN_STAMP)
	MODELPLANE_HOME=$(DEMO_HOME) $(BIN)/modelplane up --demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(BENCH_STAMP) $(PYTRITON_STAMP)
	for name in $(BENCHES); do $(BIN)/python bench/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) $(PYTRITON_VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache

# The console's vendored chart library, refreshed from the npm registry (the package keeps the file, so
# installing modelplane never needs Node). Bump UPLOT_VERSION, run this, commit the three files.
UPLOT_VERSION ?= 1.6.32
VENDOR := src/modelplane/console/static/vendor
console-assets:
	rm -rf build/uplot && mkdir -p build/uplot
	cd build/uplot && npm pack --silent uplot@$(UPLOT_VERSION) && tar xzf uplot-$(UPLOT_VERSION).tgz
	cp build/uplot/package/dist/uPlot.iife.min.js build/uplot/package/dist/uPlot.min.css $(VENDOR)/
	cp build/uplot/package/LICENSE $(VENDOR)/LICENSE-uPlot.txt
	echo "uPlot $(UPLOT_VERSION) (npm: uplot), MIT licence: LICENSE-uPlot.txt. Refresh: make console-assets" > $(VENDOR)/README.txt
