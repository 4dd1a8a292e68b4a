"""Release bookkeeping: frozen scripts, upgrade scripts and what `make install` installed.

Once a version is released (scripts/release.sh), sql/src may only change together with a new
default_version and a hand-written sql/upgrades/graphile_worker--OLD--NEW.sql (CONTRIBUTING.md).
"""

from __future__ import annotations

import psycopg
import pytest

from tests.release.release_tools import (
    _SUM_LINE,
    BUILD,
    RELEASED,
    SUMS,
    UPGRADE_NAME,
    base_version,
    default_version,
    frozen_script,
    frozen_standalone_script,
    pg_sharedir,
    release_checksums,
    release_params,
    released_versions,
    sha256,
    upgrade_edges,
    upgrade_files,
    upgrade_path,
    vkey,
)


def test_default_version_is_the_released_build_or_a_new_version() -> None:
    """The check that fails when sql/src changed after its version was released: the builds
    of a released default_version have the checksums recorded at its release."""
    current = default_version()
    released = released_versions()
    if current not in released:
        newer = [v for v in released if vkey(v) >= vkey(current)]
        assert not newer, (
            f"default_version {current} is not released but {newer} are: default_version must "
            "be newer than every release"
        )
        return
    sums = release_checksums()
    for built, name in [
        (BUILD / f"graphile_worker--{current}.sql", f"graphile_worker--{current}.sql"),
        (BUILD / "graphile_worker-standalone.sql", f"graphile_worker-standalone--{current}.sql"),
    ]:
        assert built.exists(), f"{built} is missing: run make all standalone"
        if sha256(built) != sums[name]:
            pytest.fail(
                f"sql/src changed after release {current}: {built.name} no longer has the "
                f"checksum of {name} in {SUMS.name} ({SUMS}).\n"
                f"Set default_version in graphile_worker.control to a new version and write "
                f"sql/upgrades/graphile_worker--{current}--NEW.sql (CONTRIBUTING.md). "
                f"`git diff v{current} -- sql/src` shows what changed.",
                pytrace=False,
            )


def test_every_release_has_both_checksums_and_only_the_base_is_kept_in_full() -> None:
    """SHA256SUMS lists the extension and the standalone build of each release, in sha256sum's
    format; the full scripts of the base release are there, unchanged; nothing else lies in
    sql/released."""
    assert SUMS.exists(), f"{SUMS} is missing"
    lines = SUMS.read_text().splitlines()
    bad = [line for line in lines if not _SUM_LINE.match(line)]
    assert bad == [], f"{SUMS.name}: lines not of the form '<sha256>  <file name>': {bad}"
    sums = release_checksums()
    assert len(sums) == len(lines), f"{SUMS.name} names a file twice"
    for version in released_versions():
        assert f"graphile_worker-standalone--{version}.sql" in sums, (
            f"{SUMS.name} has no checksum of the standalone build of {version}"
        )
    assert {n.split("--")[1].removesuffix(".sql") for n in sums} == set(released_versions())

    base = base_version()
    for script in (frozen_script(base), frozen_standalone_script(base)):
        assert script.exists(), f"{script} (the base release, kept in full) is missing"
        assert sha256(script) == sums[script.name], f"{script} changed after its release"
    kept = {
        p.relative_to(RELEASED).as_posix() for p in RELEASED.rglob("*") if p.is_file()
    }
    assert kept == {
        SUMS.name,
        frozen_script(base).name,
        f"standalone/{frozen_standalone_script(base).name}",
    }, "sql/released holds the checksums and the base release's two scripts only"


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
    """`make install` installed the current build, the base release's script and every upgrade,
    and the server offers every release (the base script plus the upgrade chain) with an update
    path to default_version."""
    current = default_version()
    extdir = pg_sharedir() / "extension"
    installed_default = (extdir / f"graphile_worker--{current}.sql").read_text()
    expected_default = (
        frozen_script(current) if current == base_version()
        else BUILD / f"graphile_worker--{current}.sql"
    )
    assert installed_default == expected_default.read_text(), (
        f"{extdir} holds another graphile_worker--{current}.sql than {expected_default}: "
        "run make install"
    )
    base = base_version()
    assert (extdir / f"graphile_worker--{base}.sql").read_text() == (
        frozen_script(base).read_text()
    ), f"the base release {base} is not installed as kept: run make install"
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
