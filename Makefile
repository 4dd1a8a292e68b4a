# graphile_worker — developer targets.
#
#   make            build build/graphile_worker--$(EXTVERSION).sql from sql/src (path order)
#   make install    build and install the extension into the server of `pg_config` (PGXS)
#   make test       install what is missing, start a throwaway cluster, run the whole suite
#   make run        the example: throwaway cluster (unless DATABASE_URL), example jobs, runner
#   make lint       ruff + mypy on the Python package
#   make bench      the project's own benchmarks (bench/)

EXTENSION   = graphile_worker
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" graphile_worker.control)
SRC_FILES   = $(shell find sql/src -name '*.sql' | LC_ALL=C sort)
BUILT       = build/$(EXTENSION)--$(EXTVERSION).sql
STANDALONE  = build/$(EXTENSION)-standalone.sql

DATA_built  = $(BUILT)
DATA        = $(filter-out $(notdir $(BUILT)),$(wildcard sql/upgrades/*.sql) $(wildcard sql/released/*.sql))
EXTRA_CLEAN = build

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
all: $(BUILT)
install:
	@echo "pg_config not found: run scripts/ensure-deps.sh (installs postgresql-server-dev-15)" >&2; exit 2
endif

VENV       ?= .venv
PYTHON     ?= $(VENV)/bin/python
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

$(BUILT): $(SRC_FILES) graphile_worker.control scripts/build-sql.sh
	scripts/build-sql.sh extension $(EXTVERSION) $@ $(SRC_FILES)

$(STANDALONE): $(SRC_FILES) graphile_worker.control scripts/build-sql.sh
	scripts/build-sql.sh standalone $(EXTVERSION) $@ $(SRC_FILES)

.PHONY: deps test run lint bench standalone

standalone: $(STANDALONE)

deps:
	scripts/ensure-deps.sh

test: deps
	$(MAKE) --no-print-directory all standalone
	$(SUDO) $(MAKE) --no-print-directory install
	scripts/run-tests.sh $(PYTEST_ARGS)

run: deps
	$(MAKE) --no-print-directory all
	$(SUDO) $(MAKE) --no-print-directory install
	scripts/run-example.sh

lint:
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/mypy --strict python/gw_runner

bench: deps
	$(MAKE) --no-print-directory all
	$(SUDO) $(MAKE) --no-print-directory install
	scripts/run-bench.sh $(BENCH_ARGS)
