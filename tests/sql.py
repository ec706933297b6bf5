"""Look into (or damage) a catalog file the way another program would: its own connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from xmodal_cli.store.catalog import DB_NAME, Catalog


def sql(where: Catalog | Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the catalog file (committed at once); its rows."""
    path = where.path if isinstance(where, Catalog) else where / DB_NAME
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()
