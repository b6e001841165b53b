"""The store owns every SQL statement: no module outside store/ holds SQL text or uses `.db`,
and none imports a store module other than the door (`magickbox.store`); pynetdicom's private
parts are touched by one module only.

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


STORE_MODULES = {p.stem for p in (PACKAGE / "store").glob("*.py")} - {"__init__"}


def store_submodule_imports(source: str, where: str) -> list[str]:
    """`where:line: module` of every import of a store module other than `magickbox.store` itself,
    including `from magickbox.store import <module>` (the same breach written another way)."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            named = [a.name for a in node.names if a.name.startswith("magickbox.store.")]
        elif isinstance(node, ast.ImportFrom) and node.module == "magickbox.store":
            named = [f"magickbox.store.{a.name}" for a in node.names if a.name in STORE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("magickbox.store."):
            named = [str(node.module)]
        else:
            continue
        found += [f"{where}:{node.lineno}: {name}" for name in named]
    return found


def test_the_store_is_entered_by_its_door_only() -> None:
    """Outside store/, code imports `magickbox.store` and nothing under it (import-linter's
    contract says the same; this scan also sees imports inside functions, written any way)."""
    assert len(STORE_MODULES) > 15
    hits = [
        hit
        for path in outside_store()
        for hit in store_submodule_imports(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    ]
    assert hits == []


def test_the_scan_sees_each_way_of_going_around_the_door() -> None:
    source = (
        "from magickbox.store.sessions import Session\n"
        "from magickbox.store import Store, routelog\n"
        "def f():\n    import magickbox.store.db\n"
        "from magickbox.store import SessionState\n"
    )
    assert store_submodule_imports(source, "x.py") == [
        "x.py:1: magickbox.store.sessions",
        "x.py:2: magickbox.store.routelog",
        "x.py:4: magickbox.store.db",
    ]


def test_every_name_the_door_lists_is_there() -> None:
    import magickbox.store as door

    missing = [name for name in door.__all__ if not hasattr(door, name)]
    assert missing == [] and len(door.__all__) == len(set(door.__all__))


# pynetdicom's private names the box relies on; only dicom/pynetdicom_compat.py may touch them.
PYNETDICOM_PRIVATE = re.compile(
    r"pynetdicom\._|\b_config\b|_globals|_accepted_cx|_servers\b|_run_loop_delay|_is_connected"
    r"|_is_paused|_decode_pdu|_read_pdu_data|_recv_pdu|\bget_msg\b"
)
COMPAT = PACKAGE / "dicom" / "pynetdicom_compat.py"


def pynetdicom_private_uses(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        f"{path.name}:{n}" for n, line in enumerate(text.splitlines(), 1) if PYNETDICOM_PRIVATE.search(line)
    ]


def test_pynetdicom_private_parts_are_used_in_one_module() -> None:
    assert pynetdicom_private_uses(COMPAT), "the scan must see the compat module's own uses"
    others = [p for p in PACKAGE.rglob("*.py") if p != COMPAT]
    assert [hit for path in others for hit in pynetdicom_private_uses(path)] == []
