"""store/: the SQLite catalog (schema, transactions, round trips) and FAISS index files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import faiss
import numpy as np
import pytest

from tests.sql import UNDO_TO_SCHEMA_4, sql
from xmodal_cli.errors import XmodalError
from xmodal_cli.store import codec
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import NewItem
from xmodal_cli.store.schema import DB_NAME, SCHEMA_VERSION
from xmodal_cli.store.vectors import VectorIndex, VectorStore

DIM = 8
SPACES = {"text": DIM, "visual": 4}


def _unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _stored(vectors: np.ndarray) -> np.ndarray:
    """What the catalog gives back for `vectors`: int8 with a scale per vector, as float32."""
    rows = np.asarray(vectors).reshape(len(vectors), -1)
    return codec.matrix([codec.to_blob(row) for row in rows], rows.shape[1])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog.open(tmp_path / "index", create=True, writable=True)
    yield cat
    cat.close()


def _add_file(cat: Catalog, path: str, vectors: dict[str, np.ndarray], **info) -> int:
    """One file with its items, in one transaction that bumps the generation."""
    with cat.transaction():
        file_id = cat.add_file(path, "text", 10, 123, f"hash-{path}", info)
        items = [
            NewItem(space, pos, f"{path}#{pos}", vec)
            for space, vecs in vectors.items()
            for pos, vec in enumerate(vecs)
        ]
        cat.add_items(file_id, items)
        cat.bump_generation()
    return file_id


# -- catalog --------------------------------------------------------------------------------


def test_open_without_create_on_empty_dir_explains(tmp_path: Path) -> None:
    with pytest.raises(XmodalError) as caught:
        Catalog.open(tmp_path, create=False)
    assert "no index" in caught.value.message
    assert caught.value.hint and "xmodal index" in caught.value.hint
    assert not (tmp_path / DB_NAME).exists()  # looking must not create anything


def test_create_sets_wal_schema_and_private_modes(tmp_path: Path) -> None:
    directory = tmp_path / "fresh" / "index"
    cat = Catalog.open(directory, create=True, writable=True)
    try:
        assert sql(cat, "PRAGMA journal_mode")[0][0] == "wal"
        assert cat.user_version() == SCHEMA_VERSION
        assert sql(cat, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert sql(cat, "SELECT COUNT(*) FROM items")[0][0] == 0  # the tables exist
        assert cat.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert cat.generation == 0
        assert _mode(directory / DB_NAME) == 0o600
        assert _mode(directory) == 0o700
        for side in ("-wal", "-shm"):  # these hold the same data as the database
            extra = directory / (DB_NAME + side)
            if extra.exists():
                assert _mode(extra) == 0o600
    finally:
        cat.close()
    # Reopening an existing catalog needs no create and migrates nothing.
    again = Catalog.open(directory, create=False)
    try:
        assert again.user_version() == SCHEMA_VERSION
        assert not again.writable
    finally:
        again.close()


def test_a_reader_changes_nothing_and_cannot(tmp_path: Path) -> None:
    Catalog.open(tmp_path, create=True, writable=True).close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reader = Catalog.open(tmp_path)
    try:
        with pytest.raises(RuntimeError):
            reader.bind_profile("lite", {"text": 384}, {"text": "minilm"})
        assert reader.profile_info() is None
    finally:
        reader.close(checkpoint=True)  # even asked to, a reader does not checkpoint
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_reader_refuses_an_older_schema_with_the_upgrade_command(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / DB_NAME).close()  # a database never migrated: schema 0
    with pytest.raises(XmodalError) as caught:
        Catalog.open(tmp_path)
    assert "schema 0" in caught.value.message
    assert caught.value.hint and "xmodal check --repair" in caught.value.hint
    assert sql(tmp_path, "PRAGMA user_version")[0][0] == 0  # and it did not migrate it
    writer = Catalog.open(tmp_path, writable=True)  # a writer migrates
    writer.close()
    assert sql(tmp_path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_a_failed_migration_leaves_the_schema_as_it_was(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / DB_NAME).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("CREATE TABLE items (x)")  # the migration's CREATE TABLE items will fail
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.OperationalError):
        Catalog.open(tmp_path, writable=True)
    assert sql(tmp_path, "PRAGMA user_version")[0][0] == 0
    tables = {r[0] for r in sql(tmp_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"items"}  # meta and files were rolled back with it


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Catalog.open(tmp_path, create=True, writable=True).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(XmodalError) as caught:
        Catalog.open(tmp_path, create=False)
    assert "newer xmodal" in caught.value.message
    assert caught.value.hint and "upgrade" in caught.value.hint


def test_bind_profile_records_once_and_refuses_other_models(catalog: Catalog) -> None:
    assert catalog.profile_info() is None
    catalog.bind_profile("offline", {"text": 384}, {"text": "minilm"})
    info = catalog.profile_info()
    assert info == {"name": "offline", "spaces": {"text": 384}, "models": {"text": "minilm"}}
    catalog.bind_profile("offline", {"text": 384}, {"text": "minilm"})  # same: fine
    assert catalog.profile_info() == info
    with pytest.raises(XmodalError) as caught:
        catalog.bind_profile("offline", {"text": 384}, {"text": "other-model"})
    assert "'offline'" in caught.value.message and "minilm" in caught.value.message
    assert caught.value.hint
    assert catalog.profile_info() == info  # the refusal changed nothing


def test_vectors_are_stored_as_int8_and_read_back_as_float32(catalog: Catalog) -> None:
    rng = np.random.default_rng(1)
    text_a, vis_a = _unit(rng, 3), _unit(rng, 1, 4)
    text_b = _unit(rng, 2)
    a = _add_file(catalog, "/p/a.txt", {"text": text_a, "visual": vis_a}, taken="2020")
    b = _add_file(catalog, "/p/b.txt", {"text": text_b})
    assert catalog.generation == 2

    back = catalog.file_vectors(a, "text", DIM)
    assert back.dtype == np.float32
    # Rounded to the nearest of 255 steps spanning the vector's largest component.
    step = np.abs(text_a).max(axis=1, keepdims=True) / 127
    assert (np.abs(back - text_a) <= step / 2 + 1e-7).all()
    assert catalog.file_vectors(a, "text", DIM).tobytes() == _stored(text_a).tobytes()
    assert catalog.file_vectors(a, "visual", 4).tobytes() == _stored(vis_a).tobytes()
    assert catalog.file_vectors(b, "visual", 4).shape == (0, 4)

    chunks = list(catalog.iter_vectors("text", DIM, chunk=2))
    assert [len(ids) for ids, _ in chunks] == [2, 2, 1]  # bounded-memory chunks
    ids = np.concatenate([i for i, _ in chunks])
    vecs = np.concatenate([v for _, v in chunks])
    assert ids.dtype == np.int64 and list(ids) == sorted(ids)
    assert vecs.tobytes() == _stored(np.concatenate([text_a, text_b])).tobytes()

    assert set(catalog.files()) == {"/p/a.txt", "/p/b.txt"}
    row = catalog.file_by_path("/p/a.txt")
    assert row is not None and row.id == a and row.hash == "hash-/p/a.txt"
    assert catalog.file_by_path("/p/none.txt") is None


def test_float64_vectors_are_stored_as_int8_with_a_scale(catalog: Catalog) -> None:
    vec = np.linspace(0, 1, DIM)  # float64 in
    file_id = _add_file(catalog, "/p/f.txt", {"text": vec[None, :]})
    back = catalog.file_vectors(file_id, "text", DIM)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, _stored(vec[None, :]))
    assert sql(catalog, "SELECT length(vector) FROM items") == [(4 + DIM,)]
    assert back[0, -1] == np.float32(1.0) and back[0, 0] == 0  # the extremes are exact


def test_delete_files_returns_item_ids_and_removes_rows(catalog: Catalog) -> None:
    rng = np.random.default_rng(2)
    a = _add_file(catalog, "/p/a.txt", {"text": _unit(rng, 2), "visual": _unit(rng, 1, 4)})
    b = _add_file(catalog, "/p/b.txt", {"text": _unit(rng, 1)})
    before = {int(i) for ids, _ in catalog.iter_vectors("text", DIM) for i in ids}
    a_items = {r[0]: r[1] for r in sql(catalog, "SELECT id, space FROM items WHERE file_id=?", a)}
    with catalog.transaction():
        removed = catalog.delete_files([a])
    assert {space: sorted(ids) for space, ids in removed.items()} == {
        "text": sorted(i for i, s in a_items.items() if s == "text"),
        "visual": sorted(i for i, s in a_items.items() if s == "visual"),
    }
    assert catalog.file_by_path("/p/a.txt") is None
    assert tuple(sql(catalog, "SELECT COUNT(*) FROM items WHERE file_id=?", a)[0]) == (0,)
    after = {int(i) for ids, _ in catalog.iter_vectors("text", DIM) for i in ids}
    assert after == before - set(removed["text"])
    assert catalog.items_by_id(removed["text"]) == {}
    assert catalog.file_by_path("/p/b.txt") is not None and b
    assert catalog.delete_files([9999]) == {}


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_transaction_rolls_back_on_any_exception(catalog: Catalog, error: BaseException) -> None:
    rng = np.random.default_rng(3)
    _add_file(catalog, "/p/kept.txt", {"text": _unit(rng, 1)})
    assert catalog.generation == 1
    with pytest.raises(type(error)), catalog.transaction():
        file_id = catalog.add_file("/p/lost.txt", "text", 1, 1, "h", {})
        catalog.add_items(file_id, [NewItem("text", 0, None, _unit(rng, 1)[0])])
        catalog.bump_generation()
        assert catalog.generation == 2  # visible inside the transaction
        raise error
    assert catalog.generation == 1
    assert catalog.file_by_path("/p/lost.txt") is None
    assert catalog.space_counts() == {"text": 1}
    assert sql(catalog, "SELECT path FROM files") == [("/p/kept.txt",)]  # nothing half-written
    conn = sqlite3.connect(str(catalog.path), timeout=0.1, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # no write lock is left behind either
    conn.execute("ROLLBACK")
    conn.close()
    # A later transaction works normally after the rollback.
    _add_file(catalog, "/p/next.txt", {"text": _unit(rng, 1)})
    assert catalog.generation == 2


def test_committed_changes_survive_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    cat = Catalog.open(tmp_path, create=True, writable=True)
    vec = _unit(rng, 1)
    file_id = _add_file(cat, "/p/a.txt", {"text": vec})
    cat.close()
    cat = Catalog.open(tmp_path, create=False)
    try:
        assert cat.generation == 1
        assert cat.file_vectors(file_id, "text", DIM).tobytes() == _stored(vec).tobytes()
    finally:
        cat.close()


def test_items_by_id_joins_file_fields(catalog: Catalog) -> None:
    rng = np.random.default_rng(5)
    with catalog.transaction():
        fid = catalog.add_file("/p/photo.jpg", "image", 5, 6, "h", {"camera": "Canon"})
        (img_id,) = catalog.add_items(fid, [NewItem("visual", 0, None, _unit(rng, 1, 4)[0])])
        tid = catalog.add_file("/p/n.txt", "text", 5, 6, "h2", {})
        t_ids = catalog.add_items(
            tid, [NewItem("text", i, f"passage {i}", v) for i, v in enumerate(_unit(rng, 3))]
        )
    rows = catalog.items_by_id([img_id, t_ids[2], 424242])
    assert set(rows) == {img_id, t_ids[2]}
    img = rows[img_id]
    assert (img.space, img.position, img.snippet, img.path, img.modality, img.file_id) == (
        "visual",
        0,
        None,
        "/p/photo.jpg",
        "image",
        fid,
    )
    assert img.info == {"camera": "Canon"}
    assert rows[t_ids[2]].snippet == "passage 2" and rows[t_ids[2]].info == {}
    # More ids than one IN (...) batch holds.
    assert set(catalog.items_by_id([*t_ids, *range(10_000, 11_000)])) == set(t_ids)


def test_counts_and_space_counts(catalog: Catalog) -> None:
    assert catalog.counts() == {} and catalog.space_counts() == {}
    rng = np.random.default_rng(6)
    with catalog.transaction():
        img = catalog.add_file("/p/a.jpg", "image", 1, 1, "h1", {})
        catalog.add_items(
            img,
            [
                NewItem("text", 0, None, _unit(rng, 1)[0]),
                NewItem("visual", 0, None, _unit(rng, 1, 4)[0]),
            ],
        )
        note = catalog.add_file("/p/b.txt", "text", 1, 1, "h2", {})
        catalog.add_items(note, [NewItem("text", i, "x", v) for i, v in enumerate(_unit(rng, 3))])
        catalog.add_file("/p/c.txt", "text", 1, 1, "h3", {})  # no items (e.g. decode failed)
    assert catalog.counts() == {"image": {"files": 1, "items": 2}, "text": {"files": 2, "items": 3}}
    assert catalog.space_counts() == {"text": 4, "visual": 1}


def test_move_file_keeps_items(catalog: Catalog) -> None:
    rng = np.random.default_rng(7)
    vec = _unit(rng, 2)
    fid = _add_file(catalog, "/old/a.txt", {"text": vec})
    with catalog.transaction():
        catalog.move_file(fid, "/new/a.txt", 11, 99)
    row = catalog.file_by_path("/new/a.txt")
    assert row is not None and (row.id, row.size, row.mtime_ns) == (fid, 11, 99)
    assert catalog.file_by_path("/old/a.txt") is None
    assert catalog.file_vectors(fid, "text", DIM).tobytes() == _stored(vec).tobytes()


# -- vectors --------------------------------------------------------------------------------


def test_vector_index_add_search_remove_with_int64_ids() -> None:
    rng = np.random.default_rng(8)
    vecs = _unit(rng, 5)
    ids = np.array([3, 2**40 + 7, 11, 2**33, 5], dtype=np.int64)  # beyond int32
    index = VectorIndex(DIM)
    index.add(ids, vecs)
    index.add(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))  # no-op
    assert index.ntotal == 5

    scores, found = index.search(vecs[1] * 3.0, k=3)  # query need not be unit length
    assert found.dtype == np.int64 and found[0] == 2**40 + 7
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)

    scores, found = index.search(vecs[0], k=50)  # k > ntotal
    assert sorted(found.tolist()) == sorted(ids.tolist())
    assert len(scores) == 5 and list(scores) == sorted(scores, reverse=True)
    expected = (vecs @ vecs[0]).astype(np.float32)
    np.testing.assert_allclose(np.sort(scores)[::-1], np.sort(expected)[::-1], atol=1e-5)

    index.remove([2**40 + 7, 3])
    index.remove([])
    assert index.ntotal == 3
    _, found = index.search(vecs[1], k=10)
    assert set(found.tolist()) == {11, 2**33, 5}


def test_search_on_empty_index_returns_nothing() -> None:
    scores, found = VectorIndex(DIM).search(np.ones(DIM, np.float32), k=5)
    assert len(scores) == 0 and len(found) == 0 and found.dtype == np.int64


def test_search_drops_minus_one_padding() -> None:
    # An IVF index probing one list returns fewer hits than k; FAISS pads with id -1.
    rng = np.random.default_rng(9)
    cluster_a = _unit(rng, 20) * 0.1 + np.eye(DIM, dtype=np.float32)[0]
    cluster_b = _unit(rng, 20) * 0.1 - np.eye(DIM, dtype=np.float32)[0]
    data = np.ascontiguousarray(np.vstack([cluster_a, cluster_b]), dtype=np.float32)
    faiss.normalize_L2(data)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 2, faiss.METRIC_INNER_PRODUCT)
    ivf.train(data)
    ivf.nprobe = 1
    index = VectorIndex(DIM, faiss.IndexIDMap2(ivf))
    index.add(np.arange(100, 140, dtype=np.int64), data)
    _, raw_ids = index.index.search(data[:1], 40)
    assert (raw_ids == -1).any()  # the situation really arises
    scores, found = index.search(data[0], k=40)
    assert len(found) == int((raw_ids >= 0).sum())
    assert (found >= 100).all()
    assert list(scores) == sorted(scores, reverse=True)


def test_save_is_atomic_and_private(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    index = VectorIndex(DIM)
    index.add(np.arange(1, 6, dtype=np.int64), _unit(rng, 5))
    path = tmp_path / "text.faiss"
    index.save(path, generation=7)
    index.save(path, generation=7)  # overwriting leaves no debris either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.faiss", "text.faiss.json"]
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "text.faiss.json") == 0o600
    meta = json.loads((tmp_path / "text.faiss.json").read_text())
    assert {k: meta[k] for k in ("generation", "count", "dim", "max_id", "kind")} == {
        "generation": 7,
        "count": 5,
        "dim": DIM,
        "max_id": 5,
        "kind": "flat",
    }

    loaded = VectorIndex.load(path, DIM, generation=7)
    assert loaded is not None and loaded.ntotal == 5
    q = _unit(rng, 1)[0]
    for a, b in zip(index.search(q, 5), loaded.search(q, 5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    index = VectorIndex(DIM)
    index.add(np.arange(1, 3, dtype=np.int64), _unit(np.random.default_rng(11), 2))
    target = tmp_path / "text.faiss"
    target.mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        index.save(target, generation=1)
    assert [p.name for p in tmp_path.iterdir()] == ["text.faiss"]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    index = VectorIndex(DIM)
    index.add(np.arange(1, 4, dtype=np.int64), _unit(np.random.default_rng(12), 3))
    path = tmp_path / "text.faiss"
    index.save(path, generation=3)
    assert VectorIndex.load(path, DIM, 3) is not None
    return path


def test_load_refuses_other_generation(saved: Path) -> None:
    assert VectorIndex.load(saved, DIM, generation=4) is None
    assert VectorIndex.load(saved, DIM, generation=2) is None


def test_load_refuses_missing_sidecar(saved: Path) -> None:
    (saved.parent / "text.faiss.json").unlink()
    assert VectorIndex.load(saved, DIM, generation=3) is None


def test_load_refuses_missing_or_corrupt_faiss_file(saved: Path) -> None:
    saved.write_bytes(os.urandom(256))
    assert VectorIndex.load(saved, DIM, generation=3) is None
    saved.write_bytes(b"")
    assert VectorIndex.load(saved, DIM, generation=3) is None
    saved.unlink()
    assert VectorIndex.load(saved, DIM, generation=3) is None


def test_load_refuses_corrupt_sidecar_or_count_mismatch(saved: Path) -> None:
    sidecar = saved.parent / "text.faiss.json"
    sidecar.write_text("{not json")
    assert VectorIndex.load(saved, DIM, generation=3) is None
    sidecar.write_text(json.dumps({"generation": 3, "count": 99, "dim": DIM}))
    assert VectorIndex.load(saved, DIM, generation=3) is None


def test_load_refuses_other_dim(saved: Path) -> None:
    assert VectorIndex.load(saved, DIM * 2, generation=3) is None
    # Even if the sidecar lies about the dim, the index's own dim is checked.
    sidecar = saved.parent / "text.faiss.json"
    sidecar.write_text(json.dumps({"generation": 3, "count": 3, "dim": DIM * 2}))
    assert VectorIndex.load(saved, DIM * 2, generation=3) is None


def test_vector_store_rebuilds_stale_index_with_same_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    directory = tmp_path / "index"
    cat = Catalog.open(directory, create=True, writable=True)
    try:
        for n in range(4):
            _add_file(cat, f"/p/{n}.txt", {"text": _unit(rng, 3), "visual": _unit(rng, 1, 4)})
        query = _unit(rng, 1)[0]

        store = VectorStore(directory, cat, SPACES)
        assert store.saved("text") is None
        first = store.index("text")
        assert first.ntotal == 12
        assert store.index("text") is first  # cached
        before = first.search(query, 5)
        assert store.save_if_consistent()
        assert store.saved("text") is not None
        assert store.saved("visual") is not None  # every space is saved, loaded or not
        assert not store.save_if_consistent() or store.saved("text") is not None

        # A current file is loaded, not rebuilt: plant one that differs from SQLite.
        planted = VectorIndex(DIM)
        planted.add(np.array([999], dtype=np.int64), _unit(rng, 1))
        planted.save(store.path("text"), cat.generation)
        assert VectorStore(directory, cat, SPACES).index("text").ntotal == 1

        with cat.transaction():
            cat.bump_generation()  # e.g. a crash after commit but before the FAISS save
        assert store.saved("text") is None
        stale = VectorStore(directory, cat, SPACES)
        rebuilt = stale.index("text")
        assert rebuilt.ntotal == 12  # from SQLite, not the planted file
        scores, ids = rebuilt.search(query, 5)
        np.testing.assert_array_equal(ids, before[1])
        np.testing.assert_allclose(scores, before[0], rtol=1e-6)
        assert stale.save_if_consistent()
        assert stale.saved("text") is not None
        assert store.path("text").stat().st_size > 0
    finally:
        cat.close()


def test_vector_store_rebuild_reflects_deletions(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    cat = Catalog.open(tmp_path, create=True, writable=True)
    try:
        keep = _add_file(cat, "/p/keep.txt", {"text": _unit(rng, 2)})
        gone = _add_file(cat, "/p/gone.txt", {"text": _unit(rng, 2)})
        store = VectorStore(tmp_path, cat, SPACES)
        store.rebuild()
        with cat.transaction():
            removed = cat.delete_files([gone])
            cat.bump_generation()
        fresh = VectorStore(tmp_path, cat, SPACES)
        assert fresh.saved("text") is None
        index = fresh.index("text")
        _, ids = index.search(_unit(rng, 1)[0], 10)
        assert not set(ids.tolist()) & set(removed["text"])
        assert len(ids) == 2 and keep
    finally:
        cat.close()


def test_saved_needs_the_faiss_file_too(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path, create=True, writable=True)
    try:
        store = VectorStore(tmp_path, cat, SPACES)
        store.rebuild()
        assert store.saved("text") is not None
        store.path("text").unlink()
        assert store.saved("text") is None
        assert store.save_if_consistent()  # a missing file is rewritten by the next writer
        assert store.saved("text") is not None
        (tmp_path / "text.faiss.json").write_text("garbage")
        assert store.saved("text") is None
    finally:
        cat.close()


def test_transactions_mirror_commits_into_faiss_and_save_at_the_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    cat = Catalog.open(tmp_path, create=True, writable=True)
    try:
        old = _add_file(cat, "/p/old.txt", {"text": _unit(rng, 2)})
        store = VectorStore(tmp_path, cat, SPACES)
        with store.writing():
            with store.transaction() as tx:
                tx.delete_files([old])
                new = tx.add_file("/p/new.txt", "text", 1, 1, "h", {})
                (image_item,) = tx.add_items(new, [NewItem("visual", 0, None, _unit(rng, 1, 4)[0])])
                text_items = tx.add_items(new, [NewItem("text", 0, "a", _unit(rng, 1)[0])])
            assert tx.items_added == 2
            assert set(store.index("text").ids().tolist()) == set(text_items)
            assert store.index("visual").ids().tolist() == [image_item]
            assert store.saved("text") is None  # saved when the run ends, not per commit
        assert cat.generation == 2
        assert store.saved("text") is not None
        assert store.saved("visual") is not None
        saved = store.saved("text")
        assert saved is not None and set(saved.ids().tolist()) == set(text_items)
    finally:
        cat.close()


def test_a_failed_transaction_changes_neither_sqlite_nor_faiss(tmp_path: Path) -> None:
    rng = np.random.default_rng(22)
    cat = Catalog.open(tmp_path, create=True, writable=True)
    try:
        kept = _add_file(cat, "/p/kept.txt", {"text": _unit(rng, 2)})
        store = VectorStore(tmp_path, cat, SPACES)
        with pytest.raises(KeyboardInterrupt), store.writing(), store.transaction() as tx:
            tx.delete_files([kept])
            raise KeyboardInterrupt
        assert cat.generation == 1
        assert store.index("text").ntotal == 2
        assert store.saved("text") is not None  # consistent, so saved on the way out
    finally:
        cat.close()


def test_faiss_that_disagrees_with_sqlite_is_never_saved(tmp_path: Path) -> None:
    """A Ctrl-C between a commit and its mirror leaves FAISS behind SQLite: not saved."""
    rng = np.random.default_rng(23)
    cat = Catalog.open(tmp_path, create=True, writable=True)
    try:
        _add_file(cat, "/p/a.txt", {"text": _unit(rng, 3)})
        store = VectorStore(tmp_path, cat, SPACES)
        store.index("text").remove([int(store.index("text").ids()[0])])
        assert not store.save_if_consistent()
        assert store.saved("text") is None
    finally:
        cat.close()


def test_a_reader_store_never_writes_and_cannot(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    writer = Catalog.open(tmp_path, create=True, writable=True)
    _add_file(writer, "/p/a.txt", {"text": _unit(rng, 3)})
    writer.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    cat = Catalog.open(tmp_path)
    try:
        store = VectorStore(tmp_path, cat, SPACES, writable=False)
        assert store.index("text").ntotal == 3  # rebuilt in memory
        assert store.calibration().stats  # computed in memory
        with pytest.raises(RuntimeError), store.transaction():
            pass
        with pytest.raises(RuntimeError):
            store.rebuild()
    finally:
        cat.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_mapped_index_searches_the_same_and_copies_itself_before_a_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 1500, dtype=np.int64)
    index = VectorIndex(16)
    index.add(ids, vectors)
    path = tmp_path / "text.faiss"
    index.save(path, 7)
    mapped = VectorIndex.load(path, 16, 7, mapped=True)
    assert mapped is not None and mapped.mapped
    for row in (0, 250, 499):
        a_scores, a_ids = index.search(vectors[row], 10)
        b_scores, b_ids = mapped.search(vectors[row], 10)
        assert np.array_equal(a_ids, b_ids) and np.allclose(a_scores, b_scores)
    mapped.remove([1000, 1001])
    mapped.add(np.array([7], dtype=np.int64), vectors[:1])
    assert not mapped.mapped and mapped.ntotal == 499
    _, found = mapped.search(vectors[0], 1)
    assert found.tolist() == [7]
    reloaded = VectorIndex.load(path, 16, 7)  # the file itself was never touched
    assert reloaded is not None and reloaded.ntotal == 500


def test_an_index_of_schema_1_is_migrated_by_a_writer_only(tmp_path: Path) -> None:
    """An index made by the previous release (float32 BLOBs) upgrades in place."""
    from xmodal_cli.store.schema import MIGRATIONS

    rng = np.random.default_rng(30)
    vectors = _unit(rng, 3)
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '1')")
    conn.execute("INSERT INTO files VALUES (1, '/p/a.txt', 'text', 1, 1, 'h', 0, NULL)")
    for n, vector in enumerate(vectors):
        conn.execute(
            "INSERT INTO items(file_id, space, position, vector) VALUES (1, 'text', ?, ?)",
            (n, vector.astype(np.float32).tobytes()),
        )
    conn.execute("INSERT INTO files VALUES (2, '/p/b.txt', 'text', 1, 1, 'h2', 0, NULL)")
    conn.execute("INSERT INTO items(file_id, space, position, vector) VALUES (2, 'text', 0, x'00')")
    conn.close()

    with pytest.raises(XmodalError, match="schema 1"):
        Catalog.open(tmp_path)  # a reader says how to upgrade, and changes nothing
    assert sql(tmp_path, "SELECT length(vector) FROM items WHERE position = 0 AND file_id = 1") == [
        (DIM * 4,)
    ]
    writer = Catalog.open(tmp_path, writable=True)
    try:
        assert writer.user_version() == SCHEMA_VERSION == 7
        assert sql(tmp_path, "SELECT name FROM sqlite_master WHERE name = 'files_modality'")
        for covering in ("items_file_space", "files_path_type"):  # schema 6
            assert sql(tmp_path, "SELECT name FROM sqlite_master WHERE name = ?", covering)
        assert writer.generation == 1  # the vectors' values did not change: FAISS stays valid
        halves = vectors.astype(np.float16).astype(np.float32)  # schema 2's step, then 4's
        np.testing.assert_array_equal(writer.file_vectors(1, "text", DIM), _stored(halves))
        assert writer.count_bad_vectors("text", DIM) == 1  # the broken one is left for check
    finally:
        writer.close()
    assert sql(tmp_path, "SELECT length(vector) FROM items WHERE position = 0 AND file_id = 1") == [
        (4 + DIM,)
    ]


def test_a_float16_index_of_schema_3_is_migrated_to_int8_and_searches_the_same(
    tmp_path: Path,
) -> None:
    """An index as the previous release left it (float16 BLOBs, schema 3, an approximate
    FAISS file): readers refuse it with the command that upgrades it; a writer converts its
    vectors in place (no re-encoding, no FAISS rebuild); searches give the same results."""
    from xmodal_cli.store.vector_index import RERANK

    dim, rng = 384, np.random.default_rng(31)
    centres = rng.standard_normal((20, dim))
    points = centres[rng.integers(0, 20, 700)] + 0.4 * rng.standard_normal((700, dim))
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    vectors, queries = points[:600], points[600:]
    spaces = {"text": dim}
    cat = Catalog.open(tmp_path, create=True)
    store = VectorStore(tmp_path, cat, spaces, approximate_from=500)
    original: dict[int, np.ndarray] = {}
    with store.writing(), store.transaction() as tx:
        for n, vector in enumerate(vectors):
            file_id = tx.add_file(f"/p/{n}.txt", "text", 1, 1, f"h{n}", {})
            (item_id,) = tx.add_items(file_id, [NewItem("text", 0, None, vector)])
            original[item_id] = vector
    assert store.index("text").approximate
    cat.close()
    # What the previous release wrote: the same rows with float16 BLOBs, at schema 3.
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    for item_id, blob in conn.execute("SELECT id, vector FROM items").fetchall():
        half = codec.matrix([blob], dim).astype(np.float16).tobytes()
        conn.execute("UPDATE items SET vector = ? WHERE id = ?", (half, item_id))
    for statement in UNDO_TO_SCHEMA_4:
        conn.execute(statement)
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.execute("PRAGMA user_version = 3")
    conn.execute("VACUUM")
    conn.close()
    pages_before = sql(tmp_path, "PRAGMA page_count")[0][0]

    # Its results: candidates from the saved file, re-ranked with the float16 vectors.
    saved = VectorIndex.load(tmp_path / "text.faiss", dim, None)
    assert saved is not None and saved.approximate
    halves = dict(sql(tmp_path, "SELECT id, vector FROM items"))
    before = []
    for query in queries:
        _, candidates = saved.search(query, 10 * RERANK)
        old = np.stack([np.frombuffer(halves[int(i)], np.float16) for i in candidates])
        before.append(candidates[np.argsort(-(old.astype(np.float32) @ query))[:10]].tolist())

    with pytest.raises(XmodalError, match="schema 3") as caught:
        Catalog.open(tmp_path)
    assert caught.value.hint is not None and "xmodal check --repair" in caught.value.hint
    assert sql(tmp_path, "SELECT DISTINCT length(vector) FROM items") == [(2 * dim,)]

    writer = Catalog.open(tmp_path, writable=True)
    assert writer.user_version() == SCHEMA_VERSION == 7 and writer.generation == 1
    writer.close()
    assert sql(tmp_path, "SELECT DISTINCT length(vector) FROM items") == [(4 + dim,)]
    assert sql(tmp_path, "PRAGMA page_count")[0][0] < pages_before  # vacuumed once

    reader_catalog = Catalog.open(tmp_path)
    try:
        reader = VectorStore(tmp_path, reader_catalog, spaces, writable=False)
        after = [reader.search("text", query, 10)[1].tolist() for query in queries]
        assert reader.index("text").generation == 1  # the saved file was still current
    finally:
        reader_catalog.close()
    # The same results but for neighbours whose true scores tie within the codecs' rounding
    # (these clustered points are dense: 797 of their 1000 top-10 gaps are below 2e-3), so
    # each rank's true score is compared, not its id.
    pairs = list(zip(after, before, strict=True))
    assert sum(a[0] == b[0] for a, b in pairs) >= 0.95 * len(pairs)
    assert sum(len(set(a) & set(b)) for a, b in pairs) >= 0.97 * 10 * len(pairs)
    for query, a, b in zip(queries, after, before, strict=True):
        true_a = [float(original[i] @ query) for i in a]
        true_b = [float(original[i] @ query) for i in b]
        np.testing.assert_allclose(true_a, true_b, atol=2e-3)


@pytest.mark.slow
def test_the_int8_codec_keeps_every_ranking_of_the_real_photos(lite_profile, photo_dir) -> None:
    """Real EfficientNet and ConSE vectors of the sample photos, stored and read back: every
    transformed copy (cropped, darkened, rescaled) still finds its original first, and each
    image->image and text->image ranking equals float32's up to ties within 2e-3."""
    from PIL import Image, ImageEnhance

    from xmodal_cli.media.image import decode_image

    names = sorted(p.name for p in photo_dir.iterdir())
    originals = [Image.open(photo_dir / n).convert("RGB") for n in names]
    copies = []
    for image in originals:
        w, h = image.size
        copies += [
            image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
            ImageEnhance.Brightness(image).enhance(0.55),
            image.resize((max(32, w // 3), max(32, h // 3))),
        ]
    paths = []
    for n, image in enumerate(originals + copies):
        paths.append(photo_dir.parent / f"codec-{n}.png")
        image.save(paths[-1])
    pixels = np.stack([decode_image(str(p)).pixels for p in paths])
    encoded = lite_profile.encode_images(pixels).vectors
    queries = {
        "visual": encoded["visual"][len(names) :],
        "text": lite_profile.encode_texts([f"a photo of {n.split('.')[0]}" for n in names]),
    }
    for space, query in queries.items():
        stored = encoded[space][: len(names)]
        exact, read_back = query @ stored.T, query @ _stored(stored).T
        assert np.abs(read_back - exact).max() < 2e-3, space
        for row in range(len(query)):
            order = np.argsort(-read_back[row], kind="stable")
            # Each rank holds the item float32 put there, or one tied with it within 2e-3.
            np.testing.assert_allclose(
                exact[row][order], np.sort(exact[row])[::-1], atol=2e-3, err_msg=space
            )
    firsts = np.argmax(queries["visual"] @ _stored(encoded["visual"][: len(names)]).T, axis=1)
    assert firsts.tolist() == [n for n in range(len(names)) for _ in range(3)]
