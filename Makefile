# Two commands for a newcomer on a fresh machine: `make demo` and `make test`.
# Both make their own virtualenv (.venv) and install what they need into it.
PYTHON ?= python3
VENV ?= .venv
SAM_CLI_VERSION ?= 1.170.0
# Poetry, for the tests of poetry.lock projects: a venv of its own linked into $(VENV)/bin,
# never one of samlink's dependencies.
POETRY_VERSION ?= 2.5.1
POETRY_VENV ?= .venv-poetry
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: venv demo test lint typecheck clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]' 'aws-sam-cli==$(SAM_CLI_VERSION)'
	$(BIN)/uv venv --quiet --clear --python $(BIN)/python $(POETRY_VENV)
	$(BIN)/uv pip install --quiet --python $(POETRY_VENV)/bin/python 'poetry==$(POETRY_VERSION)'
	ln -sf $(CURDIR)/$(POETRY_VENV)/bin/poetry $(BIN)/poetry
	touch $@

venv: $(VENV)/.installed

demo: venv
	examples/hello-world/demo.sh

lint: venv
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS $(BIN)/pytest -ra

clean:
	rm -rf $(VENV) $(POETRY_VENV) .pytest_cache .mypy_cache .ruff_cache
