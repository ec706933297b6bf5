"""Plan an indexing run: compare the folders with the catalog.

Files whose size and mtime match are unchanged; a file whose content hash matches a vanished
file of the same type is a move (it keeps its vectors); a same-path file whose timestamp
alone moved is touched, not re-encoded; everything else under the roots is new or changed,
and known files no longer found under the roots are deletions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xmodal_cli.errors import XmodalError
from xmodal_cli.media import DecodeError, open_regular
from xmodal_cli.scan import FileRecord, is_under, scan_tree
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import FileRow

_HASH_SAMPLE = 256 * 1024


@dataclass(frozen=True)
class ScanOptions:
    """Which files under the roots take part."""

    exclude: tuple[str, ...] = ()
    include_hidden: bool = False
    follow_links: bool = False


@dataclass
class Plan:
    """What a run must do; `stale` maps a changed file's path to the row it replaces."""

    to_encode: list[FileRecord]
    unchanged: int
    moves: list[tuple[FileRow, FileRecord]]  # also same-path files whose mtime alone changed
    deletions: list[FileRow]
    stale: dict[str, FileRow] = field(default_factory=dict)

    @property
    def renamed(self) -> int:
        return sum(row.path != record.path for row, record in self.moves)


def content_hash(path: str, size: int) -> str:
    """Digest of size + head/middle/tail samples: cheap on big files, enough to spot renames."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    # Never a plain open(): a path swapped for a FIFO after the scan would block for ever.
    with open_regular(path) as handle:
        if size <= 3 * _HASH_SAMPLE:
            digest.update(handle.read())
        else:
            for offset in (0, size // 2, size - _HASH_SAMPLE):
                handle.seek(offset)
                digest.update(handle.read(_HASH_SAMPLE))
    return digest.hexdigest()


def check_roots(roots: Iterable[Path]) -> list[Path]:
    """Absolute roots; a missing one is an error before any work starts."""
    checked = []
    for root in roots:
        absolute = Path(os.path.abspath(root.expanduser()))
        if not absolute.exists():
            raise XmodalError(
                f"path not found: {root}", "check the spelling, or quote paths with spaces"
            )
        checked.append(absolute)
    return checked


def plan_run(
    roots: list[Path],
    catalog: Catalog,
    options: ScanOptions,
    on_skip: Callable[[str, str], None],
) -> Plan:
    """Compare the tree with the catalog: what to encode, keep, move and prune."""
    known = catalog.files()
    root_strs = [str(r) for r in roots]
    seen: set[str] = set()
    to_encode: list[FileRecord] = []
    stale: dict[str, FileRow] = {}
    touched: list[tuple[FileRow, FileRecord]] = []
    unchanged = 0
    for record in scan_tree(
        roots,
        exclude=options.exclude,
        include_hidden=options.include_hidden,
        follow_links=options.follow_links,
        on_skip=on_skip,
    ):
        seen.add(record.path)
        row = known.get(record.path)
        if row is not None and row.size == record.size and row.mtime_ns == record.mtime_ns:
            unchanged += 1
            continue
        if row is not None:
            if row.size == record.size and _same_content(record, row):
                touched.append((row, record))  # only the timestamp moved: keep the vectors
                continue
            stale[record.path] = row
        to_encode.append(record)
    missing = [
        row
        for path, row in known.items()
        if path not in seen and any(is_under(path, r) for r in root_strs)
    ]
    moves: list[tuple[FileRow, FileRecord]] = []
    if missing:
        by_hash: dict[tuple[str, str], list[FileRow]] = {}
        for row in missing:
            by_hash.setdefault((row.modality, row.hash), []).append(row)
        remaining = []
        for record in to_encode:
            if record.path in stale:
                remaining.append(record)
                continue
            try:
                digest = content_hash(record.path, record.size)
            except (OSError, DecodeError):
                remaining.append(record)  # decode will report it
                continue
            candidates = by_hash.get((record.modality, digest))
            if candidates:
                moves.append((candidates.pop(), record))
            else:
                remaining.append(record)
        to_encode = remaining
        moved_ids = {row.id for row, _ in moves}
        missing = [row for row in missing if row.id not in moved_ids]
    return Plan(to_encode, unchanged + len(touched), moves + touched, missing, stale)


def _same_content(record: FileRecord, row: FileRow) -> bool:
    try:
        return content_hash(record.path, record.size) == row.hash
    except (OSError, DecodeError):
        return False
