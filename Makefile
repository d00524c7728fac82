# Two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: demo test lint bench clean browser

# Debian's chromium for the report's browser test (skipped with a reason when it cannot be had).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

# torch first: the pinned CPU wheel is on local disk, a bare requirement pulls a CUDA build.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)

$(VENV)/.demo-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[bench,search]'
	touch $@

$(VENV)/.test-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[bench,search,test]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/frugal demo

test: $(VENV)/.test-installed browser
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/ruff format --check src tests benchmarks conftest.py
	$(BIN)/mypy
	$(BIN)/python -m pytest

browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	  { DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { $(SUDO) apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "note: could not install chromium; the browser test will skip"; }

bench: $(VENV)/.demo-installed
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
