"""One space's FAISS index: exact (flat) while small, approximate (IVF) once large.

Both kinds keep catalog item ids and support adding and removing them (HNSW could not).
The approximate kind is an inverted file of 8-bit scalar-quantised vectors: a query visits
`nprobe` of `nlist` cells, and its candidates are re-scored exactly from the catalog's
vectors by the caller (store/vectors.py), so quantisation never reorders what is shown.
A space wider than PROJECT_ABOVE is first projected onto the PROJECTED_DIM directions that
carry most of its vectors' energy (1280 -> 256 for `visual`: a fifth of the bytes and of
the scan), since the re-ranking repairs the order the projection blurs.
`nprobe` is tuned when the index is built, until recall@10 against exact search reaches
RECALL_TARGET for the queries the space serves, and that recall is kept with the index.

Each `SPACE.faiss` has a `SPACE.faiss.json` sidecar: the catalog generation the file
reflects, its size and dim, the largest item id it holds (rows above it were committed
after the save) and how it was built. The FAISS file is written first (temp file +
os.replace), then the sidecar, so a crash between the two leaves a mismatch that is
noticed, never a lie.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.store.atomic import write_atomically

# Measured with bench/million.py on this 2-core machine (one thread per query): exact search
# costs about 0.1-0.19 ms per thousand 384-d items (12 ms at 100k, 105-190 ms at 1M); an
# inverted file that keeps recall@10 >= 0.95 is only 2-3x faster at 100k but 50-100x faster
# at 1M (1.2 ms). So a space switches where the inverted file starts to pay.
APPROXIMATE_FROM = 100_000
RETRAIN_GROWTH = 4  # retrain once a space holds this many times what it was trained on
# Re-tune nprobe (no retraining) once a space doubles since it was tuned: cells fill up and
# the top 10 sits in fewer of them (measured at 1M text items: 12 cells where 24 were tuned
# at 430k).
RETUNE_GROWTH = 2
RECALL_TARGET = 0.95
RERANK = 4  # an approximate search takes this many times k candidates, re-scored exactly
# Measured at 1M (bench/million.py, held-out photos): behind the projection 40 candidates
# hold 0.91 of the exact top 10, 80 hold 0.97-0.98, at any nprobe from 4 to 32.
RERANK_PROJECTED = 8
TRAIN_SAMPLE = 64  # training vectors per cell (FAISS warns below 39)
_NPROBES = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# A reader memory-maps a saved index (a cold search opens it in no time) but FAISS then reads
# an IVF's cells through its on-disk lists, 1.5-4x slower per query than in memory (at 1M
# text: 6.4 against 4.4 ms unfiltered, 34 against 10 ms when a filter visits every cell).
# A reader that keeps searching (serve, watch, a Python session, a batch of queries) reads
# the file into memory once, after this many searches: 0.3 s at 1M text items.
RESIDENT_AFTER = 16
# Measured at 1M (bench/million.py vectors, held-out photos): 256 of 1280 dims keep recall@10
# 0.97-1.0 after re-ranking 80 candidates at nprobe 4-32; FAISS bytes per item 1288 -> 266.
PROJECT_ABOVE = 512
PROJECTED_DIM = 256
# Items whose exact scores differ by less than this are ties when recall is tuned (as in
# ann-benchmarks): it is the precision of the stored int8 vectors themselves, and a space of
# near-duplicates (a burst of shots, jittered copies) has many such ties per query, which
# no compressed index can order and no user can tell apart (at 1M visual: strict recall of
# stored items as queries stays at 0.92-0.94 up to nprobe 32, 0.999 counting ties).
TIE = 1e-3  # applied where stored items stand in for queries (their copies are the ties)


def _faiss() -> Any:
    import faiss

    return faiss


@dataclass(frozen=True)
class Layout:
    """How a space's index is built: `flat`, or `ivf` with its cells and search breadth."""

    kind: str = "flat"
    nlist: int = 0
    nprobe: int = 0
    trained_size: int = 0  # items in the space when the cells were trained
    recall_at_10: float = 1.0  # against exact search, for `tuned_on` queries
    tuned_on: str = "exact"  # exact | queries | items
    rerank: int = RERANK  # a search re-scores this many times k candidates exactly
    tuned_size: int = 0  # items in the space when nprobe was tuned (0: when trained)

    @staticmethod
    def cells_for(size: int) -> int:
        """2·√n to 4·√n cells, a power of two, at least 64. Measured at 1M 384-d items (real
        text queries, bench/million.py vectors, one thread, index in memory): 2048 cells reach
        recall@10 0.954 visiting 16 of them in 1.6 ms, where 1024 cells need 16 for the same
        recall in 2.4 ms (24 in 3.4 ms when tuned on the product's typical queries); training
        64 vectors per cell takes about 40 s more (86 s with adding, against 45). A space
        has 2048 cells from 262k items, so it reaches 1M (before its fourfold retraining)
        with cells of about 500 vectors."""
        return int(max(64, 2 ** math.ceil(math.log2(2 * math.sqrt(max(size, 1))) - 1e-9)))


