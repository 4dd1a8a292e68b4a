"""The standalone script (for servers without the extension) and its upgrade story.

A standalone install is build/graphile_worker-standalone.sql applied with psql; it records its
version in graphile_worker._private_standalone_installs. Upgrading it applies, in order, the
standalone builds of the hand-written upgrades, build/graphile_worker-standalone--A--B.sql
(made by `make standalone` from sql/upgrades/graphile_worker--A--B.sql).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.release.release_tools import (
    BUILD,
    JOB_COLUMNS,
    ROOT,
    assert_same_schema,
    assert_seeded_jobs_claimable,
    connect,
    default_version,
    detach_members,
    install_standalone,
    psql_file,
    release_params,
    schema_blocks,
    scratch_database,
    seed_jobs,
    upgrade_path,
)

STANDALONE = BUILD / "graphile_worker-standalone.sql"
_STANDALONE_ONLY = re.compile(r"^-- .*\b(_private_standalone_installs|standalone_installs_pkey)\b")
_EXTENSION_ONLY = re.compile(r"^-- (COMMENT )?EXTENSION graphile_worker ")


def _standalone_script() -> Path:
    assert STANDALONE.exists(), f"{STANDALONE} is missing: run make standalone"
    return STANDALONE


def _installs(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select version from graphile_worker._private_standalone_installs "
            "order by installed_at, version"
        ).fetchall()
    ]


def test_standalone_install_has_the_schema_of_the_extension() -> None:
    """Apart from its install table and the extension itself, the same objects, definitions,
    comments and privileges."""
    with scratch_database("ext") as ext_db, scratch_database("standalone") as sa_db:
        with connect(ext_db) as conn:
            conn.execute("create extension graphile_worker")
            detach_members(conn)
        psql_file(sa_db, _standalone_script())
        with connect(sa_db) as conn:
            assert _installs(conn) == [default_version()]
            assert conn.execute("select graphile_worker.version()").fetchone() == (
                default_version(),
            )
        extension = schema_blocks(ext_db)
        standalone = schema_blocks(sa_db)

    only_standalone = [b for b in standalone if _STANDALONE_ONLY.match(b)]
    only_extension = [b for b in extension if _EXTENSION_ONLY.match(b)]
    assert len(only_standalone) == 3, only_standalone  # table, primary key, row security
    assert len(only_extension) == 2, only_extension  # CREATE EXTENSION, COMMENT ON EXTENSION
    assert_same_schema(
        [b for b in extension if b not in only_extension],
        [b for b in standalone if b not in only_standalone],
        "extension (members detached)",
        "standalone script",
    )


@pytest.mark.parametrize("version", release_params())
def test_standalone_release_upgrades_to_the_schema_of_a_fresh_standalone_install(
    version: str,
) -> None:
    """The documented path: a standalone install of the release (the base release's script and
    the standalone upgrades to it), then each graphile_worker-standalone--A--B.sql up to
    default_version with psql; jobs stay claimable."""
    current = default_version()
    chain = upgrade_path(version, current)
    assert chain is not None, f"no upgrade path from {version} to {current}"
    with scratch_database("fresh") as fresh_db, scratch_database("upgraded") as upgraded_db:
        psql_file(fresh_db, _standalone_script())
        expected = schema_blocks(fresh_db)

        installed = install_standalone(upgraded_db, version)
        with connect(upgraded_db) as conn:
            t = seed_jobs(conn)
            jobs_before = conn.execute(JOB_COLUMNS).fetchall()
        for a, b in chain:
            script = BUILD / f"graphile_worker-standalone--{a}--{b}.sql"
            assert script.exists(), f"{script} is missing: run make standalone"
            psql_file(upgraded_db, script)
        with connect(upgraded_db) as conn:
            assert conn.execute("select graphile_worker.version()").fetchone() == (current,)
            assert _installs(conn) == [*installed, *(b for _, b in chain)]
            assert conn.execute(JOB_COLUMNS).fetchall() == jobs_before
            assert_seeded_jobs_claimable(conn, t)
        actual = schema_blocks(upgraded_db)

    assert_same_schema(
        expected, actual, f"fresh standalone {current}", f"standalone {version} upgraded"
    )


# ---- the standalone build of an upgrade script, on a synthetic upgrade ------------------------

SYNTHETIC = """\
create or replace function graphile_worker.version()
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select '@EXTVERSION@'::text;
$$;
-- extension-only:begin
select 1 / 0;  -- never runs in the standalone build
-- extension-only:end
-- standalone-only:begin
create table graphile_worker._private_synthetic_standalone (id integer);
-- standalone-only:end
"""


def _build_upgrade(tmp_path: Path, kind: str, start: str, target: str) -> Path:
    src = tmp_path / f"graphile_worker--{start}--{target}.sql"
    src.write_text(SYNTHETIC)
    name = (
        f"graphile_worker-standalone--{start}--{target}.sql"
        if kind == "standalone" else src.name
    )
    out = tmp_path / "build" / name
    subprocess.run(
        [str(ROOT / "scripts" / "build-sql.sh"), "upgrade", kind, str(out), str(src)], check=True
    )
    return out


def test_standalone_upgrade_build_records_the_new_version(tmp_path: Path) -> None:
    current = default_version()
    script = _build_upgrade(tmp_path, "standalone", current, "99.0.0")
    with scratch_database("sa_up") as dbname:
        psql_file(dbname, _standalone_script())
        psql_file(dbname, script)
        with connect(dbname) as conn:
            assert conn.execute("select graphile_worker.version()").fetchone() == ("99.0.0",)
            assert _installs(conn) == [current, "99.0.0"]
            assert conn.execute(
                "select to_regclass('graphile_worker._private_synthetic_standalone') is not null"
            ).fetchone() == (True,)


def test_standalone_upgrade_refuses_another_installed_version(tmp_path: Path) -> None:
    script = _build_upgrade(tmp_path, "standalone", "0.0.1", "0.0.2")
    with scratch_database("sa_wrong") as dbname:
        psql_file(dbname, _standalone_script())
        with connect(dbname) as conn:
            with pytest.raises(psycopg.Error) as err, conn.transaction():
                conn.execute(script.read_text())  # type: ignore[call-overload]
            assert err.value.sqlstate == "55000"
            assert str(err.value).startswith(
                f"this script upgrades graphile_worker 0.0.1 to 0.0.2, but {default_version()} "
                "is installed"
            )
            assert _installs(conn) == [default_version()]
            assert conn.execute("select graphile_worker.version()").fetchone() == (
                default_version(),
            )


def test_standalone_upgrade_refuses_an_extension_install(
    tmp_path: Path, db: psycopg.Connection
) -> None:
    script = _build_upgrade(tmp_path, "standalone", default_version(), "99.0.0")
    with pytest.raises(psycopg.Error) as err, db.transaction():
        db.execute(script.read_text())  # type: ignore[call-overload]
    assert err.value.sqlstate == "55000"
    assert "installed as an extension" in str(err.value)
    assert db.execute("select graphile_worker.version()").fetchone() == (default_version(),)


def test_extension_upgrade_build_is_guarded_and_keeps_extension_only_lines(
    tmp_path: Path,
) -> None:
    text = _build_upgrade(tmp_path, "extension", "0.0.1", "0.0.2").read_text()
    assert (
        "\\echo Use \"ALTER EXTENSION graphile_worker UPDATE TO '0.0.2'\" to load this file. \\quit"
        in text.splitlines()
    )
    assert "select 1 / 0;  -- never runs in the standalone build" in text
    assert "_private_synthetic_standalone" not in text
    assert "_private_standalone_installs" not in text
    assert "select '0.0.2'::text;" in text
    assert "@EXTVERSION@" not in text
