"""An index directory opened for use: catalog, vector store and the profile that filled them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmodal_cli.errors import XmodalError
from xmodal_cli.models import Profile, load_profile, registry
from xmodal_cli.store.catalog import DB_NAME, Catalog
from xmodal_cli.store.lock import IndexLock
from xmodal_cli.store.vectors import VectorStore


@dataclass
class Collection:
    """Everything one command needs; build with `open_collection`, close when done."""

    directory: Path
    catalog: Catalog
    vectors: VectorStore
    profile: Profile | None  # None when opened with models=False
    lock: IndexLock | None = None

    @property
    def encoders(self) -> Profile:
        """The profile, for commands that encode (they open with models=True)."""
        assert self.profile is not None, "this collection was opened without its models"
        return self.profile

    def close(self) -> None:
        self.catalog.close(checkpoint=self.lock is not None)
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_collection(
    directory: Path,
    *,
    create: bool = False,
    write: bool = False,
    profile: Profile | None = None,
    device: str = "cpu",
    model_path: Path | None = None,
    models: bool = True,
) -> Collection:
    """Open the index in `directory`, checking it was built by the same models.

    Without an explicit profile the one recorded in the index is used, so `search` never
    needs to be told which models built it. `write` takes the directory's writer lock
    (another writer fails fast with its pid) and clears temp files a killed run left.
    With `models=False` (status, check, remove: nothing is encoded) the spaces recorded in
    the index are used and no model file needs to be on the machine.
    """
    lock = None
    if write:
        if create:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if directory.is_dir():
            lock = IndexLock(directory).acquire()
            remove_leftovers(directory)
    try:
        catalog = Catalog.open(directory, create=create)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    spaces: dict[str, int] = {}
    try:
        recorded = catalog.profile_info()
        if profile is None and not models and recorded:
            spaces = dict(recorded["spaces"])
        elif profile is None:
            name = recorded["name"] if recorded else "lite"
            if name not in registry.PROFILES:
                raise XmodalError(
                    f"this index was built with model profile {name!r}, unknown to this xmodal",
                    "upgrade xmodal, or use another --index-dir",
                )
            profile = load_profile(name, device=device, model_path=model_path)
        if profile is not None:
            catalog.bind_profile(profile.name, profile.spaces, profile.model_ids)
            spaces = profile.spaces
    except BaseException:
        catalog.close()
        if lock is not None:
            lock.release()
        raise
    vectors = VectorStore(directory, catalog, spaces, writable=write)
    return Collection(directory, catalog, vectors, profile, lock)


def recorded_profile(directory: Path) -> str | None:
    """The profile an existing index was built with; None for a new index."""
    if not (directory / DB_NAME).exists():
        return None
    catalog = Catalog.open(directory, create=False)
    try:
        info = catalog.profile_info()
    finally:
        catalog.close()
    return str(info["name"]) if info else None


def leftovers(directory: Path) -> list[Path]:
    """Temp files (`.NAME-XXXX`) that a killed save left; SQLite's own files are not ours."""
    return sorted(
        p for p in directory.iterdir() if p.name.startswith(".") and "-" in p.name and p.is_file()
    )


def remove_leftovers(directory: Path) -> int:
    """Delete leftover temp files; only safe while holding the writer lock."""
    found = leftovers(directory)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def describe(collection: Collection) -> dict[str, Any]:
    """Facts for `xmodal status`: location, models, counts, size, last update."""
    catalog = collection.catalog
    info = catalog.profile_info() or {}
    last = catalog.conn.execute("SELECT MAX(indexed_at) FROM files").fetchone()[0]
    size = sum(
        p.stat().st_size
        for p in collection.directory.iterdir()
        if p.is_file() and not p.name.startswith(".")
    )
    space_counts = catalog.space_counts()
    return {
        "index_dir": str(collection.directory),
        "profile": info.get("name", "lite"),
        "models": info.get("models", {}),
        "dims": info.get("spaces", collection.vectors.spaces),
        "vectors": {space: space_counts.get(space, 0) for space in collection.vectors.spaces},
        "counts": catalog.counts(),
        "files": sum(c["files"] for c in catalog.counts().values()),
        "size_bytes": size,
        "schema_version": int(catalog.get_meta("schema_version") or 0),
        "last_indexed": (
            dt.datetime.fromtimestamp(last).astimezone().isoformat(timespec="seconds")
            if last
            else None
        ),
    }
