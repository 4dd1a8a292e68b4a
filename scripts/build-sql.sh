#!/usr/bin/env bash
# Concatenate sql/src (files given in path order) into one install script.
#   build-sql.sh extension  VERSION OUT FILES...   script for CREATE EXTENSION
#   build-sql.sh standalone VERSION OUT FILES...   plain script for servers without the extension
# Lines between "-- extension-only:begin" and "-- extension-only:end" are kept only in the
# extension build; lines between "-- standalone-only:begin"/"end" only in the standalone build.
set -euo pipefail
mode=$1 version=$2 out=$3
shift 3
mkdir -p "$(dirname "$out")"
tmp="$out.tmp"
{
  echo "-- graphile_worker $version ($mode build), generated from sql/src by scripts/build-sql.sh: do not edit."
  for f in "$@"; do
    echo
    echo "-- ---- $f"
    cat "$f"
  done
} | awk -v mode="$mode" '
  /-- extension-only:begin/  { skip = (mode != "extension"); next }
  /-- extension-only:end/    { skip = 0; next }
  /-- standalone-only:begin/ { skip = (mode != "standalone"); next }
  /-- standalone-only:end/   { skip = 0; next }
  !skip { gsub(/@EXTVERSION@/, version); print }
' version="$version" > "$tmp"
mv "$tmp" "$out"
