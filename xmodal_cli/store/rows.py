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
class Clause:
    """A condition on `files` and `items` for the catalog's queries (store/facets.py)."""

    sql: str = "1"
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class NewItem:
    """An item to insert: its space, position in the file, snippet and unit vector."""

    space: str
    position: int
    snippet: str | None
    vector: np.ndarray


# Items re-encoded by an in-place upgrade wait under this prefix of their space's name, where
# no search looks, until the switch to the new models commits (see upgrade.py).
STAGED = "next:"


def profile_record(name: str, spaces: dict[str, int], models: dict[str, str]) -> dict[str, Any]:
    """What an index records about the profile that encodes it (meta `profile`)."""
    return {"name": name, "spaces": spaces, "models": models}


def profile_change(have: dict[str, Any] | None, wanted: dict[str, Any]) -> str:
    """What recording the `wanted` profile over the index's means: 'same'; 'record' (none
    yet, or it extends the recorded one: a newer xmodal added a space, the stored vectors are
    still valid, so the index grows); or 'upgrade' (other models built it: re-encode)."""
    if have is None:
        return "record"
    if have == wanted:
        return "same"
    old_spaces, old_models = have.get("spaces", {}), have.get("models", {})
    if (
        have.get("name") == wanted["name"]
        and all(wanted["spaces"].get(k) == v for k, v in old_spaces.items())
        and all(wanted["models"].get(k) == v for k, v in old_models.items())
    ):
        return "record"
    return "upgrade"


def profile_needs_recording(have: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether `wanted` must be recorded over `have`; raises if other models built it."""
    change = profile_change(have, wanted)
    if change == "upgrade":
        assert have is not None
        raise XmodalError(
            f"this index was built with profile {have.get('name')!r} "
            f"({', '.join(f'{k}: {v}' for k, v in have.get('models', {}).items())}), "
            "not the models this xmodal uses",
            "run `xmodal index` on its folders to upgrade it in place",
        )
    return change == "record"
