"""Releases, upgrade paths, scratch databases and normalised schema dumps for tests/release.

Versions: `graphile_worker.control` (default_version), `sql/released/SHA256SUMS` (every
release: the checksums of its extension and standalone builds), the full scripts of the base
(first) release, `sql/released/graphile_worker--BASE.sql` and
`sql/released/standalone/graphile_worker-standalone--BASE.sql`, and
`sql/upgrades/graphile_worker--A--B.sql` (hand-written upgrades, built into `build/`). A later
release V is installed as the base script plus the upgrade chain BASE -> V (PostgreSQL does this
itself for `CREATE EXTENSION ... VERSION 'V'`; :func:`install_standalone` for psql).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import subprocess
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
RELEASED = ROOT / "sql" / "released"
UPGRADES = ROOT / "sql" / "upgrades"

PGHOST = os.environ.get("GW_TEST_PGHOST", "/tmp/gw_test_pg/sock")
PGPORT = os.environ.get("GW_TEST_PGPORT", "54329")
PGUSER = os.environ.get("GW_TEST_PGUSER", "postgres")

NOTHING_RELEASED = (
    "no released version yet (run scripts/release.sh 0.1.0 to freeze the first release)"
)

_VERSION = r"[0-9]+\.[0-9]+\.[0-9]+"
UPGRADE_NAME = re.compile(rf"^graphile_worker--({_VERSION})--({_VERSION})\.sql$")


def vkey(version: str) -> tuple[int, ...]:
    """A version X.Y.Z as a sortable tuple."""
    assert re.fullmatch(_VERSION, version), f"not a version X.Y.Z: {version!r}"
    return tuple(int(p) for p in version.split("."))


def default_version() -> str:
    text = (ROOT / "graphile_worker.control").read_text()
    m = re.search(r"^default_version\s*=\s*'([^']*)'", text, re.M)
    assert m, "graphile_worker.control has no default_version"
    return m.group(1)


SUMS = RELEASED / "SHA256SUMS"
_SUM_LINE = re.compile(rf"^([0-9a-f]{{64}})  (graphile_worker(?:-standalone)?--({_VERSION})\.sql)$")


def release_checksums() -> dict[str, str]:
    """File name -> sha256 of every released build, from sql/released/SHA256SUMS (the format
    of `sha256sum`; its lines are checked by tests/release/test_versions.py)."""
    if not SUMS.exists():
        return {}
    sums = {}
    for line in SUMS.read_text().splitlines():
        m = _SUM_LINE.match(line)
        if m:
            sums[m.group(2)] = m.group(1)
    return sums


def released_versions() -> list[str]:
    """Every release, oldest first."""
    found = {
        name.removeprefix("graphile_worker--").removesuffix(".sql")
        for name in release_checksums()
        if name.startswith("graphile_worker--")
    }
    return sorted(found, key=vkey)


def base_version() -> str:
    """The first release: the only one whose full scripts are kept."""
    versions = released_versions()
    assert versions, NOTHING_RELEASED
    return versions[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frozen_script(version: str) -> Path:
    return RELEASED / f"graphile_worker--{version}.sql"


def frozen_standalone_script(version: str) -> Path:
    return RELEASED / "standalone" / f"graphile_worker-standalone--{version}.sql"


def upgrade_files() -> list[Path]:
    return sorted(UPGRADES.glob("*.sql"))


def upgrade_edges() -> list[tuple[str, str]]:
    """(A, B) for every sql/upgrades/graphile_worker--A--B.sql (names checked by a test)."""
    edges = []
    for p in upgrade_files():
        m = UPGRADE_NAME.match(p.name)
        if m:
            edges.append((m.group(1), m.group(2)))
    return edges


def upgrade_path(start: str, target: str) -> list[tuple[str, str]] | None:
    """The shortest chain of upgrade scripts from start to target ([] when equal), or None."""
    nexts: dict[str, list[str]] = {}
    for a, b in upgrade_edges():
        nexts.setdefault(a, []).append(b)
    came_from: dict[str, str] = {}
    todo = deque([start])
    seen = {start}
    while todo:
        v = todo.popleft()
        if v == target:
            path = []
            while v != start:
                path.append((came_from[v], v))
                v = came_from[v]
            return path[::-1]
        for n in nexts.get(v, []):
            if n not in seen:
                seen.add(n)
                came_from[n] = v
                todo.append(n)
    return None


@cache
def pg_bin(name: str) -> str:
    bindir = subprocess.run(
        ["pg_config", "--bindir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(Path(bindir) / name)


@cache
def pg_sharedir() -> Path:
    out = subprocess.run(["pg_config", "--sharedir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def pg_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PGHOST=PGHOST, PGPORT=str(PGPORT), PGUSER=PGUSER)
    env.pop("PGDATABASE", None)
    return env


def run_pg(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL client program (pg_dump, pg_restore, psql); fail with its stderr."""
    proc = subprocess.run(
        [pg_bin(args[0]), *args[1:]], env=pg_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc


def psql_file(dbname: str, path: Path) -> None:
    """Apply a script the documented way: psql, stop at the first error, one transaction."""
    run_pg("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
           "-d", dbname, "-f", str(path))


def install_standalone(dbname: str, version: str) -> list[str]:
    """Install release `version` the standalone way: the base release's standalone script, then
    the standalone upgrade builds BASE -> version, each with psql. Returns the versions in the
    order they were installed."""
    base = base_version()
    chain = upgrade_path(base, version)
    assert chain is not None, f"no upgrade path from the base release {base} to {version}"
    psql_file(dbname, frozen_standalone_script(base))
    for a, b in chain:
        script = BUILD / f"graphile_worker-standalone--{a}--{b}.sql"
        assert script.exists(), f"{script} is missing: run make standalone"
        psql_file(dbname, script)
    return [base, *(b for _, b in chain)]


def connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=PGHOST, port=PGPORT, user=PGUSER, dbname=dbname, autocommit=True
    )


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """An empty database (from template0), dropped afterwards."""
    name = f"gw_rel_{label}_{uuid.uuid4().hex[:8]}"
    with connect("postgres") as admin:
        admin.execute(f'create database "{name}" template template0')
    try:
        yield name
    finally:
        with connect("postgres") as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


