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


# What schemas 7, 6 and 5 added (words; covering indexes; the facet columns and their
# indexes), undone in reverse: turns a catalog written now into what schema 4 wrote, to test
# the migrations from older ones.
UNDO_SCHEMA_7 = (
    *(f"DROP TRIGGER {name}" for name in ("files_words_in", "files_words_move", "files_words_out")),
    "DROP TABLE words_fts",
    "DROP TABLE words",
)
UNDO_SCHEMA_6 = (
    "CREATE INDEX items_file ON items(file_id)",
    "DROP INDEX items_file_space",
    "DROP INDEX files_path_type",
)
UNDO_SCHEMA_5 = (
    *(
        f"DROP INDEX {name}"
        for name in ("files_when", "files_duration", "files_place", "files_size")
    ),
    *(f"ALTER TABLE files DROP COLUMN {c}" for c in ("taken", "duration", "lat", "lon", "camera")),
)
UNDO_TO_SCHEMA_4 = (*UNDO_SCHEMA_7, *UNDO_SCHEMA_6, *UNDO_SCHEMA_5)
