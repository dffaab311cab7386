# Kho: everything a person or CI runs. `make demo` and `make test` need nothing installed beforehand
# except python3 (3.11), git and make.
SHELL := /bin/bash
PY    := .kho/venvs/main/bin/python
KHO   := .kho/venvs/main/bin/kho
# The test suite runs its own services on other ports, beside a running demo.
# Below Linux's ephemeral ports (32768-60999): a busy suite's own outgoing connections cannot take them first.
TEST_PORT_BASE ?= 26300
TEST_ENV := KHO_HOME=$(CURDIR)/.kho/test KHO_PORT_BASE=$(TEST_PORT_BASE)

.PHONY: install demo up down test test-fast lint format bench bench-gate airflow sync docs

install:
	@scripts/install.sh

# The demo: Kho's services, the stand-ins for agency systems, the samples delivered and run (demo/).
demo: install
	@$(PY) -m demo run

up: install
	@$(PY) -m demo up

down:
	@if [ -x $(KHO) ]; then $(KHO) down; $(TEST_ENV) $(KHO) down >/dev/null; \
	  KHO_HOME=$(CURDIR)/.kho/test-e2e KHO_PORT_BASE=$$(($(TEST_PORT_BASE) + 100)) $(KHO) down >/dev/null; fi

# The whole suite against real services started for it (and stopped afterwards).
test: install
	@TEST_PORT_BASE=$(TEST_PORT_BASE) PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test.sh

# Unit tests only: no services.
test-fast: install
	@$(PY) -m pytest -q -m "not e2e" tests/unit

# sqlfluff's dbt templater compiles the project against the warehouse, so lint starts the services.
lint: up
	@.kho/venvs/main/bin/ruff check .
	@.kho/venvs/main/bin/ruff format --check .
	@set -a; eval "$$($(PY) -c 'from kho.conforming.dbt import dbt_env; [print(f"{k}={v}") for k, v in dbt_env().items()]')"; \
	  .kho/venvs/dbt/bin/sqlfluff lint dbt_project/models

format: install
	@.kho/venvs/main/bin/ruff check --fix -q .
	@.kho/venvs/main/bin/ruff format -q .

bench: install
	@$(PY) -m demo up
	@$(PY) -m bench

# The quality gate's catch rate: seeded errors in the sample deliveries through landing, dbt and GX
# (bench/README.md). It rewrites raw tables, so it runs on a state of its own, not the demo's.
GATE_ENV := KHO_HOME=$(CURDIR)/.kho/bench-gate KHO_PORT_BASE=$(or $(GATE_PORT_BASE),57300)
bench-gate: install
	@$(GATE_ENV) $(PY) -m demo up
	@status=0; $(GATE_ENV) $(PY) -m bench.seeded_errors $(GATE_ARGS) || status=$$?; \
	  $(GATE_ENV) $(KHO) down >/dev/null; exit $$status

# Regenerate the dbt files the catalog decides (sources, groups, grants, exposures, vars). Kho also does it by
# itself before every dbt command it runs (kho/conforming/sync.py); this is the same step by hand.
sync: install
	@$(PY) scripts/sync_dbt_from_catalog.py

# The shared-table catalog agencies browse (dbt docs), written to .kho/docs/static_index.html.
docs: up
	@set -a; eval "$$($(PY) -c 'from kho.conforming.dbt import dbt_env; [print(f"{k}={v}") for k, v in dbt_env().items()]')"; \
	  cd dbt_project && ../.kho/venvs/dbt/bin/dbt docs generate --static --target-path $(CURDIR)/.kho/docs

# Where the Airflow UI is, with its login (Airflow runs as a service from `make up` on).
airflow: up
	@$(PY) -c 'from kho.operations import airflow; from kho.settings import settings as s; print(f"Airflow UI: {s().airflow_api_url}  user {airflow.ADMIN}  password in {airflow.passwords_file(s())}")'
