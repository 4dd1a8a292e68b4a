"""The package's __version__ is a constant (cheap at start-up); it must match pyproject.toml."""

from importlib.metadata import version

import gw_runner


def test_version_constant_matches_the_installed_package_metadata() -> None:
    assert gw_runner.__version__ == version("gw_runner")
