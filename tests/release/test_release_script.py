"""scripts/release.sh, run for real on a copy of the tree: what it records and what it refuses."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.release.release_tools import ROOT, released_versions


def _copy_tree(tmp_path: Path) -> Path:
    """The files release.sh and the build read, outside git (so no dirty-tree check)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("Makefile", "graphile_worker.control"):
        shutil.copy2(ROOT / name, tree / name)
    for name in ("scripts", "sql"):
        shutil.copytree(ROOT / name, tree / name)
    for path in (tree / "sql" / "released").rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return tree


def _set_default_version(tree: Path, version: str) -> None:
    control = tree / "graphile_worker.control"
    control.write_text(
        re.sub(r"(?m)^default_version *= *'[^']*'", f"default_version = '{version}'",
               control.read_text())
    )


def _release(tree: Path, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(tree / "scripts" / "release.sh"), version],
        cwd=tree, capture_output=True, text=True,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_later_release_records_both_checksums_and_keeps_no_full_script(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    latest = released_versions()[-1]
    upgrade = tree / "sql" / "upgrades" / f"graphile_worker--{latest}--98.0.0.sql"
    upgrade.write_text("select 1;\n")
    _set_default_version(tree, "98.0.0")
    sums = tree / "sql" / "released" / "SHA256SUMS"
    before = sums.read_text()
    kept_before = sorted(p.name for p in (tree / "sql" / "released").rglob("*.sql"))

    proc = _release(tree, "98.0.0")

    assert proc.returncode == 0, proc.stderr
    added = sums.read_text().removeprefix(before).splitlines()
    assert added == [
        f"{_digest(tree / 'build' / 'graphile_worker--98.0.0.sql')}  graphile_worker--98.0.0.sql",
        f"{_digest(tree / 'build' / 'graphile_worker-standalone.sql')}  "
        "graphile_worker-standalone--98.0.0.sql",
    ]
    assert sorted(p.name for p in (tree / "sql" / "released").rglob("*.sql")) == kept_before
    assert "Released graphile_worker 98.0.0" in proc.stdout

    again = _release(tree, "98.0.0")
    assert again.returncode == 1
    assert "98.0.0 is released" in again.stderr
    assert sums.read_text().removeprefix(before).splitlines() == added


@pytest.mark.parametrize(
    ("setup", "version", "message"),
    [
        ("released", None, "is released"),
        ("no-upgrade", "97.0.0", "no upgrade script leads to 97.0.0"),
        ("not-default", "96.0.0", "set it to '96.0.0' first"),
        ("bad-version", "1.2", "version must look like X.Y.Z"),
    ],
)
def test_release_refuses_and_changes_nothing(
    tmp_path: Path, setup: str, version: str | None, message: str
) -> None:
    tree = _copy_tree(tmp_path)
    version = version or released_versions()[-1]
    if setup in ("released", "no-upgrade"):
        _set_default_version(tree, version)
    released_dir = tree / "sql" / "released"
    before = {p: p.read_bytes() for p in released_dir.rglob("*") if p.is_file()}
    control_before = (tree / "graphile_worker.control").read_text()

    proc = _release(tree, version)

    assert proc.returncode == 1, proc.stdout
    assert message in proc.stderr
    assert {p: p.read_bytes() for p in released_dir.rglob("*") if p.is_file()} == before
    assert (tree / "graphile_worker.control").read_text() == control_before
