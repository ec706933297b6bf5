"""Which files `xmodal serve` may hand out: only indexed ones, and never through a link that
leads out of the folders that were indexed.

A request names a path. It is served only when

1. that exact string is a file in the catalog (no normalising: `..`, `//`, relative paths
   and NUL never match a stored absolute path);
2. its real path (every symlink resolved) is the path itself, another indexed path, or lies
   inside the real path of a folder given to `xmodal index` (so a root that is itself a
   link, e.g. ~/Pictures on another disk, works, but a folder swapped for a link to /etc
   after indexing does not);
3. the real path opens without following a link (O_NOFOLLOW: nothing can be swapped in
   between the check and the open) and is a regular file.

The open file descriptor is what gets served.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass

from xmodal_cli.errors import XmodalError
from xmodal_cli.scan import is_under
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import FileRow

ROOTS_KEY = "roots"  # meta: JSON list of the folders and files `xmodal index` was given


class NotServed(XmodalError):
    """The path is not an indexed file that may be served (HTTP 404)."""


@dataclass
class OpenFile:
    """An indexed file opened for serving; close `fd` when done."""

    row: FileRow
    fd: int
    size: int
    mtime: float


def indexed_roots(catalog: Catalog) -> list[str]:
    """The folders and files `xmodal index` was given, in the order first given."""
    try:
        found = json.loads(catalog.get_meta(ROOTS_KEY) or "[]")
    except ValueError:
        return []
    return [str(p) for p in found] if isinstance(found, list) else []


def remembered(catalog: Catalog, paths: list[str]) -> str:
    """The meta value holding the roots known so far plus `paths` (absolute)."""
    roots = indexed_roots(catalog)
    roots += [p for p in dict.fromkeys(os.path.abspath(p) for p in paths) if p not in roots]
    return json.dumps(roots)


def indexed_file(catalog: Catalog, path: str) -> FileRow:
    """The catalog row of `path`, exactly as stored; NotServed otherwise."""
    row = catalog.file_by_path(path) if path.startswith("/") and "\0" not in path else None
    if row is None:
        raise NotServed(
            "not an indexed file", "only files in the index are served; search for it first"
        )
    return row


def open_indexed(catalog: Catalog, path: str) -> OpenFile:
    """Open an indexed file for serving under the rules in the module docstring."""
    row = indexed_file(catalog, path)
    real = os.path.realpath(path)
    if real != path and catalog.file_by_path(real) is None:
        inside = [os.path.realpath(root) for root in indexed_roots(catalog)]
        if not any(is_under(real, root) for root in inside):
            raise NotServed(
                "this indexed path now leads out of the indexed folders (a link)",
                "re-index the folder: `xmodal index` drops what is no longer there",
            )
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise NotServed(f"cannot open the file: {exc.strerror}", "it may have moved") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotServed("not a regular file", "only indexed files are served")
    return OpenFile(row, fd, st.st_size, st.st_mtime)
