# Two entry points: `make demo` and `make test`. Both create or refresh .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup warmup demo test lint bench clean

setup: $(STAMP)

# The CPU torch wheel goes in first: any other torch request would pull a multi-GB CUDA build.
# `optcache warmup` then compiles the numba kernels once into numba's on-disk cache, so that a
# user's first laot/rolling/lagrange call is as fast as the next (rerun it after editing them).
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

test: setup
	$(BIN)/python -m pytest -q tests $(if $(wildcard notebooks/*.ipynb),--nbmake notebooks,)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/solve_scaling.py
	$(BIN)/python benchmarks/policy_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info out
