"""All spaces of an index folder, and the one protocol that keeps their files equal to SQLite.

Writers change vectors only through `VectorStore`:

    with store.writing():                  # at the end: save the files if they equal SQLite
        with store.transaction() as tx:    # one SQLite commit, then mirrored into FAISS
            tx.delete_files(ids)
            tx.add_items(tx.add_file(...), items)

so no caller has to know the rules this module enforces: every space is loaded (and caught
up with SQLite) before the first commit, each committed change is mirrored into FAISS, and
files are saved only when every space holds exactly what SQLite holds (a Ctrl-C can land
between a commit and its mirror). A long run saves at checkpoints, and a save is where a
space that outgrew exact search gets its approximate index (store/vector_index.py).

Readers (`writable=False`) never write and never train: they memory-map the last saved
file, whatever generation it reflects, and scan exactly the rows committed after it (ids
above the file's `max_id`); rows deleted since are dropped because their catalog rows are
gone. So searching during a long indexing run stays fast and sees every committed file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.store import calibration as calibration_store
from xmodal_cli.store.calibration import Calibration
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import NewItem
from xmodal_cli.store.vector_index import (
    APPROXIMATE_FROM,
    TRAIN_SAMPLE,
    Layout,
    VectorIndex,
    build_approximate,
    retune,
    wanted_kind,
)

# A long run saves after this many new items, or 25 % growth: at a million items each save
# rewrites every FAISS file, and readers meanwhile scan the newer rows exactly.
CHECKPOINT_ITEMS = 20_000
TUNING_SAMPLE = 300  # item vectors that stand in for queries when no query encoder is given

# space -> typical query vectors for it, and what they are ('queries' or 'items')
TuningQueries = Callable[[str], tuple[np.ndarray, str]]


class Transaction:
    """The catalog writes of one commit, recording what they do to each space's vectors."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.removed: dict[str, list[int]] = {}
        self.added: dict[str, tuple[list[int], list[np.ndarray]]] = {}

    def add_file(
        self, path: str, modality: str, size: int, mtime_ns: int, digest: str, info: dict[str, Any]
    ) -> int:
        return self._catalog.add_file(path, modality, size, mtime_ns, digest, info)

    def move_file(self, file_id: int, path: str, size: int, mtime_ns: int) -> None:
        self._catalog.move_file(file_id, path, size, mtime_ns)

    def delete_files(self, file_ids: Iterable[int]) -> None:
        for space, ids in self._catalog.delete_files(file_ids).items():
            self.removed.setdefault(space, []).extend(ids)

    def add_items(self, file_id: int, items: list[NewItem]) -> list[int]:
        ids = self._catalog.add_items(file_id, items)
        for item_id, item in zip(ids, items, strict=True):
            slot = self.added.setdefault(item.space, ([], []))
            slot[0].append(item_id)
            slot[1].append(item.vector)
        return ids

    def add_words(self, file_id: int, entries: list[tuple[str, int, str]]) -> None:
        """The file's (kind, position, text) rows for lexical search (its path is automatic)."""
        self._catalog.words.add(file_id, entries)

    @property
    def items_added(self) -> int:
        return sum(len(ids) for ids, _ in self.added.values())


