"""Approximate search at a lowered threshold: the switch, adds and removes after it,
retraining on growth, checkpoints, readers of a stale file, and filters inside FAISS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import RecordingProfile
from tests.sql import sql
from xmodal_cli.collection import _tuning_queries
from xmodal_cli.models import typical_queries
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import NewItem
from xmodal_cli.store.vectors import VectorStore

DIM = 16
SPACES = {"text": DIM}


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """Points around a few centres, like real embeddings (uniform noise suits no ANN index)."""
    picks = rng.integers(0, len(centres), n)
    points = centres[picks] + 0.35 * rng.standard_normal((n, DIM))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def centres() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((40, DIM))


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog.open(tmp_path, create=True)
    yield cat
    cat.close()


def _store(catalog: Catalog, directory: Path, **kw: Any) -> VectorStore:
    kw.setdefault("approximate_from", 2000)
    return VectorStore(directory, catalog, SPACES, **kw)


def _add(
    store: VectorStore, vectors: np.ndarray, folder: str = "/p", modality: str = "text"
) -> list[int]:
    """One file per vector, committed in one transaction; returns the file ids."""
    files = []
    with store.transaction() as tx:
        start = len(store.catalog.files())
        for n, vector in enumerate(vectors):
            file_id = tx.add_file(f"{folder}/{start + n}.txt", modality, 1, 1, f"h{start + n}", {})
            tx.add_items(file_id, [NewItem("text", 0, None, vector)])
            files.append(file_id)
    return files


def _exact_top(catalog: Catalog, query: np.ndarray, k: int = 10) -> list[int]:
    ids, vectors = next(catalog.iter_vectors("text", DIM, chunk=10**6))
    return ids[np.argsort(-(vectors @ query))[:k]].tolist()


def test_a_space_switches_to_approximate_search_past_the_threshold(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    rng = np.random.default_rng(1)
    store = _store(catalog, tmp_path)
    with store.writing():
        _add(store, _clustered(rng, 1500, centres))
    assert store.index("text").layout.kind == "flat"
    with store.writing():
        _add(store, _clustered(rng, 1500, centres))
    layout = store.index("text").layout
    assert layout.kind == "ivf" and layout.trained_size == 3000
    assert layout.recall_at_10 >= 0.95 and layout.tuned_on == "items"
    assert 0 < layout.nprobe <= layout.nlist
    saved = store.saved("text")
    assert saved is not None and saved.approximate
    assert set(saved.ids().tolist()) == set(catalog.item_ids("text").tolist())

    queries = _clustered(np.random.default_rng(99), 50, centres)  # held out: not stored
    overlap = [
        len(set(store.search("text", q, 10)[1].tolist()) & set(_exact_top(catalog, q))) / 10
        for q in queries
    ]
    assert np.mean(overlap) >= 0.95
    scores, ids = store.search("text", queries[0], 10)
    found, vectors = catalog.vectors_by_id("text", ids.tolist(), DIM)
    exact = dict(zip(found.tolist(), (vectors @ queries[0]).tolist(), strict=True))
    np.testing.assert_allclose(scores, [exact[i] for i in ids.tolist()], rtol=1e-5)  # re-scored
    assert list(scores) == sorted(scores, reverse=True)


def test_adds_and_removes_after_the_switch_keep_faiss_equal_to_sqlite(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    rng = np.random.default_rng(2)
    store = _store(catalog, tmp_path)
    with store.writing():
        first = _add(store, _clustered(rng, 3000, centres))
    with store.writing():
        _add(store, _clustered(rng, 200, centres))
        with store.transaction() as tx:
            tx.delete_files(first[:300])
    fresh = _store(catalog, tmp_path)
    saved = fresh.index("text")
    assert saved.approximate and saved.layout.trained_size == 3000  # not retrained
    assert set(saved.ids().tolist()) == set(catalog.item_ids("text").tolist())
    assert saved.ntotal == 2900


def test_a_space_that_grew_past_its_training_is_retrained(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    rng = np.random.default_rng(3)
    store = _store(catalog, tmp_path)
    with store.writing():
        _add(store, _clustered(rng, 2500, centres))
    assert store.index("text").layout.trained_size == 2500
    with store.writing():
        _add(store, _clustered(rng, 8000, centres))
    layout = store.index("text").layout
    assert layout.kind == "ivf" and layout.trained_size == 10500


def test_a_space_that_doubled_since_tuning_is_retuned_not_retrained(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    rng = np.random.default_rng(5)
    store = _store(catalog, tmp_path)
    with store.writing():
        _add(store, _clustered(rng, 2500, centres))
    trained = store.index("text")
    before = trained.layout
    assert before.tuned_size == before.trained_size == 2500
    with store.writing():
        _add(store, _clustered(rng, 2600, centres))  # 5100: doubled, not yet quadrupled
    after = store.index("text")
    assert after is trained  # the same cells, not a rebuilt index
    assert after.layout.trained_size == 2500 and after.layout.tuned_size == 5100
    assert after.layout.recall_at_10 >= 0.95 or after.layout.nprobe == after.layout.nlist
    saved = _store(catalog, tmp_path, writable=False).index("text")
    assert saved.layout == after.layout  # what readers search with


def test_a_long_run_checkpoints_and_readers_add_the_rows_committed_since(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    rng = np.random.default_rng(4)
    writer = _store(catalog, tmp_path, checkpoint_items=1000)
    gone_vectors = _clustered(rng, 1, centres)
    with pytest.raises(KeyboardInterrupt), writer.writing():
        first = _add(writer, _clustered(rng, 2500, centres))  # a checkpoint: saved, IVF
        assert writer.saved("text") is not None
        late = _clustered(rng, 20, centres)
        _add(writer, late, folder="/late")
        with writer.transaction() as tx:
            tx.delete_files(first[:1])
        _add(writer, gone_vectors)
        # Killed between a commit and its mirror: FAISS no longer equals SQLite.
        writer.index("text").remove([int(writer.index("text").ids()[0])])
        raise KeyboardInterrupt
    assert writer.saved("text") is None  # stale: the checkpoint's generation is older
    files_before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())

    reader_catalog = Catalog.open(tmp_path)
    try:
        reader = VectorStore(tmp_path, reader_catalog, SPACES, writable=False)
        assert reader.index("text").approximate  # the checkpoint, not a rebuild
        assert reader.size("text") == 2500 + 20 + 1
        for vector in late[:5]:
            _, ids = reader.search("text", vector, 1)
            row = reader_catalog.items_by_id(ids.tolist())
            assert row and next(iter(row.values())).path.startswith("/late/")
        deleted = first[0]
        _, ids = reader.search("text", _clustered(rng, 1, centres)[0], 3000)
        rows = reader_catalog.items_by_id(ids.tolist())
        assert deleted not in {r.file_id for r in rows.values()}
    finally:
        reader_catalog.close()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == files_before

    caught_up = _store(catalog, tmp_path)  # the next writer catches up, without retraining
    index = caught_up.index("text")
    assert index.layout.trained_size == 2500
    assert set(index.ids().tolist()) == set(catalog.item_ids("text").tolist())


def test_tuning_uses_the_profiles_typical_queries_for_text_spaces(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    profile = RecordingProfile()
    profile.spaces = {"text": DIM}
    tuning = _tuning_queries(profile, catalog)
    store = _store(catalog, tmp_path, tuning_queries=tuning)
    with store.writing():
        _add(store, _clustered(np.random.default_rng(5), 2500, centres))
    assert store.index("text").layout.tuned_on == "queries"
    encoded = list(profile.texts)  # what the build asked the profile's query encoder
    assert encoded == typical_queries() and len(encoded) >= 300


def test_a_type_that_holds_few_items_is_filtered_inside_faiss(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    from xmodal_cli.search import Filters, _search_space

    rng = np.random.default_rng(6)
    store = _store(catalog, tmp_path)
    with store.writing():
        _add(store, _clustered(rng, 2990, centres), folder="/photos", modality="image")
        notes = _add(store, _clustered(rng, 10, centres), folder="/notes", modality="text")
        _add(store, _clustered(rng, 5, centres), folder="/notes-old", modality="text")
    assert store.calibration().share("text", "text") < 0.01
    assert store.calibration().share("text", "audio") == 0.0  # none: no search at all
    query = _clustered(rng, 1, centres)[0]
    hits = _search_space(store, "text", query, "text", Filters(), limit=50)
    assert len(hits) == 15 and all(h.type == "text" for h in hits)
    under = _search_space(store, "text", query, "text", Filters(under=("/notes",)), limit=50)
    assert {h.path for h in under} == {f"/notes/{2990 + n}.txt" for n in range(10)}  # not -old
    assert len(notes) == 10
    wanted = catalog.matching_items("text", "text", ("/notes",), most=100)
    assert wanted is not None and len(wanted) == 10
    assert catalog.matching_items("text", "image", (), most=100) is None  # too many: after
    assert sql(catalog, "SELECT COUNT(*) FROM items")[0][0] == 3005


def test_status_reports_each_spaces_index(tmp_path: Path, centres: np.ndarray) -> None:
    from xmodal_cli.collection import open_collection

    directory = tmp_path / "index"
    with open_collection(directory, create=True, profile=RecordingProfile()) as collection:
        info = collection.status()
    assert info["indexes"]["text"]["index"] == "flat"
    cat = Catalog.open(directory, writable=True)
    try:
        store = VectorStore(directory, cat, RecordingProfile().spaces, approximate_from=2000)
        with store.writing(), store.transaction() as tx:
            vectors = _clustered(np.random.default_rng(8), 2500, np.hstack([centres] * 1))
            for n, vector in enumerate(vectors):
                file_id = tx.add_file(f"/p/{n}.txt", "text", 1, 1, f"h{n}", {})
                tx.add_items(file_id, [NewItem("text", 0, None, vector)])
    finally:
        cat.close()
    with open_collection(directory, models=False) as collection:
        text = collection.status()["indexes"]["text"]
    assert text["index"] == "ivf" and text["saved_vectors"] == 2500 and text["current"]
    assert text["expected_recall_at_10"] >= 0.95 and text["nprobe"] <= text["nlist"]


def test_a_wide_space_is_projected_and_still_ranks_like_exact_search(tmp_path: Path) -> None:
    """Past PROJECT_ABOVE dims the inverted file holds projected codes (a fifth of the
    bytes); re-ranking from the catalog keeps the exact order, filters and removes work."""
    from xmodal_cli.store.vector_index import PROJECT_ABOVE, PROJECTED_DIM, RERANK_PROJECTED

    dim = 640
    assert dim > PROJECT_ABOVE
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((40, dim))
    picks = rng.integers(0, len(centres), 3200)
    points = centres[picks] + 0.35 * rng.standard_normal((3200, dim))
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    catalog = Catalog.open(tmp_path, create=True)
    try:
        store = VectorStore(tmp_path, catalog, {"visual": dim}, approximate_from=2000)
        ids = []
        with store.writing(), store.transaction() as tx:
            for n, vector in enumerate(points[:3000]):
                file_id = tx.add_file(f"/p/{n}.jpg", "image", 1, 1, f"h{n}", {})
                ids += tx.add_items(file_id, [NewItem("visual", 0, None, vector)])
        index = store.index("visual")
        assert index.approximate and index.layout.tuned_on == "items"
        assert index.index.chain.at(0).d_out == PROJECTED_DIM
        assert index.layout.rerank == RERANK_PROJECTED  # kept in the sidecar for readers
        # The file: the projection and the cells' centres, then an 8-bit code and id per item.
        fixed = (dim + index.layout.nlist) * PROJECTED_DIM * 4
        per_item = (store.path("visual").stat().st_size - fixed) / 3000
        assert per_item < (PROJECTED_DIM + 8) * 1.1

        reader = VectorStore(tmp_path, catalog, {"visual": dim}, writable=False)
        stored_ids, stored = next(catalog.iter_vectors("visual", dim, chunk=10**6))
        hits = 0
        for query in points[3000:]:  # held out
            exact = stored_ids[np.argsort(-(stored @ query))[:10]].tolist()
            hits += len(set(reader.search("visual", query, 10)[1].tolist()) & set(exact))
        assert hits / (10 * 200) >= 0.95
        for row in (0, 1234, 2999):  # every stored vector finds itself first
            assert reader.search("visual", points[row], 1)[1].tolist() == [ids[row]]

        allowed = np.asarray(ids[::100], dtype=np.int64)
        _, found = reader.search("visual", points[3100], 10, allowed=allowed)
        assert len(found) == 10 and set(found.tolist()) <= set(allowed.tolist())

        with store.writing(), store.transaction() as tx:
            tx.delete_files([1, 2])
        saved = store.saved("visual")
        assert saved is not None and saved.approximate and saved.ntotal == 2998
        assert set(saved.ids().tolist()) == set(catalog.item_ids("visual").tolist())
    finally:
        catalog.close()


def test_a_filter_inside_an_ivf_index_finds_the_top_of_its_selection(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    """A selection spread over the space is searched in a few more cells than usual; one that
    sits in a corner the query's cells do not reach (a folder of one subject) in all of them."""
    rng = np.random.default_rng(12)
    store = _store(catalog, tmp_path)
    points = _clustered(rng, 3000, centres)
    with store.writing():
        _add(store, points)
    assert store.index("text").approximate
    ids, vectors = next(catalog.iter_vectors("text", DIM, chunk=10**6))
    spread = ids[::20]
    corner = ids[np.argsort(-(vectors @ centres[0]))[:100]]  # the items of one subject
    queries = _clustered(np.random.default_rng(13), 30, centres[1:])  # other subjects
    for selection, needed in ((spread, 0.95), (corner, 1.0)):
        chosen = np.isin(ids, selection)
        hits = 0
        for query in queries:
            exact = ids[chosen][np.argsort(-(vectors[chosen] @ query))[:10]]
            found = store.search("text", query, 10, allowed=selection)[1]
            assert set(found.tolist()) <= set(selection.tolist())
            hits += len(set(found.tolist()) & set(exact.tolist()))
        assert hits / (10 * len(queries)) >= needed


