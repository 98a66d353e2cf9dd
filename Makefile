# Two commands on a fresh machine: `make demo` (set up, then train the default model) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup data lint clean

demo: setup data
	$(BIN)/striate train

test: setup data
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

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
