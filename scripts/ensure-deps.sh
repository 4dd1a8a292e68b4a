#!/usr/bin/env bash
# Install what the project needs and is missing, and nothing else:
#   - Debian packages (checked with dpkg -s; apt-get only for the missing ones),
#   - the virtualenv .venv with the package and its test/tool dependencies,
#   - graphile-worker 0.18.0 from npm into .cache/node (for the compatibility tests), when
#     node and npm are present.
# Works as root (CI) and as a normal user with sudo. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
# chromium: the dashboard's browser tests (tests/dashboard), driven by Playwright from PyPI
# (`playwright install` is not used: the tests launch /usr/bin/chromium).
PKGS="postgresql-15 postgresql-server-dev-15 postgresql-15-plpgsql-check pgbouncer python3-venv make gcc chromium"
missing=()
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # The Debian package may create and start its default cluster; the project never uses it.
fi

VENV=${VENV:-.venv}
PY=${PYTHON3:-python3}
stamp="$VENV/.deps-stamp"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# The versions CI passed with (constraints.txt); GW_UNPINNED=1 takes the newest that
# pyproject.toml allows and writes them to constraints.txt (CONTRIBUTING.md, "Dependencies").
if [ "${GW_UNPINNED:-0}" = 1 ]; then
  echo "ensure-deps: installing the newest Python dependencies into $VENV (GW_UNPINNED=1)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade --upgrade-strategy eager \
    -e ".[test,dev]"
  { sed -n '/^#/p' constraints.txt; "$VENV/bin/pip" freeze --exclude-editable; } > constraints.txt.new
  mv constraints.txt.new constraints.txt
  touch "$stamp"
elif [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "ensure-deps: installing Python dependencies into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check -c constraints.txt -e ".[test,dev]"
  touch "$stamp"
fi
# Byte-compile the runner (an editable install does not): without it, an environment with
# PYTHONDONTWRITEBYTECODE=1 compiles every module at each start (about 30 ms of start-up).
"$VENV/bin/python" -m compileall -q python/gw_runner >/dev/null

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  NODE_DIR=.cache/node
  if [ ! -f "$NODE_DIR/node_modules/graphile-worker/package.json" ]; then
    echo "ensure-deps: installing graphile-worker@0.18.0 from npm into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    printf '{"name":"gw-compat-cache","private":true,"dependencies":{"graphile-worker":"0.18.0"}}\n' \
      > "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