def test_a_spread_selection_is_searched_once_even_with_a_narrow_nprobe(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    """With nprobe 1 (the visual space's is small) nprobe/√share cells hold too few of a
    spread selection's items for the candidates asked; the search widens up front instead
    of falling back to every cell."""
    from dataclasses import replace

    rng = np.random.default_rng(14)
    store = _store(catalog, tmp_path)
    with store.writing():
        _add(store, _clustered(rng, 3000, centres))
    main = store.index("text")
    main.layout = replace(main.layout, nprobe=1)
    ids = next(catalog.iter_vectors("text", DIM, chunk=10**6))[0]
    spread = ids[::50]  # 2 %
    calls: list[int] = []
    real = main.index.search

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    main.index.search = counted
    found = main.search(_clustered(rng, 1, centres)[0], 40, allowed=spread)[1]
    assert len(found) == 40 and set(found.tolist()) <= set(spread.tolist())
    assert len(calls) == 1 and main.layout.nlist > 8  # one pass, not a second over every cell


def test_a_reader_that_keeps_searching_reads_the_index_into_memory(
    catalog: Catalog, tmp_path: Path, centres: np.ndarray
) -> None:
    from xmodal_cli.store.vector_index import RESIDENT_AFTER

    rng = np.random.default_rng(14)
    writer = _store(catalog, tmp_path)
    with writer.writing():
        _add(writer, _clustered(rng, 2500, centres))
    queries = _clustered(rng, RESIDENT_AFTER + 4, centres)
    reader = VectorStore(tmp_path, catalog, SPACES, writable=False)
    first = [reader.search("text", q, 10)[1].tolist() for q in queries[: RESIDENT_AFTER - 1]]
    assert reader.index("text").mapped  # a one-off search never reads the whole file
    later = [reader.search("text", q, 10)[1].tolist() for q in queries]
    assert not reader.index("text").mapped
    assert later[: RESIDENT_AFTER - 1] == first  # the same index, now in memory

    stale = VectorStore(tmp_path, catalog, SPACES, writable=False)
    before = stale.search("text", queries[0], 10)[1].tolist()
    with writer.writing():  # a writer replaces the file under the reader
        _add(writer, _clustered(rng, 50, centres))
    for query in queries[1:RESIDENT_AFTER]:
        stale.search("text", query, 10)
    assert stale.index("text").mapped  # it never reads a newer file than it maps
    assert stale.search("text", queries[0], 10)[1].tolist() == before
