# Forest: the two commands are `make run` and `make test`; everything else is what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bytecode lock lint typecheck migrate browser bench-tools clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# requirements.lock pins every package `.[dev]` needs, with hashes: `make install` installs exactly those, then
# the project itself (editable, --no-deps), so every install is the same. `make lock` regenerates it on purpose
# (after a change to pyproject.toml's dependencies, or to take newer releases).
LOCK := requirements.lock
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# uv reads its own settings, not pip's: a package index given to pip through the environment is passed on.
ifdef PIP_INDEX_URL
export UV_DEFAULT_INDEX ?= $(PIP_INDEX_URL)
endif

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

# Installed with their bytecode (.pyc): every process the tests and `forest up` start (API, workers, the CLI)
# imports some 1,500 modules, and without .pyc files (uv writes none by default, and PYTHONDONTWRITEBYTECODE=1
# stops Python writing them) each start compiles them all again: `import forest.cli.main` took 4.6 s of CPU
# without them, 1.6 s with them. uv's --compile-bytecode compiles only the packages it installs in that run, so
# compileall covers the whole environment (about 30 s of CPU, once). The project's own modules change between
# runs: `bytecode` compiles the ones that changed.
$(STAMP): pyproject.toml $(LOCK) Makefile | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	$(UV) pip check --python $(BIN)/python || { echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

# One lock for every platform and for Python 3.11 and 3.12 (requires-python), with the hashes of every file.
# Versions already in the lock are kept when they still fit; `make lock UPGRADE=1` takes the newest releases.
lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev --universal --generate-hashes $(if $(UPGRADE),--upgrade) --quiet \
	  --custom-compile-command 'make lock' -o $(LOCK)

install: $(STAMP)

bytecode: install
	@$(BIN)/python -m compileall -q src

migrate: install
	$(BIN)/forest db upgrade

# Runs the whole product on the embedded default: SQLite, the SQLite broker, a worker, beat
# and the local demo bid board; dashboard and API on http://127.0.0.1:8000.
run: install bytecode
	$(BIN)/forest up

# The system Chromium drives the dashboard's browser tests; a Korean font (Nanum) makes their screenshots legible.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=ko | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-nanum; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-nanum; fi; }

# wrk, the load generator the HTTP benchmarks prefer (they fall back to an httpx client without it).
bench-tools: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; fi; }

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

test: install bytecode browser lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
