# reskeras — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
ROOT   := $(shell id -u)

.PHONY: install demo test lint format lab system-deps bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Debian packages: the offline Fashion-MNIST copy and Chromium for the browser test.
# Only root can install them; others fall back to tfds (online) and a skipped browser test.
system-deps:
	@need=""; \
	[ -f $(FMNIST) ] || need="$$need dataset-fashion-mnist"; \
	[ -x /usr/bin/chromium ] || need="$$need chromium"; \
	if [ -n "$$need" ]; then \
	  if [ "$(ROOT)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$need; \
	  else echo "not root: skipping apt-get install$$need"; fi; \
	fi

demo: install system-deps
	$(BIN)/reskeras demo

test: install system-deps
	$(BIN)/python -m ruff check reskeras tests bench
	$(BIN)/python -m pytest -q --durations=15

lint:
	$(BIN)/python -m ruff check reskeras tests bench
	$(BIN)/python -m ruff format --check reskeras tests bench

format:
	$(BIN)/python -m ruff format reskeras tests bench
	$(BIN)/python -m ruff check --fix reskeras tests bench

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(ROOT)),--allow-root)
