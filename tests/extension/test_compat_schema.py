"""The graphile-worker 0.18 contract, checked against the real thing: graphile-worker@0.18.0's
CLI (`--schema-only`) builds the reference schema in one database, the extension is installed
in another, and the catalogs of the contract objects must match (DESIGN.md section 3).

The extension may add to the contract (extra functions, extra non-unique indexes), never change
it. Needs node and the npm package that scripts/ensure-deps.sh installs into .cache/node.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

# The cluster of the test run (as in tests/conftest.py).
PGHOST = os.environ.get("GW_TEST_PGHOST", "/tmp/gw_test_pg/sock")
PGPORT = int(os.environ.get("GW_TEST_PGPORT", "54329"))
PGUSER = os.environ.get("GW_TEST_PGUSER", "postgres")

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".cache" / "node" / "node_modules" / ".bin" / "graphile-worker"
PACKAGE = ROOT / ".cache" / "node" / "node_modules" / "graphile-worker" / "package.json"

TABLES = ["_private_jobs", "_private_tasks", "_private_job_queues", "_private_known_crontabs",
          "migrations"]
FUNCTIONS = ["add_job", "add_jobs", "remove_job", "complete_jobs", "permanently_fail_jobs",
             "reschedule_jobs", "force_unlock_workers"]

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="node is not installed: the compatibility test builds the reference schema with "
    "graphile-worker 0.18.0's CLI (install node and npm, then run scripts/ensure-deps.sh)",
)


def _url(dbname: str) -> str:
    if PGHOST.startswith("/"):
        return f"postgresql://{PGUSER}@/{dbname}?host={PGHOST}&port={PGPORT}"
    return f"postgresql://{PGUSER}@{PGHOST}:{PGPORT}/{dbname}"


@pytest.fixture(scope="module")
def reference() -> Iterator[psycopg.Connection]:
    """A database holding graphile-worker 0.18.0's own schema (its CLI, --schema-only)."""
    if not PACKAGE.is_file() or not CLI.exists():
        pytest.fail(
            f"graphile-worker 0.18.0 is not installed in {CLI.parents[2]}: "
            "run scripts/ensure-deps.sh (it installs it from npm when node and npm are present)"
        )
    dbname = f"gw_reference_{os.getpid()}"
    admin_dsn = make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname="postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(dbname)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    try:
        env = {**os.environ, "DATABASE_URL": _url(dbname)}
        done = subprocess.run(
            [str(CLI), "--schema-only"], env=env, cwd=CLI.parents[2], capture_output=True,
            text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, f"graphile-worker --schema-only failed:\n{done.stderr}"
        conn = psycopg.connect(
            make_conninfo(host=PGHOST, port=PGPORT, user=PGUSER, dbname=dbname), autocommit=True
        )
        try:
            conn.execute("set search_path = pg_catalog")
            yield conn
        finally:
            conn.close()
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
            )


@pytest.fixture
def extension(db: psycopg.Connection) -> psycopg.Connection:
    db.execute("set search_path = pg_catalog")
    return db


def _lines(conn: psycopg.Connection, query: str, params: Any = None) -> list[str]:
    return [" | ".join("NULL" if v is None else str(v) for v in row)
            for row in conn.execute(query, params).fetchall()]


def _diff(expected: list[str], actual: list[str]) -> str:
    return "\n".join(difflib.unified_diff(
        expected, actual, "graphile-worker 0.18.0", "extension", lineterm="", n=1))


def _assert_same(reference: psycopg.Connection, extension: psycopg.Connection, query: str,
                 params: Any = None) -> None:
    expected = _lines(reference, query, params)
    actual = _lines(extension, query, params)
    assert expected, f"the reference schema returned nothing for:\n{query}"
    assert actual == expected, "catalogs differ:\n" + _diff(expected, actual)


COLUMNS = """
select c.relname,
       row_number() over (partition by c.relname order by a.attnum) as position,
       a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull,
       case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end as default,
       case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end as generated,
       a.attgenerated, a.attidentity,
       pg_get_serial_sequence(c.oid::regclass::text, a.attname) as sequence
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = 'graphile_worker' and c.relname = any(%s)
order by c.relname, a.attnum
"""


