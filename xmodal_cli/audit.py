"""`xmodal check`: verify that an index tells the truth, and repair what is derived.

SQLite is the source of truth. Problems are things that make answers wrong or lose data
(a corrupt database, items without a usable vector, a FAISS file that claims to be current
but holds other ids); repair deletes unusable rows and rebuilds every derived file. Notes
are true but harmless facts (a FAISS file older than the catalog is rebuilt on next use,
files that no longer exist on disk are pruned by the next `index` of their folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.collection import Collection, leftovers, remove_leftovers
from xmodal_cli.store.catalog import SCHEMA_VERSION
from xmodal_cli.store.vectors import VectorIndex

_LISTED = 10  # paths listed per finding; the count is always complete
_BAD_VECTOR = "space = ? AND (vector IS NULL OR length(vector) != ?)"


@dataclass
class Finding:
    """One problem or note: a stable code, a sentence, and how many things it concerns."""

    code: str
    message: str
    count: int = 1
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class Report:
    """The outcome of a check (and of a repair, which re-checks)."""

    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
            "notes": [n.as_dict() for n in self.notes],
            "checked": self.checked,
            "repaired": self.repaired,
        }


def check_index(collection: Collection) -> Report:
    """Read-only verification of schema, rows, vectors, FAISS files and files on disk."""
    catalog, vectors = collection.catalog, collection.vectors
    conn = catalog.conn
    report = Report()
    integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
    if integrity != "ok":
        report.problems.append(Finding("database-corrupt", f"SQLite reports: {integrity}"))
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION or catalog.get_meta("schema_version") != str(SCHEMA_VERSION):
        report.problems.append(
            Finding("schema", f"schema version {version}, expected {SCHEMA_VERSION}")
        )

    for space, dim in vectors.spaces.items():
        bad = conn.execute(
            f"SELECT COUNT(*) FROM items WHERE {_BAD_VECTOR}",
            (space, dim * 4),
        ).fetchone()[0]
        if bad:
            report.problems.append(
                Finding("bad-vector", f"{space}: items without a usable vector", bad)
            )
    unknown = conn.execute(
        f"SELECT COUNT(*) FROM items WHERE space NOT IN ({','.join('?' * len(vectors.spaces))})",
        list(vectors.spaces),
    ).fetchone()[0]
    if unknown:
        report.problems.append(
            Finding("unknown-space", "items in a space this profile lacks", unknown)
        )
    orphans = conn.execute(
        "SELECT COUNT(*) FROM items WHERE file_id NOT IN (SELECT id FROM files)"
    ).fetchone()[0]
    if orphans:
        report.problems.append(Finding("orphan-items", "items whose file row is gone", orphans))
    empty = [
        r[0]
        for r in conn.execute("SELECT path FROM files WHERE id NOT IN (SELECT file_id FROM items)")
    ]
    if empty:
        report.problems.append(
            Finding("file-without-items", "files with no vectors", len(empty), empty[:_LISTED])
        )

    generation = catalog.generation
    counts = catalog.space_counts()
    for space, dim in vectors.spaces.items():
        saved = VectorIndex.load(vectors.path(space), dim, generation)
        if saved is None:
            if counts.get(space, 0):
                report.notes.append(
                    Finding(
                        "faiss-stale",
                        f"{space}.faiss is older than the catalog; rebuilt on next use",
                    )
                )
            continue
        faiss_ids = set(_faiss_ids(saved).tolist())
        sql_ids = {r[0] for r in conn.execute("SELECT id FROM items WHERE space = ?", (space,))}
        if faiss_ids != sql_ids:
            report.problems.append(
                Finding(
                    "faiss-mismatch",
                    f"{space}.faiss disagrees with the catalog "
                    f"({len(faiss_ids - sql_ids)} extra, {len(sql_ids - faiss_ids)} missing ids)",
                )
            )

    missing = [path for path in catalog.files() if not os.path.exists(path)]
    if missing:
        report.notes.append(
            Finding(
                "file-missing",
                "indexed files no longer on disk (`xmodal index` their folder to prune)",
                len(missing),
                missing[:_LISTED],
            )
        )
    temp = leftovers(collection.directory)
    if temp:
        report.notes.append(
            Finding(
                "temp-files",
                "temporary files left by an interrupted run",
                len(temp),
                [p.name for p in temp[:_LISTED]],
            )
        )
    report.checked = {
        "files": len(catalog.files()),
        "items": sum(counts.values()),
        **{f"{space}_vectors": counts.get(space, 0) for space in vectors.spaces},
    }
    return report


def repair_index(collection: Collection) -> Report:
    """Delete unusable rows, rebuild FAISS files and calibration, clear temp files; re-check.

    Needs the writer lock (open the collection with `write=True`).
    """
    catalog, vectors = collection.catalog, collection.vectors
    repaired = []
    with catalog.transaction():
        removed = 0
        for space, dim in vectors.spaces.items():
            removed += catalog.conn.execute(
                f"DELETE FROM items WHERE {_BAD_VECTOR}",
                (space, dim * 4),
            ).rowcount
        removed += catalog.conn.execute(
            f"DELETE FROM items WHERE space NOT IN ({','.join('?' * len(vectors.spaces))})",
            list(vectors.spaces),
        ).rowcount
        removed += catalog.conn.execute(
            "DELETE FROM items WHERE file_id NOT IN (SELECT id FROM files)"
        ).rowcount
        # A file left without vectors is forgotten, so the next index run encodes it again.
        forgotten = catalog.conn.execute(
            "DELETE FROM files WHERE id NOT IN (SELECT file_id FROM items)"
        ).rowcount
        if removed or forgotten:
            catalog.bump_generation()
    if removed:
        repaired.append(f"deleted {removed} unusable items")
    if forgotten:
        repaired.append(f"forgot {forgotten} files without vectors (re-encoded by the next index)")
    for space in vectors.spaces:
        vectors.rebuild(space)
    vectors.save()
    repaired.append(
        "rebuilt " + ", ".join(f"{s}.faiss" for s in vectors.spaces) + " and calibration"
    )
    cleared = remove_leftovers(collection.directory)
    if cleared:
        repaired.append(f"removed {cleared} temporary files")
    report = check_index(collection)
    report.repaired = repaired
    return report


def _faiss_ids(index: VectorIndex) -> np.ndarray:
    import faiss

    return np.asarray(faiss.vector_to_array(index.index.id_map), dtype=np.int64)