# ---- schema comparison ------------------------------------------------------------------------

def extension_members(conn: psycopg.Connection) -> list[str]:
    """pg_describe_object() of every member of the extension graphile_worker."""
    return [
        r[0]
        for r in conn.execute(
            "select pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) "
            "from pg_catalog.pg_depend d join pg_catalog.pg_extension e on e.oid = d.refobjid "
            "where d.refclassid = 'pg_catalog.pg_extension'::regclass and d.deptype = 'e' "
            "and e.extname = 'graphile_worker' order by 1"
        ).fetchall()
    ]


def extension_config(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """The tables and sequences registered with pg_extension_config_dump, with their filters."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "select c.oid::regclass::text, coalesce(cond, '') "
            "from pg_catalog.pg_extension e, "
            "unnest(e.extconfig, coalesce(e.extcondition, array_fill(''::text, "
            "array[cardinality(e.extconfig)]))) as x(cfg, cond) "
            "join pg_catalog.pg_class c on c.oid = x.cfg "
            "where e.extname = 'graphile_worker' order by 1"
        ).fetchall()
    ]


def detach_members(conn: psycopg.Connection) -> int:
    """Detach every member of the extension (throwaway databases only!), so pg_dump prints
    them. Returns how many were detached."""
    members = extension_members(conn)
    assert members, "the extension graphile_worker has no members in this database"
    for member in members:
        conn.execute(f"alter extension graphile_worker drop {member}")
    assert extension_members(conn) == []
    return len(members)


_HEADER = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$")


def schema_blocks(dbname: str) -> list[str]:
    """`pg_dump -s` of a database, normalised: one block per dumped object (pg_dump's header
    without owner, then the statement), no SET lines, no ownership, blocks sorted."""
    dump = run_pg("pg_dump", "-s", "--no-owner", "-d", dbname).stdout
    blocks: list[list[str]] = []
    current: list[str] | None = None
    in_header = False
    for line in dump.splitlines():
        line = line.rstrip()
        if line == "--":  # pg_dump frames its comment headers with bare "--" lines
            in_header = not in_header
            continue
        if in_header:
            m = _HEADER.match(line)
            if m:
                name, kind, schema = m.groups()
                current = [f"-- {kind} {name} (schema {schema})"]
                blocks.append(current)
            continue
        if current is None or not line:
            continue
        if line.startswith(("SET ", "SELECT pg_catalog.set_config(", "\\restrict ", "\\unrestrict ")):
            continue
        current.append(line)
    return sorted("\n".join(b) for b in blocks)


def assert_same_schema(
    expected: list[str], actual: list[str], expected_label: str, actual_label: str
) -> None:
    """Fail with a unified diff of the normalised dumps when they differ."""
    if expected == actual:
        return
    diff = difflib.unified_diff(
        "\n\n".join(expected).splitlines(),
        "\n\n".join(actual).splitlines(),
        fromfile=expected_label,
        tofile=actual_label,
        lineterm="",
        n=2,
    )
    only_expected = sorted(set(expected) - set(actual))
    only_actual = sorted(set(actual) - set(expected))
    summary = [
        f"{len(only_expected)} object(s) only in {expected_label}, "
        f"{len(only_actual)} only in {actual_label}:",
        *("  - " + b.splitlines()[0] for b in only_expected),
        *("  + " + b.splitlines()[0] for b in only_actual),
    ]
    raise AssertionError("schemas differ\n" + "\n".join(summary) + "\n\n" + "\n".join(diff))


# ---- parametrizing over releases --------------------------------------------------------------

def release_params() -> list[object]:
    """Every released version up to default_version (the one an install can update from), or
    one explicitly skipped parameter when nothing is released yet."""
    import pytest

    current = vkey(default_version())
    versions = [v for v in released_versions() if vkey(v) <= current]
    if not versions:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NOTHING_RELEASED), id="none")]
    return versions


# ---- jobs that must survive an update, a dump or a restore ------------------------------------

# What identifies a job across an update or a restore (every column but the generated one and
# the lock columns, which seed_jobs leaves empty).
JOB_COLUMNS = (
    "select j.id, t.identifier, q.queue_name, j.payload::text, j.priority, j.run_at, "
    "j.attempts, j.max_attempts, j.last_error, j.key, j.created_at, j.revision, j.flags::text, "
    "j.locked_by "
    "from graphile_worker._private_jobs j "
    "join graphile_worker._private_tasks t on t.id = j.task_id "
    "left join graphile_worker._private_job_queues q on q.id = j.job_queue_id order by j.id"
)


def seed_jobs(conn: psycopg.Connection) -> object:
    """Enqueue jobs of every kind with the contract and runner API of release 0.1.0 and return
    the database time T they were enqueued at:
      n=1 keyed ('k1'), n=2 in named queue 'q1', n=3 due at T + 1 hour,
      n=4 failed for good (max_attempts 1), n=5 failed once, retried at about T + 4 s."""
    t = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
    conn.execute("select graphile_worker.add_job('send_email', '{\"n\":1}', job_key => 'k1')")
    conn.execute("select graphile_worker.add_job('send_email', '{\"n\":2}', queue_name => 'q1')")
    conn.execute(
        "select graphile_worker.add_job('resize', '{\"n\":3}', run_at => %s + interval '1 hour')",
        (t,),
    )
    conn.execute("select graphile_worker.add_job('flaky', '{\"n\":4}', max_attempts => 1)")
    conn.execute("select graphile_worker.add_job('flaky', '{\"n\":5}', max_attempts => 3)")
    t_claim = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
    claimed = conn.execute(
        "select id from graphile_worker.get_jobs('seeder', array['flaky'], 10, now => %s)",
        (t_claim,),
    ).fetchall()
    assert len(claimed) == 2, claimed
    failures = "[" + ",".join(f'{{"id":{i},"message":"boom"}}' for (i,) in claimed) + "]"
    conn.execute(
        "select graphile_worker.report_jobs('seeder', failures => %s::json, now => %s)",
        (failures, t_claim),
    )
    return t


def claim_ns(conn: psycopg.Connection, at: object, worker: str) -> list[int]:
    """Claim everything claimable at time `at`; the payloads' n, sorted."""
    got = conn.execute(
        "select (payload->>'n')::int from graphile_worker.get_jobs("
        "%s, array['send_email', 'resize', 'flaky'], 100, now => %s)",
        (worker, at),
    ).fetchall()
    return sorted(r[0] for r in got)


def assert_seeded_jobs_claimable(conn: psycopg.Connection, t: object) -> None:
    """The jobs of seed_jobs are claimed when due, and only then."""
    import datetime as dt

    assert isinstance(t, dt.datetime)
    assert claim_ns(conn, t + dt.timedelta(minutes=10), "after-1") == [1, 2, 5]
    assert claim_ns(conn, t + dt.timedelta(minutes=20), "after-2") == []
    assert claim_ns(conn, t + dt.timedelta(hours=2), "after-3") == [3]
    left = conn.execute(
        "select (payload->>'n')::int, attempts, max_attempts, last_error "
        "from graphile_worker._private_jobs where locked_at is null"
    ).fetchall()
    assert left == [(4, 1, 1, "boom")]