def test_compat_columns_types_defaults_generated_identity(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, COLUMNS, [TABLES])


SEQUENCES = """
select c.relname, format_type(s.seqtypid, null), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle, t.relname as owned_by, a.attname
from pg_sequence s
join pg_class c on c.oid = s.seqrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_depend dep on dep.objid = c.oid and dep.classid = 'pg_class'::regclass
  and dep.refclassid = 'pg_class'::regclass and dep.deptype in ('a', 'i')
join pg_class t on t.oid = dep.refobjid
join pg_attribute a on a.attrelid = t.oid and a.attnum = dep.refobjsubid
where n.nspname = 'graphile_worker' and t.relname = any(%s)
order by c.relname
"""


def test_compat_identity_sequences(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, SEQUENCES, [TABLES])


CONSTRAINTS = """
select t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), c.condeferrable
from pg_constraint c
join pg_class t on t.oid = c.conrelid
join pg_namespace n on n.oid = t.relnamespace
where n.nspname = 'graphile_worker' and t.relname = any(%s)
order by t.relname, c.conname
"""


def test_compat_constraints_names_and_definitions(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, CONSTRAINTS, [TABLES])


INDEXES = """
select t.relname, i.relname as index,
       replace(pg_get_indexdef(i.oid), 'graphile_worker.', '') as definition, x.indisunique
from pg_index x
join pg_class i on i.oid = x.indexrelid
join pg_class t on t.oid = x.indrelid
join pg_namespace n on n.oid = t.relnamespace
where n.nspname = 'graphile_worker' and t.relname = any(%s)
order by t.relname, i.relname
"""


def test_compat_indexes_names_and_definitions(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    expected = _lines(reference, INDEXES, [TABLES])
    actual = _lines(extension, INDEXES, [TABLES])
    assert expected
    missing_or_changed = [line for line in expected if line not in actual]
    assert not missing_or_changed, "indexes differ:\n" + _diff(expected, actual)
    # Additions are allowed (Node never sees them) unless unique: a unique index could reject
    # rows a Node worker inserts.
    extra = [line for line in actual if line not in expected]
    assert not [line for line in extra if line.endswith("| True")], (
        "the extension adds unique indexes to contract tables:\n" + "\n".join(extra)
    )


RLS = """
select c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relkind, c.relpersistence
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'graphile_worker' and c.relname = any(%s)
order by c.relname
"""


def test_compat_row_level_security_flags(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, RLS, [TABLES])
    policies = "select count(*) from pg_policies where schemaname = 'graphile_worker'"
    assert _lines(extension, policies) == _lines(reference, policies) == ["0"]


TYPE_FIELDS = """
select a.attnum, a.attname, format_type(a.atttypid, a.atttypmod)
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
join pg_attribute a on a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
where n.nspname = 'graphile_worker' and t.typname = %s
order by a.attnum
"""


def test_compat_job_spec_fields(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, TYPE_FIELDS, ["job_spec"])


def test_compat_jobs_view_columns_in_order(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension, TYPE_FIELDS, ["jobs"])
    kind = "select relkind from pg_class where oid = 'graphile_worker.jobs'::regclass"
    assert _lines(extension, kind) == _lines(reference, kind) == ["v"]


FUNCTION_SIGNATURES = """
select p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
       p.proretset, p.proisstrict, p.provolatile, p.prokind
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname = 'graphile_worker' and p.proname = any(%s)
order by p.proname, pg_get_function_identity_arguments(p.oid)
"""


def test_compat_contract_function_signatures(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    # One row per name on both sides also means no overload was added (DESIGN.md section 4).
    _assert_same(reference, extension, FUNCTION_SIGNATURES, [FUNCTIONS])
    assert len(_lines(extension, FUNCTION_SIGNATURES, [FUNCTIONS])) == len(FUNCTIONS)


def test_compat_migrations_rows(
    reference: psycopg.Connection, extension: psycopg.Connection
) -> None:
    _assert_same(reference, extension,
                 "select id, breaking from graphile_worker.migrations order by id")
