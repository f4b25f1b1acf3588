# One command for each thing a newcomer does. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: install check migrate seed run test test-e2e lint format bench bench-search bench-seats bench-booking clean

install: ## virtualenv with every dependency, pinned
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'

check: ## Postgres and Redis reachable (creates the database if missing)
	@$(BIN)/python -m shared.manage check

migrate: check ## alembic upgrade head for every service
	$(BIN)/python -m shared.manage migrate

seed: migrate ## demo data (idempotent)
	$(BIN)/python -m shared.manage seed

run: seed ## migrate, seed, then all nine services with honcho
	$(BIN)/honcho start -f Procfile

test: ## the whole suite: unit, service and e2e tests against real Postgres, Redis, processes
	$(BIN)/python -m pytest

test-e2e:
	$(BIN)/python -m pytest tests/e2e

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
