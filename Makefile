# rnnkit: two commands set everything up on a fresh machine.
#   make demo   creates .venv, installs rnnkit, runs the main job (rnnkit tour) on bundled data
#   make test   creates .venv if needed, installs, runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build on local disk, and only when no torch is present:
# an unpinned torch would pull a multi-GB CUDA build.
# --no-compile, then compileall on every core: pip byte-compiles the ~17,000 modules one at a time,
# which was more than half of the install (210 s of it on a 2-core VM; 95 s + 43 s this way). Like
# pip's own step, compileall skips the few files this Python cannot compile (torch ships a 3.12-only
# one), hence -qq and `|| true`.
$(STAMP): $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q --no-compile "torch==2.13.0"
	$(PIP) install -q --no-compile -e ".[dev]"
	$(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" src || true
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/rnnkit tour

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest -n 2 -q

test: lint typecheck pytest

bench: install
	$(VENV)/bin/rnnkit bench speed

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
