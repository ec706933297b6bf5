"""FAISS index per space: exact inner product over unit vectors, ids = catalog item ids.

Each `SPACE.faiss` has a `SPACE.faiss.json` sidecar naming the catalog generation it
reflects. The FAISS file is written first (temp file + os.replace), then the sidecar, so a
crash between the two leaves a mismatch that triggers a rebuild from SQLite, never a lie.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.store import calibration as calibration_store
from xmodal_cli.store.atomic import write_atomically
from xmodal_cli.store.calibration import Calibration
from xmodal_cli.store.catalog import Catalog


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """One space's vectors: IndexIDMap2 over IndexFlatIP (exact, removable ids)."""

    def __init__(self, dim: int, index: Any = None, *, mapped: bool = False) -> None:
        faiss = _faiss()
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.mapped = mapped  # vectors live in a read-only file mapping

    def _own(self) -> None:
        """Copy a memory-mapped index into memory before its first change."""
        if not self.mapped:
            return
        faiss = _faiss()
        owned = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        if self.ntotal:
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            owned.add_with_ids(self.index.index.reconstruct_n(0, self.ntotal), ids)
        self.index, self.mapped = owned, False

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._own()
        data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self.index.add_with_ids(data, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> None:
        if ids:
            self._own()
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) for one query vector, best first, FAISS's -1 padding dropped."""
        if self.ntotal == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        faiss = _faiss()
        # One query is scanned by one thread anyway; OpenMP's idle spinning only costs time.
        faiss.omp_set_num_threads(1)
        data = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim).copy()
        faiss.normalize_L2(data)
        scores, ids = self.index.search(data, max(1, min(k, self.ntotal)))
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, path: Path, generation: int) -> None:
        faiss = _faiss()
        write_atomically(path, lambda tmp: faiss.write_index(self.index, tmp))
        _write_json(
            _sidecar(path), {"generation": generation, "count": self.ntotal, "dim": self.dim}
        )

    @classmethod
    def load(
        cls, path: Path, dim: int, generation: int, *, mapped: bool = False
    ) -> VectorIndex | None:
        """The saved index if it reflects `generation`; None if missing, stale or unreadable.

        `mapped` memory-maps the vectors instead of reading them: a cold search on a 300k-item
        index opens in 0.06 s instead of 0.7 s. Such an index must never be modified.
        """
        try:
            meta = json.loads(_sidecar(path).read_text())
            if meta.get("generation") != generation or meta.get("dim") != dim:
                return None
            faiss = _faiss()
            flags = faiss.IO_FLAG_MMAP_IFC if mapped else 0
            index = faiss.read_index(str(path), flags)
        except (OSError, ValueError, RuntimeError):
            return None
        if index.ntotal != meta.get("count") or index.d != dim:
            return None
        return cls(dim, index, mapped=mapped)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data)))


class VectorStore:
    """All spaces of one index directory, loaded or rebuilt lazily from the catalog."""

    def __init__(
        self, directory: Path, catalog: Catalog, spaces: dict[str, int], *, writable: bool = True
    ) -> None:
        self.directory = directory
        self.writable = writable
        self.catalog = catalog
        self.spaces = spaces
        self._loaded: dict[str, VectorIndex] = {}
        self._calibration: Calibration | None = None
        self.rebuilt: list[str] = []

    def path(self, space: str) -> Path:
        return self.directory / f"{space}.faiss"

    def get(self, space: str) -> VectorIndex:
        if space not in self._loaded:
            dim = self.spaces[space]
            index = VectorIndex.load(
                self.path(space), dim, self.catalog.generation, mapped=not self.writable
            )
            if index is None:
                index = self.rebuild(space)
            self._loaded[space] = index
        return self._loaded[space]

    def loaded_spaces(self) -> list[str]:
        return list(self._loaded)

    def is_current(self, space: str) -> bool:
        """True if the saved file claims the catalog's current generation."""
        try:
            meta = json.loads(_sidecar(self.path(space)).read_text())
        except (OSError, ValueError):
            return False
        return bool(meta.get("generation") == self.catalog.generation and self.path(space).exists())

    def rebuild(self, space: str) -> VectorIndex:
        """A fresh index from the catalog's BLOBs (the source of truth)."""
        dim = self.spaces[space]
        index = VectorIndex(dim)
        for ids, vectors in self.catalog.iter_vectors(space, dim):
            index.add(ids, vectors)
        self._loaded[space] = index
        self.rebuilt.append(space)
        return index

    def save(self) -> None:
        """Write every loaded space, and fresh score calibration, for the current generation."""
        generation = self.catalog.generation
        for space, index in self._loaded.items():
            index.save(self.path(space), generation)
        self._calibration = calibration_store.compute(self.catalog, self.spaces)
        calibration_store.save(self._calibration, self.calibration_path)

    @property
    def calibration_path(self) -> Path:
        return self.directory / "calibration.npz"

    def calibration(self) -> Calibration:
        """Score calibration for the current generation (recomputed if stale)."""
        generation = self.catalog.generation
        if self._calibration is None or self._calibration.generation != generation:
            loaded = calibration_store.load(self.calibration_path, generation)
            if loaded is None:
                loaded = calibration_store.compute(self.catalog, self.spaces)
                # A read-only index still answers; it just recomputes next time.
                with contextlib.suppress(OSError):
                    calibration_store.save(loaded, self.calibration_path)
            self._calibration = loaded
        return self._calibration

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.faiss") if p.exists())
