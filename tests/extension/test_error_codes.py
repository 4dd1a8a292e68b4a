"""One table of error codes: the README's, the SQL's and gw_runner.errors agree."""

from __future__ import annotations

import re
from pathlib import Path

from gw_runner.errors import SQLSTATE_ERRORS

ROOT = Path(__file__).resolve().parents[2]
# condition names used in sql/src -> SQLSTATE
CONDITIONS = {
    "check_violation": "23514",
    "not_null_violation": "23502",
    "null_value_not_allowed": "22004",
    "numeric_value_out_of_range": "22003",
    "undefined_object": "42704",
}


def readme_codes() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([0-9A-Z]{5})` \|", section, flags=re.M))


def sql_codes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "sql" / "src").rglob("*.sql"):
        for code in re.findall(r"errcode = '([A-Za-z0-9_]+)'", path.read_text()):
            found.add(CONDITIONS.get(code, code))
    return found


def test_every_code_the_sql_raises_is_in_the_readme_table() -> None:
    assert sql_codes() - readme_codes() == set()


def test_every_code_of_the_readme_table_is_raised_by_the_sql() -> None:
    assert readme_codes() - sql_codes() == set()


def test_every_gw_code_maps_to_its_own_python_exception() -> None:
    gw = {c for c in sql_codes() if c.startswith("GW")}
    assert gw - set(SQLSTATE_ERRORS) == set()
    for code in ("23514", "23502", "22003", "22004"):
        assert code in SQLSTATE_ERRORS, code
