#!/usr/bin/env bash
# Freeze a release: scripts/release.sh VERSION
#
# Builds sql/src and copies the result, never to be edited again, to
#   sql/released/graphile_worker--VERSION.sql                      (CREATE EXTENSION ... VERSION)
#   sql/released/standalone/graphile_worker-standalone--VERSION.sql (the standalone script)
# VERSION must be the default_version of graphile_worker.control. Refuses when VERSION is already
# frozen, when sql/src or the control file have uncommitted changes (the frozen script must be
# the one of a commit; RELEASE_ALLOW_DIRTY=1 overrides), and when an earlier release exists but
# no sql/upgrades/graphile_worker--*--VERSION.sql leads to VERSION. See CONTRIBUTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "release.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/release.sh VERSION   (e.g. scripts/release.sh 0.1.0)"
version=$1
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like X.Y.Z, not '$version'"

default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" graphile_worker.control)
[ "$version" = "$default" ] ||
  die "graphile_worker.control has default_version = '$default'; set it to '$version' first" \
      "(and write sql/upgrades/graphile_worker--PREVIOUS--$version.sql when a release exists)"

frozen=sql/released/graphile_worker--$version.sql
frozen_standalone=sql/released/standalone/graphile_worker-standalone--$version.sql
[ ! -e "$frozen" ] || die "$frozen exists: $version is released and must never change." \
  "To change the SQL, bump default_version and write an upgrade script (CONTRIBUTING.md)."
[ ! -e "$frozen_standalone" ] || die "$frozen_standalone exists: $version is released."

if [ "${RELEASE_ALLOW_DIRTY:-0}" != 1 ] && git rev-parse --git-dir >/dev/null 2>&1; then
  dirty=$(git status --porcelain -- sql/src graphile_worker.control sql/upgrades)
  [ -z "$dirty" ] || die "uncommitted changes in the SQL; commit them first" \
    "(or RELEASE_ALLOW_DIRTY=1):"$'\n'"$dirty"
fi

previous=$(find sql/released -maxdepth 1 -name 'graphile_worker--*.sql' 2>/dev/null |
  sed 's/.*graphile_worker--\(.*\)\.sql$/\1/' | sort -V || true)
if [ -n "$previous" ]; then
  latest=$(echo "$previous" | tail -n 1)
  [ "$(printf '%s\n%s\n' "$latest" "$version" | sort -V | tail -n 1)" = "$version" ] ||
    die "$version is older than the latest release $latest"
  ls sql/upgrades/graphile_worker--*--"$version".sql >/dev/null 2>&1 ||
    die "no upgrade script leads to $version: write sql/upgrades/graphile_worker--$latest--$version.sql"
fi

# Build from scratch, so that the frozen files are exactly what sql/src gives now.
rm -f "build/graphile_worker--$version.sql" build/graphile_worker-standalone.sql
make --no-print-directory "build/graphile_worker--$version.sql" build/graphile_worker-standalone.sql >/dev/null

mkdir -p sql/released/standalone
cp "build/graphile_worker--$version.sql" "$frozen"
cp build/graphile_worker-standalone.sql "$frozen_standalone"
chmod a-w "$frozen" "$frozen_standalone"

cat <<EOF
Frozen graphile_worker $version:
  $frozen
  $frozen_standalone

Next:
  1. make test                       # tests/release checks the build equals the frozen script
  2. git add sql/released && git commit -m "Release $version" && git tag v$version
  3. From now on every change to sql/src needs a new version: set default_version in
     graphile_worker.control to the next version (e.g. the next patch version) and write
     sql/upgrades/graphile_worker--$version--NEXT.sql by hand (CONTRIBUTING.md, "Changing the SQL
     after a release").
EOF
