"""The catalog's schema: numbered migrations, run in order by `Catalog` (the only module
that executes them). A schema change adds one entry here and the queries it needs there."""

from __future__ import annotations

SCHEMA_VERSION = 4
DB_NAME = "catalog.db"

# Numbered migrations, as statements: entry N upgrades schema N to N+1, in one transaction.
# Never edit one that has shipped.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            modality TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT NOT NULL,
            indexed_at REAL NOT NULL,
            info TEXT
        )""",
        "CREATE INDEX files_hash ON files(hash)",
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            space TEXT NOT NULL,
            position INTEGER NOT NULL,
            snippet TEXT,
            vector BLOB NOT NULL
        )""",
        "CREATE INDEX items_file ON items(file_id)",
        "CREATE INDEX items_space ON items(space)",
    ),
    ("UPDATE items SET vector = float32_to_16(vector)",),  # 2: compact vectors
    ("CREATE INDEX files_modality ON files(modality)",),  # 3: filters by type
    ("UPDATE items SET vector = float16_to_int8(vector)",),  # 4: int8 vectors, half again
]
