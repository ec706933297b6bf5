"""SQLite catalog: files, items (one per vector) and meta. The source of truth.

FAISS files are derived from the `items.vector` BLOBs and rebuilt whenever they disagree
with the catalog's `generation` counter, which is bumped in the same transaction as any
change to items.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from xmodal_cli.errors import XmodalError

SCHEMA_VERSION = 1
DB_NAME = "catalog.db"


def _migration_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            modality TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT NOT NULL,
            indexed_at REAL NOT NULL,
            info TEXT
        );
        CREATE INDEX files_hash ON files(hash);
        CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            space TEXT NOT NULL,
            position INTEGER NOT NULL,
            snippet TEXT,
            vector BLOB NOT NULL
        );
        CREATE INDEX items_file ON items(file_id);
        CREATE INDEX items_space ON items(space);
        """
    )


# Numbered migrations: entry N upgrades schema N to N+1. Never edit one that has shipped.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]


@dataclass(frozen=True)
class FileRow:
    """A file as the catalog remembers it."""

    id: int
    path: str
    modality: str
    size: int
    mtime_ns: int
    hash: str


@dataclass(frozen=True)
class ItemRow:
    """An item joined with its file, as search needs it."""

    id: int
    space: str
    position: int
    snippet: str | None
    path: str
    modality: str
    file_id: int
    info: dict[str, Any]


@dataclass(frozen=True)
class NewItem:
    """An item to insert: its space, position in the file, snippet and unit vector."""

    space: str
    position: int
    snippet: str | None
    vector: np.ndarray


