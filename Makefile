# traject's task runner. `make demo` and `make test` are all a newcomer needs;
# .ci/run calls the same targets on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# the editable install is redone only when the project's metadata changes
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast postgres lint fmt docs docs-check bench clean

help:
	@echo "make demo       set up, then generate a demo caseload and show its reports (SQLite)"
	@echo "make test       set up, then run the whole test suite (SQLite and PostgreSQL)"
	@echo "make install    create $(VENV) and install traject with its dev tools"
	@echo "make lint       ruff check and format, mypy on the code (ledger, projections, commands, cli.py, traject_entry.py), generated docs current"
	@echo "make fmt        ruff format and ruff check --fix"
	@echo "make docs       regenerate docs/events.md, docs/rules.md, docs/cli.md and the README quick start"
	@echo "make bench      run the benchmarks in bench/"

# traject's own modules are compiled to bytecode here, as pip does for the installed packages:
# the editable install leaves them as source, and with PYTHONDONTWRITEBYTECODE set (as in
# .ci/run) every `traject` process would compile them again (about 0.3 s of each start)
install: $(STAMP)
	@$(BIN)/python -m compileall -q ledger projections commands cli.py traject_entry.py >/dev/null

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

demo: install
	$(BIN)/traject demo

# PostgreSQL must answer on 127.0.0.1:5432 (started here if installed but down); without it the
# PostgreSQL tests skip with a reason locally and fail when CI is set.
postgres:
	@bash .ci/postgres-up

test: install postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# everything but the PostgreSQL and slow tiers, for a quick loop while editing
test-fast: install
	$(BIN)/python -m pytest -m "not postgres and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ledger projections commands cli.py traject_entry.py
	$(BIN)/python docs/gen.py --check

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: install
	$(BIN)/python docs/gen.py

docs-check: install
	$(BIN)/python docs/gen.py --check

bench: install
	@set -e; found=no; for script in bench/*.py; do \
		grep -q '__name__ == "__main__"' "$$script" 2>/dev/null || continue; found=yes; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done; [ $$found = yes ] || echo "no benchmarks in bench/ yet"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
