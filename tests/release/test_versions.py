"""Release bookkeeping: frozen scripts, upgrade scripts and what `make install` installed.

Once a version is released (scripts/release.sh), sql/src may only change together with a new
default_version and a hand-written sql/upgrades/graphile_worker--OLD--NEW.sql (CONTRIBUTING.md).
"""

from __future__ import annotations

import difflib
import re

import psycopg
import pytest

from tests.release.release_tools import (
    BUILD,
    RELEASED,
    UPGRADE_NAME,
    default_version,
    frozen_script,
    frozen_standalone_script,
    pg_sharedir,
    release_params,
    released_versions,
    upgrade_edges,
    upgrade_files,
    upgrade_path,
    vkey,
)


def _text_diff(expected: str, actual: str, expected_label: str, actual_label: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), expected_label, actual_label, lineterm=""
        )
    )


def test_default_version_is_the_frozen_build_or_a_new_version() -> None:
    """The check that fails when sql/src changed after its version was released."""
    current = default_version()
    released = released_versions()
    if current not in released:
        newer = [v for v in released if vkey(v) >= vkey(current)]
        assert not newer, (
            f"default_version {current} is not released but {newer} are: default_version must "
            "be newer than every release"
        )
        return
    for built, frozen in [
        (BUILD / f"graphile_worker--{current}.sql", frozen_script(current)),
        (BUILD / "graphile_worker-standalone.sql", frozen_standalone_script(current)),
    ]:
        assert built.exists(), f"{built} is missing: run make all standalone"
        assert frozen.exists(), f"{frozen} is missing: release.sh freezes both scripts"
        if built.read_text() != frozen.read_text():
            pytest.fail(
                f"sql/src changed after release {current} (the build differs from {frozen.name}).\n"
                f"Set default_version in graphile_worker.control to a new version and write "
                f"sql/upgrades/graphile_worker--{current}--NEW.sql (CONTRIBUTING.md).\n\n"
                + _text_diff(frozen.read_text(), built.read_text(), str(frozen), str(built)),
                pytrace=False,
            )


def test_every_release_is_frozen_for_both_installs() -> None:
    """Each release has its extension script and its standalone script, nothing else lies in
    sql/released."""
    extension = set(released_versions())
    standalone = {
        p.name.removeprefix("graphile_worker-standalone--").removesuffix(".sql")
        for p in (RELEASED / "standalone").glob("*.sql")
    }
    assert extension == standalone
    strays = [
        p.relative_to(RELEASED).as_posix()
        for p in RELEASED.rglob("*")
        if p.is_file()
        and not re.fullmatch(r"graphile_worker--[0-9]+\.[0-9]+\.[0-9]+\.sql", p.name)
        and not re.fullmatch(
            r"standalone/graphile_worker-standalone--[0-9]+\.[0-9]+\.[0-9]+\.sql",
            p.relative_to(RELEASED).as_posix(),
        )
    ]
    assert strays == [], f"unexpected files in sql/released: {strays}"


def test_upgrade_scripts_go_from_a_release_to_a_newer_version() -> None:
    current = default_version()
    allowed_targets = {*released_versions(), current}
    for path in upgrade_files():
        m = UPGRADE_NAME.match(path.name)
        assert m, f"{path.name}: upgrade scripts are named graphile_worker--A--B.sql"
        a, b = m.groups()
        assert a in released_versions(), f"{path.name}: {a} is not a released version"
        assert b in allowed_targets, f"{path.name}: {b} is neither released nor default_version"
        assert vkey(a) < vkey(b), f"{path.name}: upgrades go to a newer version"
    assert len(upgrade_edges()) == len(upgrade_files())


@pytest.mark.parametrize("version", release_params())
def test_release_has_an_upgrade_path_to_default_version(version: str) -> None:
    current = default_version()
    path = upgrade_path(version, current)
    assert path is not None, (
        f"no chain of sql/upgrades/graphile_worker--A--B.sql leads from release {version} to "
        f"default_version {current}: write sql/upgrades/graphile_worker--"
        f"{released_versions()[-1]}--{current}.sql"
    )


def test_installed_files_are_those_of_the_tree(db: psycopg.Connection) -> None:
    """`make install` installed the current script, every release and every upgrade, and the
    server offers every release with an update path to default_version."""
    current = default_version()
    extdir = pg_sharedir() / "extension"
    installed_default = (extdir / f"graphile_worker--{current}.sql").read_text()
    expected_default = (
        frozen_script(current) if current in released_versions()
        else BUILD / f"graphile_worker--{current}.sql"
    )
    assert installed_default == expected_default.read_text(), (
        f"{extdir} holds another graphile_worker--{current}.sql than {expected_default}: "
        "run make install"
    )
    for version in released_versions():
        if version != current:
            assert (extdir / f"graphile_worker--{version}.sql").read_text() == (
                frozen_script(version).read_text()
            ), f"release {version} is not installed as frozen: run make install"
    for path in upgrade_files():
        built = BUILD / path.name
        assert (extdir / path.name).read_text() == built.read_text(), (
            f"{path.name} is not installed as built: run make install"
        )

    available = {
        r[0]
        for r in db.execute(
            "select version from pg_catalog.pg_available_extension_versions "
            "where name = 'graphile_worker'"
        ).fetchall()
    }
    assert {current, *released_versions()} <= available
    assert db.execute(
        "select default_version from pg_catalog.pg_available_extensions "
        "where name = 'graphile_worker'"
    ).fetchone() == (current,)
    assert db.execute(
        "select extversion from pg_catalog.pg_extension where extname = 'graphile_worker'"
    ).fetchone() == (current,)
    for version in released_versions():
        if vkey(version) < vkey(current):
            row = db.execute(
                "select path from pg_catalog.pg_extension_update_paths('graphile_worker') "
                "where source = %s and target = %s",
                (version, current),
            ).fetchone()
            assert row is not None and row[0] is not None, (
                f"the server has no update path {version} -> {current}"
            )
