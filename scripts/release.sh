#!/usr/bin/env bash
# Record a release: scripts/release.sh VERSION
#
# Builds sql/src and appends the sha256 of both builds to sql/released/SHA256SUMS:
#   graphile_worker--VERSION.sql             (CREATE EXTENSION ... VERSION)
#   graphile_worker-standalone--VERSION.sql  (the standalone script)
# The first release (the base) is also kept in full, never to be edited again:
#   sql/released/graphile_worker--VERSION.sql
#   sql/released/standalone/graphile_worker-standalone--VERSION.sql
# A later release is installed as the base script plus the upgrade chain (PostgreSQL follows it
# for CREATE EXTENSION ... VERSION); its exact build is `git checkout vVERSION && make`, and the
# checksum lets tests/release catch a change to sql/src after the release.
# VERSION must be the default_version of graphile_worker.control. Refuses when VERSION is already
# released, when sql/src or the control file have uncommitted changes (the released build must
# be the one of a commit; RELEASE_ALLOW_DIRTY=1 overrides), and when an earlier release exists
# but no sql/upgrades/graphile_worker--*--VERSION.sql leads to VERSION. See CONTRIBUTING.md.
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

sums=sql/released/SHA256SUMS
released() { # the released versions, oldest first
  [ -f "$sums" ] || return 0
  sed -n 's/^[0-9a-f]\{64\}  graphile_worker--\([0-9.]*\)\.sql$/\1/p' "$sums" | sort -V
}
if released | grep -qx "$version"; then
  die "$version is released ($sums) and must never change." \
    "To change the SQL, bump default_version and write an upgrade script (CONTRIBUTING.md)."
fi

if [ "${RELEASE_ALLOW_DIRTY:-0}" != 1 ] && git rev-parse --git-dir >/dev/null 2>&1; then
  dirty=$(git status --porcelain -- sql/src graphile_worker.control sql/upgrades)
  [ -z "$dirty" ] || die "uncommitted changes in the SQL; commit them first" \
    "(or RELEASE_ALLOW_DIRTY=1):"$'\n'"$dirty"
fi

previous=$(released)
if [ -n "$previous" ]; then
  latest=$(echo "$previous" | tail -n 1)
  [ "$(printf '%s\n%s\n' "$latest" "$version" | sort -V | tail -n 1)" = "$version" ] ||
    die "$version is older than the latest release $latest"
  ls sql/upgrades/graphile_worker--*--"$version".sql >/dev/null 2>&1 ||
    die "no upgrade script leads to $version: write sql/upgrades/graphile_worker--$latest--$version.sql"
fi

# Build from scratch, so that the recorded builds are exactly what sql/src gives now.
built=build/graphile_worker--$version.sql
built_standalone=build/graphile_worker-standalone.sql
rm -f "$built" "$built_standalone"
make --no-print-directory "$built" "$built_standalone" >/dev/null

kept=""
if [ -z "$previous" ]; then
  # the base release: kept in full (every later release is installed from it)
  frozen=sql/released/graphile_worker--$version.sql
  frozen_standalone=sql/released/standalone/graphile_worker-standalone--$version.sql
  mkdir -p sql/released/standalone
  cp "$built" "$frozen"
  cp "$built_standalone" "$frozen_standalone"
  chmod a-w "$frozen" "$frozen_standalone"
  kept="
  $frozen
  $frozen_standalone   (the base release, kept in full)"
fi
mkdir -p sql/released
{
  echo "$(sha256sum "$built" | cut -d' ' -f1)  graphile_worker--$version.sql"
  echo "$(sha256sum "$built_standalone" | cut -d' ' -f1)  graphile_worker-standalone--$version.sql"
} >> "$sums"

cat <<EOF
Released graphile_worker $version:
  $sums   (the checksums of both builds)$kept

Next:
  1. make test                       # tests/release checks the build has the recorded checksum
  2. git add sql/released && git commit -m "Release $version" && git tag v$version
  3. From now on every change to sql/src needs a new version: set default_version in
     graphile_worker.control to the next version (e.g. the next patch version) and write
     sql/upgrades/graphile_worker--$version--NEXT.sql by hand (CONTRIBUTING.md, "Changing the SQL
     after a release").
EOF
