# One command for each thing a newcomer does. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: install check migrate seed keys run test test-e2e lint format bench bench-gateway bench-search bench-seats bench-booking postman clean

install: ## virtualenv with every dependency, pinned
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: newman not installed (make postman and tests/e2e/test_postman.py need it)"; fi

check: ## Postgres and Redis reachable (creates the database if missing)
	@$(BIN)/python -m shared.manage check

migrate: check ## alembic upgrade head for every service
	$(BIN)/python -m shared.manage migrate

seed: migrate ## demo data (idempotent)
	$(BIN)/python -m shared.manage seed

keys: ## every service's key pair for service tokens (var/service-keys), where missing
	$(BIN)/python -m shared.manage keys

run: seed keys ## migrate, seed, then all nine services with honcho
	$(BIN)/honcho start -f Procfile

test: ## the whole suite: unit, service and e2e tests against real Postgres, Redis, processes
	$(BIN)/python -m pytest

test-e2e:
	$(BIN)/python -m pytest tests/e2e

BASE_URL ?= http://localhost:8080

postman: ## the Postman collection with newman against a running gateway (BASE_URL=...)
	@test -x node_modules/.bin/newman || { echo "newman is missing: make install (needs node and npm)"; exit 1; }
	node_modules/.bin/newman run postman_collection.json --env-var baseUrl=$(BASE_URL)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
# mypy --strict over the kit, the gateway and all eight services
	$(BIN)/mypy shared api_gateway auth_service booking_service discount_service flight_search_service \
		notification_service payment_service seat_service ticket_service

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# BASELINE=<git ref>: the gateway, booking and search benchmarks also measure that commit
# first, for a before/after in one run (e.g. make bench BASELINE=e413dcb).
BASELINE ?=
BASELINE_ARG := $(if $(BASELINE),--baseline $(BASELINE),)

bench: bench-gateway bench-search bench-seats bench-booking ## every benchmark; reports in bench/reports/

bench-gateway: ## direct vs through the gateway (wrk), 1,000 travellers on one seat, idle CPU
	@command -v wrk >/dev/null || { echo "bench-gateway needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/bench_gateway.py $(BASELINE_ARG)

bench-search: ## search latency and throughput, uncached and cached, on growing networks
	$(BIN)/python bench/bench_search.py $(BASELINE_ARG)

bench-booking: ## the whole journey through the gateway, 8 travellers, CPU per journey; a pay race
	$(BIN)/python bench/bench_booking.py $(BASELINE_ARG)

bench-seats: ## seat holds: latency, holds/s and a contention run -> bench/reports/seats.md
	$(BIN)/python bench/bench_seats.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
