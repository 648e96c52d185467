# The README's two commands: `make run` and `make test`. Both set everything up from the lock file.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test lint typecheck imports unit bench lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	@mkdir -p var
	@test -s var/master.key || $(BIN)/python -c "import secrets; print('lg-master-' + secrets.token_urlsafe(32))" > var/master.key
	@echo "Ledgergate master key (admin): $$(cat var/master.key)"
	@LEDGERGATE_MASTER_KEY="$${LEDGERGATE_MASTER_KEY:-$$(cat var/master.key)}" $(BIN)/ledgergate serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q

test: lint typecheck imports unit

bench: setup
	$(BIN)/python -m bench

# Regenerate the lock from pyproject.toml's ranges (needs the registry).
lock:
	rm -rf /tmp/ledgergate-lock && $(PYTHON) -m venv /tmp/ledgergate-lock
	/tmp/ledgergate-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/ledgergate-lock/bin/pip freeze --exclude-editable | grep -v '^ledgergate' > requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
