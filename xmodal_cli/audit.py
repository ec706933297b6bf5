"""`xmodal check`: verify that an index tells the truth, and repair what is derived.

SQLite is the source of truth. Problems are things that make answers wrong or lose data
(a corrupt database, items without a usable vector, a FAISS file that claims to be current
but holds other ids, a lexical index that lacks a file's words or holds a gone file's);
repair deletes unusable rows and rebuilds every derived file and the lexical index. Notes
are true but harmless facts (a FAISS file older than the catalog is rebuilt on next use,
files that no longer exist on disk are pruned by the next `index` of their folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmodal_cli import adapter
from xmodal_cli.models import SPACE_TEXT
from xmodal_cli.store.atomic import leftovers, remove_leftovers
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.schema import SCHEMA_VERSION
from xmodal_cli.store.vectors import VectorStore

_LISTED = 10  # paths listed per finding; the count is always complete


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


def check_index(vectors: VectorStore) -> Report:
    """Read-only verification of schema, rows, vectors, FAISS files and files on disk."""
    catalog = vectors.catalog
    report = Report()
    integrity = catalog.integrity()
    if integrity != "ok":
        report.problems.append(Finding("database-corrupt", f"SQLite reports: {integrity}"))
    version = catalog.user_version()
    if version != SCHEMA_VERSION or catalog.get_meta("schema_version") != str(SCHEMA_VERSION):
        report.problems.append(
            Finding("schema", f"schema version {version}, expected {SCHEMA_VERSION}")
        )
    _check_rows(catalog, vectors.spaces, report)
    _check_words(catalog, vectors.spaces, report)
    counts = catalog.space_counts()
    for space in vectors.spaces:
        saved = vectors.saved(space)
        if saved is None:
            if counts.get(space, 0):
                report.notes.append(
                    Finding(
                        "faiss-stale",
                        f"{space}.faiss is older than the catalog; rebuilt on next use",
                    )
                )
            continue
        faiss_ids = set(saved.ids().tolist())
        sql_ids = set(catalog.item_ids(space).tolist())
        if faiss_ids != sql_ids:
            report.problems.append(
                Finding(
                    "faiss-mismatch",
                    f"{space}.faiss disagrees with the catalog "
                    f"({len(faiss_ids - sql_ids)} extra, {len(sql_ids - faiss_ids)} missing ids)",
                )
            )
    _check_disk(catalog, vectors.directory, report)
    _check_adapter(vectors.directory, report)
    report.checked = {
        "files": len(catalog.files()),
        "items": sum(counts.values()),
        **{f"{space}_vectors": counts.get(space, 0) for space in vectors.spaces},
    }
    return report


def _check_rows(catalog: Catalog, spaces: dict[str, int], report: Report) -> None:
    """Items that cannot be searched, and files that have none."""
    for space, dim in spaces.items():
        bad = catalog.count_bad_vectors(space, dim)
        if bad:
            report.problems.append(
                Finding("bad-vector", f"{space}: items without a usable vector", bad)
            )
    unknown = catalog.count_items_outside(spaces)
    if unknown:
        report.problems.append(
            Finding("unknown-space", "items in a space this profile lacks", unknown)
        )
    orphans = catalog.count_orphan_items()
    if orphans:
        report.problems.append(Finding("orphan-items", "items whose file row is gone", orphans))
    empty = catalog.paths_without_items()
    if empty:
        report.problems.append(
            Finding("file-without-items", "files with no vectors", len(empty), empty[:_LISTED])
        )


def _check_words(catalog: Catalog, spaces: dict[str, int], report: Report) -> None:
    """The lexical index (store/catalog_lexical.py): FTS5's integrity check, and a row for
    every file's name and every passage's words, none for a file that is gone."""
    found = catalog.words.audit(_text_space(catalog, spaces), _LISTED)
    if found.fts_error is not None:
        report.problems.append(
            Finding("lexical-corrupt", f"the lexical index is damaged ({found.fts_error})")
        )
    if found.fts_unchecked is not None:
        report.notes.append(
            Finding("lexical-unchecked", f"lexical index not verified ({found.fts_unchecked})")
        )
    if found.files_without_name:
        report.problems.append(
            Finding(
                "lexical-missing-name",
                "files whose name the lexical index lacks",
                len(found.files_without_name),
                found.files_without_name[:_LISTED],
            )
        )
    if found.items_without_row:
        report.problems.append(
            Finding(
                "lexical-missing-words",
                "passages whose words the lexical index lacks",
                found.items_without_row,
                found.item_examples,
            )
        )
    if found.orphan_rows:
        report.problems.append(
            Finding("lexical-orphans", "lexical rows whose file is gone", found.orphan_rows)
        )


def _text_space(catalog: Catalog, spaces: dict[str, int]) -> str:
    """The space passages are encoded in: a hub profile's own (clip, siglip), else `text`."""
    name = (catalog.profile_info() or {}).get("name")
    return name if isinstance(name, str) and name in spaces else SPACE_TEXT


def _check_disk(catalog: Catalog, directory: Path, report: Report) -> None:
    """Notes on what lies outside the catalog: vanished files, temp files of killed runs."""
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
    temp = leftovers(directory)
    if temp:
        report.notes.append(
            Finding(
                "temp-files",
                "temporary files left by an interrupted run",
                len(temp),
                [p.name for p in temp[:_LISTED]],
            )
        )


def _check_adapter(directory: Path, report: Report) -> None:
    """The query adapter of `xmodal tune`: a file search cannot read is a problem (search
    ignores it; repair removes it, `tune` makes a new one)."""
    try:
        adapter.load(directory)
    except adapter.AdapterError as exc:
        report.problems.append(Finding("adapter-corrupt", f"{exc}; search ignores it"))


def repair_index(vectors: VectorStore) -> Report:
    """Delete unusable rows, rebuild FAISS files and calibration, clear temp files; re-check.

    Needs the writer lock (a store opened writable).
    """
    catalog = vectors.catalog
    repaired = []
    with catalog.transaction():
        removed, forgotten = catalog.delete_unusable(vectors.spaces)
        if removed or forgotten:
            catalog.bump_generation()
        # After: forgotten files' words go with them (triggers), then the rest is restored.
        restored = catalog.words.restore(_text_space(catalog, vectors.spaces))
    if removed:
        repaired.append(f"deleted {removed} unusable items")
    if forgotten:
        repaired.append(f"forgot {forgotten} files without vectors (re-encoded by the next index)")
    vectors.rebuild()
    repaired.append(
        "rebuilt " + ", ".join(f"{s}.faiss" for s in vectors.spaces) + " and calibration"
    )
    repaired.append(f"rebuilt the lexical index ({restored} rows restored or dropped)")
    try:
        adapter.load(vectors.directory)
    except adapter.AdapterError:
        adapter.remove(vectors.directory)
        repaired.append(f"removed the unreadable {adapter.FILE_NAME} (`xmodal tune` makes one)")
    cleared = remove_leftovers(vectors.directory)
    if cleared:
        repaired.append(f"removed {cleared} temporary files")
    report = check_index(vectors)
    report.repaired = repaired
    return report
