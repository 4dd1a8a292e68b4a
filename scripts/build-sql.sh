#!/usr/bin/env bash
# Build the install and upgrade scripts.
#   build-sql.sh extension  VERSION OUT FILES...   script for CREATE EXTENSION, from sql/src
#   build-sql.sh standalone VERSION OUT FILES...   plain script for servers without the extension
#   build-sql.sh upgrade    extension|standalone OUT sql/upgrades/graphile_worker--A--B.sql
#       the hand-written upgrade A -> B, for ALTER EXTENSION UPDATE (extension) or for psql on a
#       standalone install (standalone: checks that version A is installed, records B in
#       graphile_worker._private_standalone_installs)
# Lines between "-- extension-only:begin" and "-- extension-only:end" are kept only in the
# extension build; lines between "-- standalone-only:begin"/"end" only in the standalone build.
# @EXTVERSION@ becomes the version the script installs (B for an upgrade).
set -euo pipefail

filter() { # filter MODE VERSION < text > text
  awk -v mode="$1" -v version="$2" '
    /-- extension-only:begin/  { skip = (mode != "extension"); next }
    /-- extension-only:end/    { skip = 0; next }
    /-- standalone-only:begin/ { skip = (mode != "standalone"); next }
    /-- standalone-only:end/   { skip = 0; next }
    !skip { gsub(/@EXTVERSION@/, version); print }
  '
}

mode=$1
if [ "$mode" = upgrade ]; then
  kind=$2 out=$3 src=$4
  name=$(basename "$src" .sql)
  if ! [[ $name =~ ^graphile_worker--([0-9]+\.[0-9]+\.[0-9]+)--([0-9]+\.[0-9]+\.[0-9]+)$ ]]; then
    echo "build-sql.sh: $src is not named graphile_worker--A--B.sql (A, B: X.Y.Z)" >&2
    exit 2
  fi
  from=${BASH_REMATCH[1]} to=${BASH_REMATCH[2]}
  mkdir -p "$(dirname "$out")"
  tmp="$out.tmp"
  case "$kind" in
    extension)
      {
        echo "-- graphile_worker upgrade $from -> $to (extension build), generated from $src by scripts/build-sql.sh: do not edit."
        echo "\\echo Use \"ALTER EXTENSION graphile_worker UPDATE TO '$to'\" to load this file. \\quit"
        echo
        cat "$src"
      } | filter extension "$to" > "$tmp"
      ;;
    standalone)
      {
        echo "-- graphile_worker upgrade $from -> $to (standalone build), generated from $src by scripts/build-sql.sh: do not edit."
        echo "-- For databases where graphile_worker was installed with graphile_worker-standalone.sql."
        echo "-- Apply with: psql -v ON_ERROR_STOP=1 --single-transaction -f $(basename "$out")"
        echo
        cat <<SQL
do \$guard\$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'graphile_worker') then
    raise exception 'graphile_worker is installed as an extension'
      using errcode = 'object_not_in_prerequisite_state',
      detail = 'This script upgrades a standalone install (graphile_worker-standalone.sql).',
      hint = 'Run ALTER EXTENSION graphile_worker UPDATE TO ''$to'' instead.';
  end if;
  if pg_catalog.to_regclass('graphile_worker._private_standalone_installs') is null then
    raise exception 'no standalone install of graphile_worker in this database'
      using errcode = 'object_not_in_prerequisite_state',
      detail = 'Table graphile_worker._private_standalone_installs does not exist.',
      hint = 'Install with graphile_worker-standalone.sql first.';
  end if;
  if graphile_worker.version() is distinct from '$from' then
    raise exception 'this script upgrades graphile_worker $from to $to, but % is installed',
      graphile_worker.version()
      using errcode = 'object_not_in_prerequisite_state',
      detail = 'Standalone upgrade scripts apply one after another, from the installed version.',
      hint = 'Apply graphile_worker-standalone--' || graphile_worker.version() || '--<next>.sql first.';
  end if;
end
\$guard\$;

SQL
        cat "$src"
        echo
        echo "insert into graphile_worker._private_standalone_installs (version) values ('$to');"
      } | filter standalone "$to" > "$tmp"
      ;;
    *)
      echo "build-sql.sh: upgrade kind must be extension or standalone, not $kind" >&2
      exit 2
      ;;
  esac
  mv "$tmp" "$out"
  exit 0
fi

version=$2 out=$3
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
} | filter "$mode" "$version" > "$tmp"
mv "$tmp" "$out"
