# Two entry points: `make demo` and `make test`. Both create or refresh .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: setup warmup demo test test-fast docs lint bench clean

setup: $(STAMP)

# The CPU torch wheel goes in first: any other torch request would pull a multi-GB CUDA build.
# `optcache warmup` then compiles the numba kernels once into numba's on-disk cache, so that a
# user's first laot/rolling/lagrange call loads them instead of compiling (rerun it after editing them).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/optcache -q warmup
	touch $(STAMP)

warmup: setup
	$(BIN)/optcache -q warmup

demo: setup
	$(BIN)/optcache demo --out out/demo

# The notebooks are executed once, by the docs build (quick mode; a failing cell fails it).
# The build runs beside pytest (one process each on the CI's 2 cores; 3-4 minutes off the wall
# time); its output is shown once pytest ends, and either failing fails `make test`.
test: setup $(DOCS_STAMP)
	@mkdir -p out
	@$(MAKE) --no-print-directory docs > out/docs-build.log 2>&1 & docs=$$!; \
	trap 'kill $$docs 2>/dev/null' INT TERM; \
	$(BIN)/python -m pytest -q tests; tests=$$?; \
	wait $$docs; built=$$?; \
	grep -v 'Kernel is running over TCP' out/docs-build.log || true; \
	if [ $$built -ne 0 ]; then echo "make docs failed: out/docs-build.log"; fi; \
	exit $$(( tests != 0 || built != 0 ))

# The edit-test loop: everything not marked slow (the CI runs `make test`, slow tests included).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" tests

# The site, into out/docs (entry page out/docs/index.html): every warning is an error (-W -n:
# broken cross-references, missing docstrings, notebook and how-to cells that fail). -E rereads
# every page; executed notebooks are reused from out/docs-cache while their code is unchanged.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $(DOCS_STAMP)

docs: setup $(DOCS_STAMP)
	$(BIN)/sphinx-build -b html -q -E -W -n --keep-going docs out/docs

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/solve_scaling.py
	$(BIN)/python benchmarks/policy_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info out