class VectorStore:
    """All spaces of one index directory: read lazily, written only through the protocol."""

    def __init__(
        self,
        directory: Path,
        catalog: Catalog,
        spaces: dict[str, int],
        *,
        writable: bool = True,
        approximate_from: int = APPROXIMATE_FROM,
        checkpoint_items: int = CHECKPOINT_ITEMS,
        tuning_queries: TuningQueries | None = None,
    ) -> None:
        self.directory = directory
        self.writable = writable
        self.catalog = catalog
        self.spaces = spaces
        self.approximate_from = approximate_from
        self.checkpoint_items = checkpoint_items
        self.tuning_queries = tuning_queries
        self._loaded: dict[str, VectorIndex] = {}
        self._newer: dict[str, VectorIndex] = {}  # a reader's exact scan of unsaved rows
        self._calibration: Calibration | None = None
        self._writing = False
        self._since_save = 0

    def path(self, space: str) -> Path:
        return self.directory / f"{space}.faiss"

    @property
    def calibration_path(self) -> Path:
        return self.directory / "calibration.npz"

    # -- reading -------------------------------------------------------------------------
    def index(self, space: str) -> VectorIndex:
        """The space's main index (for a reader: as last saved, without newer rows)."""
        if space not in self._loaded:
            self._loaded[space] = self._open(space)
        return self._loaded[space]

    def search(
        self, space: str, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first: the main index plus unsaved rows, exact scores."""
        _one_blas_thread()
        main = self.index(space)
        wide = k * main.layout.rerank if main.approximate else k
        scores, ids = main.search(query, wide, allowed=allowed)
        newer = self._newer.get(space)
        if newer is not None and newer.ntotal:
            more_scores, more_ids = newer.search(query, k, allowed=allowed)
            scores, ids = np.concatenate([scores, more_scores]), np.concatenate([ids, more_ids])
        if main.approximate and len(ids):
            # Quantised scores only choose candidates; the catalog's vectors rank them.
            found, vectors = self.catalog.vectors_by_id(space, ids.tolist(), self.spaces[space])
            unit = query / max(float(np.linalg.norm(query)), 1e-12)
            scores, ids = (vectors @ unit.astype(np.float32)), found
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order], ids[order]

    def size(self, space: str) -> int:
        """Vectors this space holds now (saved or not)."""
        newer = self._newer.get(space)
        return self.index(space).ntotal + (newer.ntotal if newer is not None else 0)

    def saved(self, space: str) -> VectorIndex | None:
        """The space's file as saved, if it claims the catalog's generation (for `check`)."""
        return VectorIndex.load(self.path(space), self.spaces[space], self.catalog.generation)

    def layouts(self) -> dict[str, dict[str, Any]]:
        """Per space, how its saved index is built (for `status`); nothing is loaded."""
        out: dict[str, dict[str, Any]] = {}
        for space, dim in self.spaces.items():
            saved = VectorIndex.load(self.path(space), dim, None, mapped=True)
            layout = saved.layout if saved is not None else Layout()
            out[space] = {
                "index": layout.kind,
                "saved_vectors": saved.ntotal if saved is not None else 0,
                "current": saved is not None and saved.generation == self.catalog.generation,
                **(
                    {
                        "nlist": layout.nlist,
                        "nprobe": layout.nprobe,
                        "expected_recall_at_10": layout.recall_at_10,
                        "tuned_on": layout.tuned_on,
                    }
                    if layout.kind == "ivf"
                    else {}
                ),
            }
        return out

    def calibration(self) -> Calibration:
        """Score calibration: the current generation's for a writer; for a reader the last
        saved one, even if a run has committed since (statistics of a large index barely
        move, and computing them costs seconds at a million items). Computed only if none."""
        generation = None if not self.writable else self.catalog.generation
        if self._calibration is None or (
            generation is not None and self._calibration.generation != generation
        ):
            loaded = calibration_store.load(self.calibration_path, generation)
            self._calibration = loaded or calibration_store.compute(self.catalog, self.spaces)
        return self._calibration

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[VectorStore]:
        """A run of transactions; at its end (Ctrl-C included) save what is consistent."""
        self._require_writer()
        self._writing = True
        try:
            self.purge_words()  # one a killed run left pending
            yield self
        finally:
            self._writing = False
            self.save_if_consistent()
            self.purge_words()  # after: a Ctrl-C here leaves it for the next writer

    def purge_words(self) -> None:
        """Merge the lexical index after deletions, so removed files' words leave the disk."""
        if self.catalog.words.purge_pending():
            with self.catalog.transaction():
                self.catalog.words.purge()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One SQLite commit with a generation bump, mirrored into FAISS once committed."""
        self._require_writer()
        for space in self.spaces:
            self.index(space)  # before the commit: see the module docstring
        tx = Transaction(self.catalog)
        with self.catalog.transaction():
            yield tx
            self.catalog.bump_generation()
        for space, ids in tx.removed.items():
            if space in self.spaces:
                self._loaded[space].remove(ids)
        for space, (ids, vectors) in tx.added.items():
            self._loaded[space].add(np.asarray(ids, dtype=np.int64), np.stack(vectors))
        self._since_save += tx.items_added
        total = sum(index.ntotal for index in self._loaded.values())
        if self._writing and self._since_save >= max(self.checkpoint_items, total // 4):
            self.save_if_consistent()  # a checkpoint: readers need not scan a long tail

    def save_if_consistent(self) -> bool:
        """Save every space if each holds exactly what SQLite holds; otherwise leave the files
        stale, to be caught up on next use. An unchanged index writes nothing."""
        counts = self.catalog.space_counts()
        if any(index.ntotal != counts.get(space, 0) for space, index in self._loaded.items()):
            return False
        if not self._loaded and all(self._is_current(space) for space in self.spaces):
            return False
        self._save()
        return True

    def rebuild(self) -> dict[str, int]:
        """Recreate every space and the calibration from SQLite and save them; vectors per space."""
        self._require_writer()
        self.purge_words()
        for space in self.spaces:
            self._loaded[space] = self._build(space)
        self._save()
        return {space: index.ntotal for space, index in self._loaded.items()}

    def _save(self) -> None:
        """Write every space for this generation, switching a space between exact and
        approximate search (or retraining it) when its size asks for it; then calibration."""
        generation = self.catalog.generation
        for space in self.spaces:
            index = self.index(space)
            wanted = wanted_kind(index.ntotal, index.layout, self.approximate_from)
            if wanted == "retune":
                index.layout = retune(index, *self._tuning(space))
            elif wanted != index.layout.kind:
                index = self._loaded[space] = self._build(space)
            index.save(self.path(space), generation)
        self._since_save = 0
        self._calibration = calibration_store.compute(self.catalog, self.spaces)
        calibration_store.save(self._calibration, self.calibration_path)

    def _open(self, space: str) -> VectorIndex:
        dim = self.spaces[space]
        if not self.writable:
            saved = VectorIndex.load(self.path(space), dim, None, mapped=True)
            if saved is None:
                return self._exact(space, after_id=-1)  # never saved: scan it all, in memory
            if saved.generation != self.catalog.generation:
                self._newer[space] = self._exact(space, after_id=saved.max_id)
            return saved
        saved = VectorIndex.load(self.path(space), dim, None)
        if saved is None:
            return self._build(space)
        if saved.generation != self.catalog.generation:
            # Killed after a checkpoint: catch up instead of rebuilding (no retraining).
            have, want = saved.ids(), self.catalog.item_ids(space)
            saved.remove(np.setdiff1d(have, want, assume_unique=True).tolist())
            missing = np.setdiff1d(want, have, assume_unique=True).tolist()
            for start in range(0, len(missing), 20_000):
                ids, vectors = self.catalog.vectors_by_id(
                    space, missing[start : start + 20_000], dim
                )
                saved.add(ids, vectors)
        return saved

    def _build(self, space: str) -> VectorIndex:
        """A fresh index of the space from SQLite: exact, or approximate when large."""
        dim = self.spaces[space]
        size = self.catalog.space_counts().get(space, 0)
        if wanted_kind(size, Layout(), self.approximate_from) == "flat":
            return self._exact(space, after_id=-1)
        chunks, queries, tuned_on = self._tuning(space)
        return build_approximate(
            dim,
            chunks,
            self.catalog.sample_vectors(space, dim, Layout.cells_for(size) * TRAIN_SAMPLE),
            size,
            queries,
            tuned_on,
        )

    def _tuning(
        self, space: str
    ) -> tuple[Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]], np.ndarray, str]:
        """What tunes a space's search breadth: its vectors (as chunks), typical queries and
        what they are; with no encoder at hand (check --repair) stored items stand in."""
        dim = self.spaces[space]
        if self.tuning_queries is not None:
            queries, tuned_on = self.tuning_queries(space)
        else:
            queries, tuned_on = self.catalog.sample_vectors(space, dim, TUNING_SAMPLE), "items"
        return lambda: self.catalog.iter_vectors(space, dim), queries, tuned_on

    def _exact(self, space: str, *, after_id: int) -> VectorIndex:
        index = VectorIndex(self.spaces[space])
        for ids, vectors in self.catalog.iter_vectors(space, self.spaces[space], after_id=after_id):
            index.add(ids, vectors)
        return index

    def _is_current(self, space: str) -> bool:
        """The saved file loads and claims this generation (memory-mapped: cheap at any size)."""
        dim, generation = self.spaces[space], self.catalog.generation
        return VectorIndex.load(self.path(space), dim, generation, mapped=True) is not None

    def _require_writer(self) -> None:
        if not self.writable:
            raise RuntimeError("this index was opened for reading; writes need the writer lock")


@functools.cache
def _one_blas_thread() -> None:
    """A query's linear algebra (re-ranking a few hundred candidates, the calibration's
    q·Σ·q at 1280-d) takes 0.2 ms on one thread; OpenBLAS's second thread, spinning for a
    core that other work holds, made the same product 8 ms (2 cores, load 2.5)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
