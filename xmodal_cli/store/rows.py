"""The catalog's records: what it returns about files and items, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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
