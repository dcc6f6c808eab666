# reskeras — the two quick-start commands are `make demo` and `make test`.
#   make demo    the package alone (no dev/docs extras) and Fashion-MNIST; trains briefly, exports
#   make check   the fast tier while you work: ruff, the docs build, pytest -m "not slow"
#   make test    the whole suite (what CI runs, .ci/run): ruff, the docs build, every test,
#                on two cores (pytest-xdist; a test file runs whole on one of them)
SHELL    := /bin/bash
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
# One stamp per install, so `make demo` and then `make test` still installs the extras.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev-docs
FMNIST   := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CHROMIUM := /usr/bin/chromium
ROOT     := $(shell id -u)
# More pytest options, e.g. `make check PYTEST_ARGS='-x tests/layers'`.
PYTEST_ARGS ?=

.PHONY: install demo check test docs lint format lab data-deps system-deps bench

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,docs]'
	touch $@ $(RUN_STAMP)

install: $(DEV_STAMP)

# Debian packages; only root can install them. Without Fashion-MNIST the demo downloads it
# with tfds and the tests that need it skip (fail with CI=true); without Chromium the browser
# test skips.
data-deps:
	@if [ ! -f $(FMNIST) ]; then \
	  if [ "$(ROOT)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends dataset-fashion-mnist; \
	  else echo "not root: skipping apt-get install dataset-fashion-mnist"; fi; \
	fi

system-deps: data-deps
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$(ROOT)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "not root: skipping apt-get install chromium"; fi; \
	fi

# The docs build checks the docs against the code (--strict: a broken link, reference or
# docstring fails). Not -q: with it mkdocs hides the warnings --strict fails on.
define docs_check
	@site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && \
	  NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict -d "$$site" 2>&1 | \
	  grep -v '^INFO' ; test $${PIPESTATUS[0]} -eq 0
endef

demo: $(RUN_STAMP) data-deps
	$(BIN)/reskeras demo

# The fast tier, on both cores: the unit tests. `slow` ones (end-to-end runs: CLI, notebooks,
# browser, clusters, fresh interpreters; whole models trained or ported) run in `make test`.
check: $(DEV_STAMP) data-deps
	$(BIN)/python -m ruff check reskeras tests bench
	$(docs_check)
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile --durations=10 $(PYTEST_ARGS)

test: $(DEV_STAMP) system-deps
	$(BIN)/python -m ruff check reskeras tests bench
	$(docs_check)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30 $(PYTEST_ARGS)

docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

lint:
	$(BIN)/python -m ruff check reskeras tests bench
	$(BIN)/python -m ruff format --check reskeras tests bench

format:
	$(BIN)/python -m ruff format reskeras tests bench
	$(BIN)/python -m ruff check --fix reskeras tests bench

lab: $(DEV_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(ROOT)),--allow-root)