class Catalog:
    """One SQLite file in WAL mode; all writes go through `transaction()`."""

    def __init__(self, path: Path, db: sqlite_utils.Database) -> None:
        self.path = path
        self.db = db
        self.conn: sqlite3.Connection = db.conn

    @classmethod
    def open(cls, directory: Path, *, create: bool) -> Catalog:
        """Open (or with `create`, make) the catalog in `directory`; migrate if older."""
        path = directory / DB_NAME
        if not path.exists():
            if not create:
                raise XmodalError(
                    f"no index at {directory}",
                    "run `xmodal index PATH...` first, or point --index-dir/XMODAL_HOME at one",
                )
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten, so a removed file's passages do not linger on disk.
        conn.execute("PRAGMA secure_delete=ON")
        if path.exists():
            os.chmod(path, 0o600)
        catalog = cls(path, db)
        try:
            catalog._migrate()
        except BaseException:
            conn.close()
            raise
        return catalog

    def close(self, *, checkpoint: bool = False) -> None:
        """Close; a writer also folds the WAL back so old page versions (deleted text) go.

        Readers must not: a TRUNCATE checkpoint waits for writers, and search never waits.
        """
        if checkpoint:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise XmodalError(
                f"this index was written by a newer xmodal (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION})",
                "upgrade xmodal, or use another --index-dir",
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")
                self.set_meta("schema_version", str(number + 1))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Ctrl-C included)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        """Call inside a transaction that changed items."""
        value = self.generation + 1
        self.set_meta("generation", str(value))
        return value

    def bind_profile(self, name: str, spaces: dict[str, int], model_ids: dict[str, str]) -> None:
        """Record the profile on first use; refuse an index built by different models."""
        stored = self.get_meta("profile")
        wanted = json.dumps({"name": name, "spaces": spaces, "models": model_ids}, sort_keys=True)
        if stored is None:
            with self.transaction():
                self.set_meta("profile", wanted)
            return
        if stored != wanted and self._extends(json.loads(stored), name, spaces, model_ids):
            # A newer xmodal added a space (audio joined text and images): the vectors
            # already stored are still valid, so the index grows instead of being refused.
            with self.transaction():
                self.set_meta("profile", wanted)
            return
        if stored != wanted:
            have = json.loads(stored)
            raise XmodalError(
                f"this index was built with profile {have.get('name')!r} "
                f"({', '.join(f'{k}: {v}' for k, v in have.get('models', {}).items())}), "
                "not the models this xmodal uses",
                "use another --index-dir, or delete the index folder and index again",
            )

    @staticmethod
    def _extends(
        have: dict[str, Any], name: str, spaces: dict[str, int], model_ids: dict[str, str]
    ) -> bool:
        old_spaces, old_models = have.get("spaces", {}), have.get("models", {})
        return (
            have.get("name") == name
            and all(spaces.get(k) == v for k, v in old_spaces.items())
            and all(model_ids.get(k) == v for k, v in old_models.items())
        )

    def profile_info(self) -> dict[str, Any] | None:
        stored = self.get_meta("profile")
        return json.loads(stored) if stored else None

    # -- files ----------------------------------------------------------------------------
    def files(self) -> dict[str, FileRow]:
        """Every known file by path (one query: fast even for a million rows)."""
        rows = self.conn.execute("SELECT id, path, modality, size, mtime_ns, hash FROM files")
        return {r[1]: FileRow(*r) for r in rows}

    def file_by_path(self, path: str) -> FileRow | None:
        row = self.conn.execute(
            "SELECT id, path, modality, size, mtime_ns, hash FROM files WHERE path = ?", (path,)
        ).fetchone()
        return FileRow(*row) if row else None

    def add_file(
        self, path: str, modality: str, size: int, mtime_ns: int, digest: str, info: dict[str, Any]
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO files(path, modality, size, mtime_ns, hash, indexed_at, info) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                path,
                modality,
                size,
                mtime_ns,
                digest,
                time.time(),
                json.dumps(info) if info else None,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def move_file(self, file_id: int, path: str, size: int, mtime_ns: int) -> None:
        self.conn.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
            (path, size, mtime_ns, file_id),
        )

    def delete_files(self, file_ids: Iterable[int]) -> dict[str, list[int]]:
        """Delete files and their items; return the removed item ids per space."""
        removed: dict[str, list[int]] = {}
        for file_id in file_ids:
            for item_id, space in self.conn.execute(
                "SELECT id, space FROM items WHERE file_id = ?", (file_id,)
            ):
                removed.setdefault(space, []).append(item_id)
            self.conn.execute("DELETE FROM items WHERE file_id = ?", (file_id,))
            self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
        return removed

    # -- items ----------------------------------------------------------------------------
    def add_items(self, file_id: int, items: list[NewItem]) -> list[int]:
        ids = []
        for item in items:
            vector = np.ascontiguousarray(item.vector, dtype=np.float32)
            cursor = self.conn.execute(
                "INSERT INTO items(file_id, space, position, snippet, vector) "
                "VALUES (?, ?, ?, ?, ?)",
                (file_id, item.space, item.position, item.snippet, vector.tobytes()),
            )
            assert cursor.lastrowid is not None
            ids.append(cursor.lastrowid)
        return ids

    def iter_vectors(
        self, space: str, dim: int, chunk: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in chunks, for rebuilding a FAISS index with bounded memory."""
        cursor = self.conn.execute(
            "SELECT id, vector FROM items WHERE space = ? ORDER BY id", (space,)
        )
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vectors.reshape(len(rows), dim)

    def file_vectors(self, file_id: int, space: str, dim: int) -> np.ndarray:
        rows = self.conn.execute(
            "SELECT vector FROM items WHERE file_id = ? AND space = ? ORDER BY position",
            (file_id, space),
        ).fetchall()
        if not rows:
            return np.zeros((0, dim), dtype=np.float32)
        return np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), dim)

    def items_by_id(self, ids: Iterable[int]) -> dict[int, ItemRow]:
        id_list = [int(i) for i in ids]
        found: dict[int, ItemRow] = {}
        for start in range(0, len(id_list), 500):
            part = id_list[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                "SELECT items.id, items.space, items.position, items.snippet, files.path, "
                "files.modality, files.id, files.info "
                "FROM items JOIN files ON files.id = items.file_id "
                f"WHERE items.id IN ({marks})",
                part,
            ):
                info = json.loads(row[7]) if row[7] else {}
                found[row[0]] = ItemRow(
                    row[0], row[1], row[2], row[3], row[4], row[5], row[6], info
                )
        return found

    def counts(self) -> dict[str, dict[str, int]]:
        """Files and items per modality."""
        out: dict[str, dict[str, int]] = {}
        for modality, n in self.conn.execute(
            "SELECT modality, COUNT(*) FROM files GROUP BY modality"
        ):
            out.setdefault(modality, {"files": 0, "items": 0})["files"] = n
        for modality, n in self.conn.execute(
            "SELECT files.modality, COUNT(*) FROM items JOIN files ON files.id = items.file_id "
            "GROUP BY files.modality"
        ):
            out.setdefault(modality, {"files": 0, "items": 0})["items"] = n
        return out

    def space_counts(self) -> dict[str, int]:
        return dict(
            self.conn.execute("SELECT space, COUNT(*) FROM items GROUP BY space").fetchall()
        )

    def vacuum(self) -> None:
        """Really drop deleted rows (passages of removed files must not linger on disk)."""
        self.conn.execute("VACUUM")
