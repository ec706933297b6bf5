"""SQLite catalog: files, items (one per vector) and meta. The source of truth.

FAISS files derive from the `items.vector` BLOBs; the `generation` counter, bumped in the
same transaction as any change to items, says which catalog state a FAISS file reflects.
This is the only module that runs SQL: a schema change touches this file alone. Plain
`sqlite3`, not sqlite-utils: every statement here needs what sqlite-utils hides
(`BEGIN IMMEDIATE` transactions spanning several writes, BLOBs streamed in chunks,
migrations tied to `PRAGMA user_version`). Only a writer (holding the index lock) opens it
`writable`; every other connection is `query_only`, so a reader cannot change the index.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError
from xmodal_cli.store import codec
from xmodal_cli.store.catalog_lexical import Words
from xmodal_cli.store.catalog_select import Selections
from xmodal_cli.store.codec import blob_size
from xmodal_cli.store.rows import (
    STAGED,
    Clause,
    FileRow,
    ItemRow,
    NewItem,
    profile_needs_recording,
    profile_record,
)
from xmodal_cli.store.schema import DB_NAME, MIGRATIONS, SCHEMA_VERSION

ALL = Clause()
_BAD_VECTOR = "space = ? AND (vector IS NULL OR length(vector) != ?)"
_ORPHAN = "file_id NOT IN (SELECT id FROM files)"
# Items staged by a pending upgrade belong to no recorded space yet, and are not garbage.
_NOT_STAGED = f"NOT (space LIKE '{STAGED}%' AND EXISTS (SELECT 1 FROM meta WHERE key = 'upgrade'))"


class Catalog:
    """One SQLite file in WAL mode; all writes go through `transaction()`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self._conn = conn
        self._selections = Selections(conn)

    @classmethod
    def open(cls, directory: Path, *, create: bool = False, writable: bool = False) -> Catalog:
        """Open the catalog in `directory`. A writer (`writable`, implied by `create`) may make
        it and migrates an older schema; a reader refuses an older schema with the command
        that upgrades it."""
        writable = writable or create
        path = directory / DB_NAME
        if not path.exists():
            if not create:
                raise XmodalError(
                    f"no index at {directory}",
                    "run `xmodal index PATH...` first, or point --index-dir/XMODAL_HOME at one",
                )
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        try:
            if writable:
                conn.execute("PRAGMA journal_mode=WAL")
                os.chmod(path, 0o600)
            else:
                conn.execute("PRAGMA query_only=ON")
            # secure_delete overwrites deleted rows (a removed file's passages do not linger);
            # 64 MiB of page cache, filled as read, keeps the indexes a folder filter walks
            # (10,000 of 1M files: 19 -> 12 ms).
            for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "secure_delete=ON"):
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("PRAGMA cache_size=-65536")
            catalog = cls(path, conn, writable=writable)
            catalog._check_schema()
        except BaseException:
            conn.close()
            raise
        return catalog

    def close(self, *, checkpoint: bool = False) -> None:
        """Close; a writer also folds the WAL back so old page versions (deleted text) go.

        Readers must not: a TRUNCATE checkpoint waits for writers, and search never waits.
        """
        if checkpoint and self.writable:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _check_schema(self) -> None:
        version = self.user_version()
        if version > SCHEMA_VERSION:
            raise XmodalError(
                f"this index was written by a newer xmodal (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION})",
                "upgrade xmodal, or use another --index-dir",
            )
        if version == SCHEMA_VERSION:
            return
        if not self.writable:
            raise XmodalError(
                f"this index has schema {version}; this xmodal reads schema {SCHEMA_VERSION}",
                "run `xmodal check --repair` (or `xmodal index` on its folders) to upgrade it",
            )
        self._conn.create_function("float32_to_16", 1, codec.float32_to_16, deterministic=True)
        self._conn.create_function("float16_to_int8", 1, codec.float16_to_int8, deterministic=True)
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[number]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number + 1}")
                self.set_meta("schema_version", str(number + 1))
        if 0 < version < 4:  # its vectors were rewritten smaller: return the freed pages
            self._conn.execute("VACUUM")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Ctrl-C included)."""
        if not self.writable:
            raise RuntimeError("a read-only catalog cannot start a transaction")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- health (for `xmodal check`) ------------------------------------------------------
    def user_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity(self) -> str:
        """SQLite's quick_check verdict: 'ok', or the first thing it found wrong."""
        return str(self._conn.execute("PRAGMA quick_check").fetchone()[0])

    def count_bad_vectors(self, space: str, dim: int) -> int:
        """Items of `space` whose BLOB is missing or not the size of a `dim` vector."""
        return self._scalar(
            f"SELECT COUNT(*) FROM items WHERE {_BAD_VECTOR}", space, blob_size(dim)
        )

    def count_items_outside(self, spaces: Iterable[str]) -> int:
        """Items in a space that is not among `spaces` (a profile's spaces)."""
        names = list(spaces)
        marks = ",".join("?" * len(names))
        return self._scalar(
            f"SELECT COUNT(*) FROM items WHERE space NOT IN ({marks}) AND {_NOT_STAGED}", *names
        )

    def count_orphan_items(self) -> int:
        return self._scalar(f"SELECT COUNT(*) FROM items WHERE {_ORPHAN}")

    def _scalar(self, sql: str, *params: object) -> int:
        return int(self._conn.execute(sql, params).fetchone()[0] or 0)

    def paths_without_items(self) -> list[str]:
        sql = "SELECT path FROM files WHERE id NOT IN (SELECT file_id FROM items)"
        return [r[0] for r in self._conn.execute(sql)]

    def delete_unusable(self, spaces: dict[str, int]) -> tuple[int, int]:
        """Inside a transaction: drop items that cannot be searched (bad vector, unknown
        space, no file) and files left without items. Returns (items, files) deleted."""
        items = 0
        for space, dim in spaces.items():
            items += self._conn.execute(
                f"DELETE FROM items WHERE {_BAD_VECTOR}", (space, blob_size(dim))
            ).rowcount
        marks = ",".join("?" * len(spaces))
        items += self._conn.execute(
            f"DELETE FROM items WHERE space NOT IN ({marks}) AND {_NOT_STAGED}", list(spaces)
        ).rowcount
        items += self._conn.execute(f"DELETE FROM items WHERE {_ORPHAN}").rowcount
        # A file left without vectors is forgotten, so the next index run encodes it again.
        files = self._conn.execute(
            "DELETE FROM files WHERE id NOT IN (SELECT file_id FROM items)"
        ).rowcount
        return items, files

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def words(self) -> Words:  # the lexical index: store/catalog_lexical.py
        return Words(self._conn)

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        """Call inside a transaction that changed items."""
        value = self.generation + 1
        self.set_meta("generation", str(value))
        return value

    def bind_profile(self, name: str, spaces: dict[str, int], model_ids: dict[str, str]) -> None:
        """Record the profile on first use (or when it grew); refuse different models."""
        wanted = profile_record(name, spaces, model_ids)
        if profile_needs_recording(self.profile_info(), wanted):
            with self.transaction():
                self.set_meta("profile", json.dumps(wanted, sort_keys=True))

    def check_profile(self, name: str, spaces: dict[str, int], model_ids: dict[str, str]) -> bool:
        """Whether these models need recording; raises if other models built the index."""
        return profile_needs_recording(self.profile_info(), profile_record(name, spaces, model_ids))

    def profile_info(self) -> dict[str, Any] | None:
        stored = self.get_meta("profile")
        return json.loads(stored) if stored else None

    # -- in-place upgrade (upgrade.py) ---------------------------------------------------
    def upgrade_target(self) -> dict[str, Any] | None:
        """The profile a pending upgrade re-encodes into, if one is under way."""
        stored = self.get_meta("upgrade")
        return json.loads(stored) if stored else None

    def begin_upgrade(self, target: dict[str, Any] | None) -> None:
        """Record a pending upgrade to `target` (None: none); one pending before is dropped."""
        if self.upgrade_target() == target:
            return
        with self.transaction():
            self._conn.execute("DELETE FROM items WHERE space LIKE ?", (STAGED + "%",))
            self._conn.execute("DELETE FROM meta WHERE key IN ('upgrade', 'upgrade_progress')")
            if target is not None:
                self.set_meta("upgrade", json.dumps(target, sort_keys=True))

    def finish_upgrade(self, text_space: str) -> int:
        """Switch to the staged items in one commit: the old items go, files that could not be
        re-encoded are forgotten (the next run encodes them again), the word index takes the
        new passages; returns how many files were forgotten."""
        target = self.upgrade_target()
        assert target is not None, "no upgrade is pending"
        with self.transaction():
            self._conn.execute("DELETE FROM items WHERE space NOT LIKE ?", (STAGED + "%",))
            self._conn.execute("UPDATE items SET space = substr(space, ?)", (len(STAGED) + 1,))
            forgotten = self._conn.execute(
                "DELETE FROM files WHERE id NOT IN (SELECT file_id FROM items)"
            ).rowcount
            self.words.replace_passages(text_space)
            self.set_meta("profile", json.dumps(target, sort_keys=True))
            self._conn.execute("DELETE FROM meta WHERE key IN ('upgrade', 'upgrade_progress')")
            self.bump_generation()
        return int(forgotten)

    # -- files ----------------------------------------------------------------------------
    def files(self) -> dict[str, FileRow]:
        """Every known file by path (one query: fast even for a million rows)."""
        rows = self._conn.execute("SELECT id, path, modality, size, mtime_ns, hash FROM files")
        return {r[1]: FileRow(*r) for r in rows}

    def file_by_path(self, path: str) -> FileRow | None:
        row = self._conn.execute(
            "SELECT id, path, modality, size, mtime_ns, hash FROM files WHERE path = ?", (path,)
        ).fetchone()
        return FileRow(*row) if row else None

    def add_file(
        self, path: str, modality: str, size: int, mtime_ns: int, digest: str, info: dict[str, Any]
    ) -> int:
        cursor = self._conn.execute(
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
        self._conn.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
            (path, size, mtime_ns, file_id),
        )

    def delete_files(self, file_ids: Iterable[int]) -> dict[str, list[int]]:
        """Delete files and their items; return the removed item ids per space."""
        removed: dict[str, list[int]] = {}
        for file_id in file_ids:
            for item_id, space in self._conn.execute(
                "SELECT id, space FROM items WHERE file_id = ?", (file_id,)
            ):
                removed.setdefault(space, []).append(item_id)
            self._conn.execute("DELETE FROM items WHERE file_id = ?", (file_id,))
            self._conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
        return removed

    # -- items ----------------------------------------------------------------------------
    def add_items(self, file_id: int, items: list[NewItem]) -> list[int]:
        ids = []
        for item in items:
            cursor = self._conn.execute(
                "INSERT INTO items(file_id, space, position, snippet, vector) "
                "VALUES (?, ?, ?, ?, ?)",
                (file_id, item.space, item.position, item.snippet, codec.to_blob(item.vector)),
            )
            assert cursor.lastrowid is not None
            ids.append(cursor.lastrowid)
        return ids

    def iter_vectors(
        self, space: str, dim: int, *, after_id: int = -1, chunk: int = 20_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of `space` with ids above `after_id`, in chunks of bounded memory."""
        cursor = self._conn.execute(
            "SELECT id, vector FROM items WHERE space = ? AND id > ? ORDER BY id", (space, after_id)
        )
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, codec.matrix([r[1] for r in rows], dim)

    def vectors_by_id(self, space: str, ids: list[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given items that still exist in `space`."""
        found: list[int] = []
        blobs: list[bytes] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for item_id, blob in self._conn.execute(
                f"SELECT id, vector FROM items WHERE space = ? AND id IN ({marks})", (space, *part)
            ):
                found.append(item_id)
                blobs.append(blob)
        return np.asarray(found, dtype=np.int64), codec.matrix(blobs, dim)

    def file_vectors(self, file_id: int, space: str, dim: int) -> np.ndarray:
        rows = self._conn.execute(
            "SELECT vector FROM items WHERE file_id = ? AND space = ? ORDER BY position",
            (file_id, space),
        ).fetchall()
        return codec.matrix([r[0] for r in rows], dim)

    def items_by_id(self, ids: Iterable[int]) -> dict[int, ItemRow]:
        id_list = [int(i) for i in ids]
        found: dict[int, ItemRow] = {}
        for start in range(0, len(id_list), 500):
            part = id_list[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self._conn.execute(
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
        rows = self._conn.execute(
            "SELECT files.modality, COUNT(DISTINCT files.id), COUNT(items.id) FROM files "
            f"LEFT JOIN items ON items.file_id = files.id AND items.space NOT LIKE '{STAGED}%' "
            "GROUP BY files.modality"
        )
        return {modality: {"files": files, "items": items} for modality, files, items in rows}

    def space_counts(self) -> dict[str, int]:
        return dict(
            self._conn.execute("SELECT space, COUNT(*) FROM items GROUP BY space").fetchall()
        )

    def item_ids(self, space: str) -> np.ndarray:
        """Every item id of `space`, ascending."""
        rows = self._conn.execute("SELECT id FROM items WHERE space = ? ORDER BY id", (space,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def modality_counts(self) -> list[tuple[str, str, int]]:
        """(space, modality, items) for every pair that holds items."""
        return [
            (str(space), str(modality), int(n))
            for space, modality, n in self._conn.execute(
                "SELECT items.space, files.modality, COUNT(*) FROM items "
                "JOIN files ON files.id = items.file_id GROUP BY items.space, files.modality"
            )
        ]

    def matching_items(
        self, space: str, modality: str, under: tuple[str, ...], most: int, also: Clause = ALL
    ) -> np.ndarray | None:
        """Ids of `space` items of `modality` files inside `under` (any folder if empty) that
        meet `also`, or None when more than `most` match (store/catalog_select.py)."""
        return self._selections.items(space, modality, tuple(under), most, also)

    def forget_selections(self) -> None:
        """Drop the remembered selections (to time a filter asked for the first time)."""
        self._selections = Selections(self._conn)

    def sample_vectors(
        self, space: str, dim: int, size: int, modality: str | None = None
    ) -> np.ndarray:
        """Up to `size` vectors of `space` (of one `modality`, if given), evenly across ids."""
        where = "items.space = ?" + (" AND files.modality = ?" if modality else "")
        params = (space, modality) if modality else (space,)
        joined = f"FROM items JOIN files ON files.id = items.file_id WHERE {where}"
        step = max(1, self._scalar(f"SELECT COUNT(*) {joined}", *params) // max(size, 1))
        rows = self._conn.execute(
            "SELECT vector FROM (SELECT items.vector, ROW_NUMBER() OVER (ORDER BY items.id) AS n "
            f"{joined}) WHERE n % ? = 0 LIMIT ?",
            (*params, step, size),
        ).fetchall()
        return codec.matrix([r[0] for r in rows], dim)

    def last_indexed(self) -> float | None:
        """When a file was last (re-)encoded, as a Unix time; None for an empty index."""
        value = self._conn.execute("SELECT MAX(indexed_at) FROM files").fetchone()[0]
        return float(value) if value is not None else None
