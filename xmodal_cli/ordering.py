"""`--sort`: the order in which the files that relevance chose are shown.

Sorting never changes which files are shown, only their order: the search first picks the
`--limit` most relevant files (above --min-score), then these are ordered. Each result keeps
its relevance `rank`, so a date-sorted list still says which file matched best.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from xmodal_cli.errors import UsageError

if TYPE_CHECKING:
    from xmodal_cli.search import Result

SORT_KEYS = ("relevance", "date", "name", "size")


def check_sort(by: str) -> str:
    """`by`, if it is a known order (else a usage error)."""
    if by not in SORT_KEYS:
        raise UsageError(f"unknown sort order {by!r}", f"use one of: {', '.join(SORT_KEYS)}")
    return by


def sort_results(rows: list[Result], by: str) -> list[Result]:
    """Newest first (date), A to Z (name), largest first (size), or as found (relevance)."""
    keys: dict[str, Callable[[Result], tuple[float | str, ...]]] = {
        "date": lambda r: (-_date(r), r.rank),
        "name": lambda r: (os.path.basename(r.path).casefold(), r.path, r.rank),
        "size": lambda r: (-_size(r.path), r.rank),
    }
    check_sort(by)
    return rows if by == "relevance" else sorted(rows, key=keys[by])


def _date(row: Result) -> float:
    """When a photo was taken (EXIF, a local time) or a recording or video made (its tags),
    else when the file was last changed."""
    taken = row.info.get("taken") or row.info.get("recorded")
    if isinstance(taken, str):
        try:
            return dt.datetime.fromisoformat(taken.strip()).timestamp()
        except ValueError:
            pass  # a camera with a broken clock: fall back to the file's time
    try:
        return os.stat(row.path).st_mtime
    except OSError:
        return float("-inf")  # gone since it was indexed: last


def _size(path: str) -> float:
    try:
        return float(os.stat(path).st_size)
    except OSError:
        return -1.0
