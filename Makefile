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

# Releases (CONTRIBUTING.md): sql/released/ holds the full scripts of the base (first) release
# and SHA256SUMS, the checksums of every release's builds; sql/upgrades/ the hand-written
# upgrades A -> B, built into build/ for ALTER EXTENSION UPDATE and, as
# graphile_worker-standalone--A--B.sql, for standalone installs. PostgreSQL installs a later
# release as the base script plus the upgrade chain.
RELEASED    = $(wildcard sql/released/$(EXTENSION)--*.sql)
FROZEN      = sql/released/$(EXTENSION)--$(EXTVERSION).sql
SUMS        = sql/released/SHA256SUMS
RELEASED_SUM = $(shell sed -n 's/^\([0-9a-f]*\)  $(EXTENSION)--$(EXTVERSION)\.sql$$/\1/p' $(SUMS) 2>/dev/null)
UPGRADE_SRC = $(wildcard sql/upgrades/$(EXTENSION)--*--*.sql)
UPGRADES    = $(patsubst sql/upgrades/%,build/%,$(UPGRADE_SRC))
STANDALONE_UPGRADES = $(patsubst sql/upgrades/$(EXTENSION)--%,build/$(EXTENSION)-standalone--%,$(UPGRADE_SRC))

# `make install` installs the base release's script, every upgrade and the current build (the
# base release's kept script when the default version is the base itself). tests/release checks
# that the build of a released default version still has its recorded checksum.
DATA        = $(RELEASED)
ifeq ($(wildcard $(FROZEN)),)
DATA_built  = $(BUILT) $(UPGRADES)
else
DATA_built  = $(UPGRADES)
endif
EXTRA_CLEAN = build

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
all: $(BUILT) $(UPGRADES)
else
all: $(BUILT) $(UPGRADES)
install:
	@echo "pg_config not found: run scripts/ensure-deps.sh (installs postgresql-server-dev-15)" >&2; exit 2
endif
ifneq ($(RELEASED_SUM),)
all: frozen-check
endif

VENV       ?= .venv
PYTHON     ?= $(VENV)/bin/python
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

$(BUILT): $(SRC_FILES) graphile_worker.control scripts/build-sql.sh
	scripts/build-sql.sh extension $(EXTVERSION) $@ $(SRC_FILES)

$(STANDALONE): $(SRC_FILES) graphile_worker.control scripts/build-sql.sh
	scripts/build-sql.sh standalone $(EXTVERSION) $@ $(SRC_FILES)

build/$(EXTENSION)--%.sql: sql/upgrades/$(EXTENSION)--%.sql scripts/build-sql.sh
	scripts/build-sql.sh upgrade extension $@ $<

build/$(EXTENSION)-standalone--%.sql: sql/upgrades/$(EXTENSION)--%.sql scripts/build-sql.sh
	scripts/build-sql.sh upgrade standalone $@ $<

.PHONY: deps test run lint bench standalone frozen-check

standalone: $(STANDALONE) $(STANDALONE_UPGRADES)

# default_version is released: the build must have the checksum recorded at its release
# (tests/release fails otherwise). A change to sql/src needs a new default_version and an
# upgrade script.
frozen-check: $(BUILT)
	@[ "$$(sha256sum $(BUILT) | cut -d' ' -f1)" = "$(RELEASED_SUM)" ] || echo "WARNING:" \
	  "$(BUILT) is not the build of release $(EXTVERSION) ($(SUMS)): sql/src changed after" \
	  "the release; bump default_version and write" \
	  "sql/upgrades/$(EXTENSION)--$(EXTVERSION)--NEW.sql (CONTRIBUTING.md)" >&2

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
