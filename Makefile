# Two commands on a fresh machine: `make demo` (set up, then train the default model) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup data lint clean bench-setup bench-throughput bench-time-to-accuracy bench-scaling bench-inference \
	bench-timeseries bench-text

demo: setup data
	$(BIN)/striate train

test: setup data
	@sh scripts/get-chromium.sh  # headless Chromium for the report's browser test
	@sh scripts/get-gnugo.sh  # GNU Go for the Go tests
	$(BIN)/ruff check .
	$(BIN)/pytest

setup: $(VENV)/.installed

# torch first, pinned to the CPU build; striate's own `torch>=2.3` is then already satisfied.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

data:
	@sh scripts/get-fashion-mnist.sh

# Benchmarks (not part of the tests): each target installs the peers (Keras, JAX, onnxruntime) once, then runs.
bench-setup: setup data
	$(BIN)/pip install -q -r benchmarks/requirements.txt

bench-throughput: bench-setup
	$(BIN)/python benchmarks/throughput.py

bench-time-to-accuracy: bench-setup
	$(BIN)/python benchmarks/time_to_accuracy.py --peer-runs 1

bench-scaling: bench-setup
	$(BIN)/python benchmarks/scaling.py

bench-inference: bench-setup
	$(BIN)/python benchmarks/inference.py

bench-timeseries: setup
	$(BIN)/python benchmarks/timeseries.py

bench-text: setup
	$(BIN)/python benchmarks/text.py

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
