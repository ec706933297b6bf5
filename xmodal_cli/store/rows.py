"""The catalog's records: what it returns about files and items, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError


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


def profile_needs_recording(have: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether the `wanted` profile must be recorded over the one the index has: none yet, or
    it extends the recorded one (a newer xmodal added a space: the vectors stored are still
    valid, so the index grows instead of being refused). Raises if other models built it."""
    if have is None:
        return True
    if have == wanted:
        return False
    old_spaces, old_models = have.get("spaces", {}), have.get("models", {})
    if (
        have.get("name") == wanted["name"]
        and all(wanted["spaces"].get(k) == v for k, v in old_spaces.items())
        and all(wanted["models"].get(k) == v for k, v in old_models.items())
    ):
        return True
    raise XmodalError(
        f"this index was built with profile {have.get('name')!r} "
        f"({', '.join(f'{k}: {v}' for k, v in old_models.items())}), "
        "not the models this xmodal uses",
        "use another --index-dir, or delete the index folder and index again",
    )
