"""The store owns every SQL statement: no module outside store/ holds SQL text or uses `.db`.

A plain scan of the source (string literals, f-string parts and attribute names), so it also
catches what import-linter cannot see: SQL passed as a string to the store's connection.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import magickbox

PACKAGE = Path(magickbox.__file__).parent
# Upper-case SQL, as every statement in store/ is written; prose ("select a bucket") is lower case.
SQL = re.compile(
    r"\b(SELECT\s+\S|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX)|PRAGMA\s+\w)"
)


def outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if (PACKAGE / "store") not in p.parents)


def sql_literals(path: Path) -> list[str]:
    """`file:line: text` of every string constant (f-string parts too) that looks like SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value.strip()[:60]!r}")
    return found


def database_uses(path: Path) -> list[str]:
    """Attribute accesses `<x>.db` (the store's Database): only the store itself may use it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: .db"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "db"
    ]


def test_the_scan_sees_sql() -> None:
    assert SQL.search("SELECT COUNT(*) AS n FROM sessions")
    assert SQL.search("UPDATE jobs SET state = ?") and SQL.search("PRAGMA user_version")
    assert not SQL.search("select a bucket to update; delete from the list")


def test_no_sql_outside_the_store() -> None:
    modules = outside_store()
    assert len(modules) > 50, "the scan found too few modules to be looking in the right place"
    assert [hit for path in modules for hit in sql_literals(path)] == []


def test_no_database_handle_outside_the_store() -> None:
    assert [hit for path in outside_store() for hit in database_uses(path)] == []


def test_the_store_itself_is_scanned_the_same_way() -> None:
    """The same scan finds the store's SQL: an empty result above is not a blind scan."""
    store_sql = [hit for p in (PACKAGE / "store").glob("*.py") for hit in sql_literals(p)]
    assert len(store_sql) > 50