def wanted_kind(size: int, layout: Layout, approximate_from: int) -> str:
    """`flat` while small; `ivf` once large; `retrain` for an IVF outgrown ×RETRAIN_GROWTH;
    `retune` (its search breadth only) for one grown ×RETUNE_GROWTH since it was tuned.

    An IVF index stays until its space shrinks below half the threshold, so a space whose
    size hovers around the threshold is not rebuilt back and forth."""
    if layout.kind == "ivf":
        if size < approximate_from // 2:
            return "flat"
        if size >= RETRAIN_GROWTH * max(layout.trained_size, 1):
            return "retrain"
        tuned = layout.tuned_size or layout.trained_size
        return "retune" if size >= RETUNE_GROWTH * max(tuned, 1) else "ivf"
    return "flat" if size < approximate_from else "retrain"


class VectorIndex:
    """One space's vectors with their catalog ids, exact or approximate."""

    def __init__(
        self, dim: int, index: Any = None, *, layout: Layout | None = None, mapped: bool = False
    ) -> None:
        faiss = _faiss()
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.layout = layout or Layout()
        self.mapped = mapped  # vectors live in a read-only file mapping
        self.path: Path | None = None  # the file it was loaded from
        self._searches = 0
        self.max_id = -1  # the largest id ever added (rows above it are newer than the file)
        self.generation = -1  # the catalog generation it was saved for (-1: never saved)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def approximate(self) -> bool:
        return self.layout.kind == "ivf"

    def ids(self) -> np.ndarray:
        """Every id this index holds."""
        faiss = _faiss()
        if not self.approximate:
            return np.asarray(faiss.vector_to_array(self.index.id_map), dtype=np.int64)
        ivf = faiss.extract_index_ivf(self.index)  # behind a projection, if any
        lists = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(cell), lists.list_size(cell)).copy()
            for cell in range(ivf.nlist)
            if lists.list_size(cell)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def _own(self) -> None:
        """Copy a memory-mapped index into memory before its first change."""
        if self.mapped:
            self._make_resident()
        if self.mapped:  # the file was replaced since: copy the mapping itself
            faiss = _faiss()
            self.index = faiss.deserialize_index(faiss.serialize_index(self.index))
            self.mapped = False

    def _make_resident(self) -> None:
        """Read the mapped file into memory if it still holds what this index maps."""
        if self.path is None:
            return
        again = VectorIndex.load(self.path, self.dim, self.generation)
        if again is not None and again.max_id == self.max_id and again.ntotal == self.ntotal:
            self.index, self.mapped = again.index, False

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._own()
        data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self.index.add_with_ids(data, np.ascontiguousarray(ids, dtype=np.int64))
        self.max_id = max(self.max_id, int(np.max(ids)))

    def remove(self, ids: Iterable[int]) -> None:
        chosen = np.fromiter(ids, dtype=np.int64)
        if len(chosen):
            self._own()
            self.index.remove_ids(chosen)

    def search(
        self, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) for one query vector, best first; only `allowed` ids if given."""
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        if self.mapped and self.path is not None:
            self._searches += 1
            if self._searches == RESIDENT_AFTER:
                self._make_resident()
        faiss = _faiss()
        # One query is scanned by one thread anyway; OpenMP's idle spinning only costs time.
        faiss.omp_set_num_threads(1)
        data = _unit_rows(query, self.dim)
        if self.approximate and allowed is not None:
            return self._search_selected(data, k, allowed)
        if self.approximate:
            params = _ivf_params(self.index, self.layout.nprobe, None)
        elif allowed is not None:
            params = (faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)),)
        else:
            params = (None,)
        scores, ids = self.index.search(data, max(1, min(k, self.ntotal)), params=params[0])
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def _search_selected(
        self, data: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """An IVF search among `selected` ids only. A filter keeping a share s of the items
        visits nprobe/√s cells; if those hold fewer than k selected candidates the selection
        sits elsewhere (a folder of one subject), and every cell is visited (exact over the
        selection). Measured at 1M text items, 2048 cells, 1 % kept: a folder spread over the
        collection reaches recall@10 0.999 at 240 cells (2.5 ms; every cell: 7.5 ms); one
        made of five subjects 0.952 at 4.2 ms; one subject falls back to every cell. The
        cells visited also hold, if the selection is spread, twice the candidates asked:
        the visual space (nprobe 4) asked for 320 among 1 % at 40 of 2048 cells found ~195,
        and every search fell back to all cells (26.7 ms instead of ~5)."""
        selector = _faiss().IDSelectorBatch(allowed)
        share = max(len(allowed), 1) / max(self.ntotal, 1)
        want = max(1, min(k, self.ntotal))
        enough = 2 * want / share / max(self.ntotal, 1) * self.layout.nlist
        breadth = math.ceil(max(self.layout.nprobe / math.sqrt(share), enough))
        breadth = min(self.layout.nlist, breadth)
        while True:
            params = _ivf_params(self.index, breadth, selector)
            scores, ids = self.index.search(data, want, params=params[0])
            keep = ids[0] >= 0
            if keep.sum() >= min(want, len(allowed)) or breadth >= self.layout.nlist:
                return scores[0][keep], ids[0][keep]
            breadth = self.layout.nlist

    def save(self, path: Path, generation: int) -> None:
        faiss = _faiss()
        write_atomically(path, lambda tmp: faiss.write_index(self.index, tmp))
        meta = {
            "generation": generation,
            "count": self.ntotal,
            "dim": self.dim,
            "max_id": self.max_id,
            **asdict(self.layout),
        }
        write_atomically(sidecar(path), lambda tmp: Path(tmp).write_text(json.dumps(meta)))
        self.generation = generation

    @classmethod
    def load(
        cls, path: Path, dim: int, generation: int | None, *, mapped: bool = False
    ) -> VectorIndex | None:
        """The saved index; None if missing, unreadable, of another dim, or (when
        `generation` is given) saved for another generation.

        `mapped` memory-maps the vectors instead of reading them: a cold search on a 300k-item
        index opens in 0.06 s instead of 0.7 s. Such an index is copied before any change.
        """
        try:
            meta = json.loads(sidecar(path).read_text())
            if meta.get("dim") != dim:
                return None
            if generation is not None and meta.get("generation") != generation:
                return None
            faiss = _faiss()
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mapped else 0)
        except (OSError, ValueError, RuntimeError):
            return None
        if index.ntotal != meta.get("count") or index.d != dim:
            return None
        fields = {key: meta[key] for key in Layout.__dataclass_fields__ if key in meta}
        loaded = cls(dim, index, layout=Layout(**fields), mapped=mapped)
        loaded.max_id = int(meta.get("max_id", -1))
        loaded.generation = int(meta["generation"])
        loaded.path = path
        return loaded


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def build_approximate(
    dim: int,
    chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    sample: np.ndarray,
    size: int,
    tuning_queries: np.ndarray,
    tuned_on: str,
) -> VectorIndex:
    """An IVF-SQ8 index (projected first if wide) of every vector `chunks()` yields, trained
    on `sample`, with `nprobe` tuned on `tuning_queries` (their exact top 10 computed here
    from the same vectors)."""
    faiss = _faiss()
    # Searches pin OpenMP to one thread; training and adding use every core again.
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    nlist = min(Layout.cells_for(size), max(1, len(sample) // 39))
    training = _unit_rows(sample, dim)
    width = PROJECTED_DIM if dim > PROJECT_ABOVE else dim
    quantizer = faiss.IndexFlatIP(width)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, width, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    if width < dim:
        index = faiss.IndexPreTransform(_projection(training, width), index)
    index.train(training)
    rerank = RERANK_PROJECTED if width < dim else RERANK
    layout = Layout("ivf", nlist, nlist, size, 1.0, tuned_on, rerank)
    built = VectorIndex(dim, index, layout=layout)
    queries = _unit_rows(tuning_queries, dim) if len(tuning_queries) else None
    exact = _TopK(queries) if queries is not None else None
    for ids, vectors in chunks():
        built.add(ids, vectors)
        if exact is not None:
            exact.update(ids, vectors)
    if queries is not None and exact is not None:
        ties = TIE if tuned_on == "items" else 0.0
        built.layout = _tune(built, queries, exact.answers(ties), size, tuned_on)
    return built


def retune(
    index: VectorIndex,
    chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    tuning_queries: np.ndarray,
    tuned_on: str,
) -> Layout:
    """The layout of an IVF `index` with `nprobe` tuned again for its present size (exact top
    10 from `chunks()`), its cells as trained."""
    if not len(tuning_queries):
        return replace(index.layout, tuned_size=index.ntotal)
    queries = _unit_rows(tuning_queries, index.dim)
    exact = _TopK(queries)
    for ids, vectors in chunks():
        exact.update(ids, vectors)
    ties = TIE if tuned_on == "items" else 0.0
    tuned = _tune(index, queries, exact.answers(ties), index.ntotal, tuned_on)
    return replace(tuned, trained_size=index.layout.trained_size)


class _TopK:
    """Exact top `depth` ids of each query, accumulated chunk by chunk (bounded memory)."""

    def __init__(self, queries: np.ndarray, depth: int = 64) -> None:
        self.queries = queries
        self.depth = depth
        self.scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), depth), -1, dtype=np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        scores = self.queries @ np.ascontiguousarray(vectors, dtype=np.float32).T
        both = np.concatenate([self.scores, scores], axis=1)
        all_ids = np.concatenate([self.ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argpartition(-both, self.depth - 1, axis=1)[:, : self.depth]
        self.scores = np.take_along_axis(both, top, axis=1)
        self.ids = np.take_along_axis(all_ids, top, axis=1)

    def answers(self, ties: float) -> list[tuple[set[int], int]]:
        """Per query: the ids that count as a right answer (the exact top 10 and any item
        tied with the 10th within `ties`), and how many answers it has (10, or fewer)."""
        out: list[tuple[set[int], int]] = []
        for scores, ids in zip(self.scores, self.ids, strict=True):
            valid = ids >= 0
            wanted = min(10, int(valid.sum()))
            if not wanted:
                out.append((set(), 0))
                continue
            tenth = np.sort(scores[valid])[::-1][wanted - 1]
            out.append(({int(i) for i in ids[valid & (scores >= tenth - ties)]}, wanted))
        return out


def _tune(
    built: VectorIndex,
    queries: np.ndarray,
    truth: list[tuple[set[int], int]],
    size: int,
    tuned_on: str,
) -> Layout:
    """The smallest nprobe whose recall@10 reaches RECALL_TARGET (else the best measured)."""
    nlist, rerank = built.layout.nlist, built.layout.rerank
    recall = 0.0
    nprobe = nlist
    for nprobe in [p for p in _NPROBES if p < nlist] + [nlist]:
        params = _ivf_params(built.index, nprobe, None)
        # Search re-scores 10·rerank candidates exactly, so a true top-10 item is found
        # exactly when it is among them: that is the recall to tune, not the raw top 10's.
        _, found = built.index.search(queries, 10 * rerank, params=params[0])
        hits = sum(
            min(wanted, len(right & set(f.tolist())))
            for f, (right, wanted) in zip(found, truth, strict=True)
        )
        recall = hits / max(1, sum(wanted for _, wanted in truth))
        if recall >= RECALL_TARGET:
            break
    return Layout("ivf", nlist, nprobe, size, round(recall, 4), tuned_on, rerank, size)


def _projection(training: np.ndarray, width: int) -> Any:
    """The `width` directions of most energy in `training` (uncentred: an inner product
    keeps the part along the mean, which ranks items too), as a FAISS transform."""
    faiss = _faiss()
    dim = training.shape[1]
    _, vectors = np.linalg.eigh((training.T @ training).astype(np.float64))
    rows = np.ascontiguousarray(vectors[:, ::-1][:, :width].T, dtype=np.float32)
    transform = faiss.LinearTransform(dim, width, False)
    faiss.copy_array_to_vector(rows.ravel(), transform.A)
    transform.is_trained = True
    return transform


def _ivf_params(index: Any, nprobe: int, selector: Any) -> tuple[Any, ...]:
    """Search parameters for an IVF index, projected or not; the tuple keeps the inner
    parameters and the selector alive while FAISS holds pointers to them."""
    faiss = _faiss()
    inner = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
    if isinstance(index, faiss.IndexPreTransform):
        return faiss.SearchParametersPreTransform(index_params=inner), inner, selector
    return inner, selector


def _unit_rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    faiss = _faiss()
    data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim).copy()
    faiss.normalize_L2(data)
    return data
