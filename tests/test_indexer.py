"""Incremental indexing, proven with a recording fake encoder and a real SQLite + FAISS store."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ListReporter, RecordingProfile
from tests.conftest import assert_consistent as _assert_consistent
from tests.conftest import run_index as _run
from tests.sql import sql
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.errors import XmodalError


def _tree(root: Path, photo_dir: Path) -> Path:
    (root / "pics").mkdir(parents=True)
    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "china.jpg"):
        shutil.copyfile(photo_dir / name, root / "pics" / name)
    (root / "notes").mkdir()
    (root / "notes" / "budget.md").write_text(
        "Budget meeting. We agreed to cut travel costs by 10%."
    )
    (root / "notes" / "recipe.txt").write_text("Pancakes: flour, milk, two eggs, a pinch of salt.")
    long_words = " ".join(f"word{i}" for i in range(400))
    (root / "notes" / "long.txt").write_text(long_words)
    return root


@pytest.fixture
def tree(tmp_path: Path, photo_dir: Path) -> Path:
    return _tree(tmp_path / "tree", photo_dir)


@pytest.fixture
def col(tmp_path: Path, recording_profile: RecordingProfile) -> Iterator[Collection]:
    with open_collection(tmp_path / "index", create=True, profile=recording_profile) as c:
        yield c


def test_first_run_encodes_everything_and_second_run_nothing(col, tree, recording_profile):
    first = _run(col, recording_profile, tree)
    assert first.indexed == 7 and first.skipped == 0 and first.unchanged == 0
    assert len(recording_profile.images) == 4
    assert any("Pancakes" in t for t in recording_profile.texts)
    _assert_consistent(col)

    again = RecordingProfile()
    second = _run(col, again, tree)
    assert second.unchanged == 7 and second.indexed == 0
    assert again.texts == [] and again.images == [] and again.calls == 0
    _assert_consistent(col)


def test_long_text_becomes_overlapping_chunks_with_title(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    long_chunks = [t for t in recording_profile.texts if t.startswith("long: ")]
    assert len(long_chunks) >= 4
    counts = col.catalog.counts()
    assert counts["text"]["files"] == 3 and counts["text"]["items"] >= 6
    assert counts["image"] == {"files": 4, "items": 8}  # one text-space + one visual item each


def test_changed_file_is_reencoded_and_old_items_removed(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    note = tree / "notes" / "recipe.txt"
    old_items = sql(
        col.catalog,
        "SELECT items.id FROM items JOIN files ON files.id = items.file_id WHERE path = ?",
        str(note),
    )
    note.write_text("Waffles need a hot iron and plenty of butter.")
    os.utime(note, ns=(1, 1_700_000_000_000_000_000))
    again = RecordingProfile()
    summary = _run(col, again, tree)
    assert summary.indexed == 1 and summary.unchanged == 6
    assert len(again.texts) == 1 and "Waffles" in again.texts[0] and again.images == []
    ids_now = {r[0] for r in sql(col.catalog, "SELECT id FROM items")}
    assert not ids_now & {r[0] for r in old_items}
    _assert_consistent(col)


def test_deleted_files_are_pruned(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    (tree / "pics" / "coffee.png").unlink()
    shutil.rmtree(tree / "notes")
    summary = _run(col, RecordingProfile(), tree)
    assert summary.removed == 4 and summary.unchanged == 3
    assert set(col.catalog.files()) == {str(p) for p in (tree / "pics").iterdir()}
    _assert_consistent(col)


def test_moved_file_reuses_vectors_without_encoding(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    old = tree / "pics" / "chelsea.png"
    before = col.catalog.file_vectors(col.catalog.file_by_path(str(old)).id, "visual", 8)
    (tree / "archive").mkdir()
    new = tree / "archive" / "cat-2019.png"
    old.rename(new)
    again = RecordingProfile()
    summary = _run(col, again, tree)
    assert summary.moved == 1 and summary.indexed == 0 and summary.removed == 0
    assert again.calls == 0
    row = col.catalog.file_by_path(str(new))
    assert row is not None and col.catalog.file_by_path(str(old)) is None
    assert np.array_equal(col.catalog.file_vectors(row.id, "visual", 8), before)
    _assert_consistent(col)


def test_bad_files_are_skipped_counted_and_do_not_stop_the_run(col, tree, recording_profile):
    (tree / "pics" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tree / "pics" / "empty.png").write_bytes(b"")
    (tree / "notes" / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    reporter = ListReporter()
    summary = _run(col, recording_profile, tree, reporter=reporter)
    assert summary.indexed == 7 and summary.skipped == 3
    reasons = dict((Path(p).name, r) for p, r in reporter.skips)
    assert reasons["empty.png"] == "empty file"
    assert reasons["blob.txt"] == "looks like a binary file"
    assert reasons["broken.jpg"].startswith("not a readable image")
    assert summary.skip_reasons["empty file"] == 1
    _assert_consistent(col)


def test_file_that_vanishes_after_the_scan_is_skipped(col, tree, recording_profile):
    reporter = ListReporter()
    reporter.on_start = lambda: (tree / "notes" / "budget.md").unlink()
    summary = _run(col, recording_profile, tree, reporter=reporter)
    assert summary.skipped == 1 and summary.indexed == 6
    assert "vanished" in reporter.skips[0][1]
    _assert_consistent(col)


def test_changed_file_that_became_unreadable_loses_its_old_vectors(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    photo = tree / "pics" / "rocket.jpg"
    photo.write_bytes(photo.read_bytes()[:300])  # truncated by a crashed copy
    summary = _run(col, RecordingProfile(), tree)
    assert summary.skipped == 1 and summary.removed == 1
    assert col.catalog.file_by_path(str(photo)) is None
    _assert_consistent(col)


def test_interrupt_keeps_committed_batches_and_next_run_finishes(col, tree, tmp_path):
    crashing = RecordingProfile(fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        _run(col, crashing, tree)
    committed = set(col.catalog.files())
    assert 0 < len(committed) < 7
    _assert_consistent(col)  # saved FAISS files match what SQLite committed
    resumed = RecordingProfile()
    summary = _run(col, resumed, tree)
    assert summary.unchanged == len(committed) and summary.indexed == 7 - len(committed)
    resumed_titles = {t.split(":")[0] for t in resumed.texts}
    for path in committed:  # nothing that was committed is encoded a second time
        assert Path(path).stem not in resumed_titles
    assert len(resumed.images) == sum(
        p.endswith((".png", ".jpg")) for p in set(col.catalog.files()) - committed
    )
    _assert_consistent(col)


def test_stale_faiss_after_a_crash_is_rebuilt_from_sqlite(tmp_path, tree, recording_profile):
    directory = tmp_path / "index"
    with open_collection(directory, create=True, profile=recording_profile) as c:
        _run(c, recording_profile, tree)
        expected = c.catalog.space_counts()
    (directory / "text.faiss").write_bytes(b"garbage from a crash")
    with open_collection(directory, profile=RecordingProfile()) as c:
        assert c.vectors.saved("text") is None  # the garbage is not taken for an index
        assert c.vectors.index("text").ntotal == expected["text"]  # rebuilt from SQLite
    assert (directory / "text.faiss").read_bytes() == b"garbage from a crash"  # a reader
    with open_collection(directory, write=True, profile=RecordingProfile()) as c:
        assert c.vectors.save_if_consistent()  # the next writer replaces it
        assert c.vectors.saved("text") is not None


def test_exclude_and_hidden(col, tree, recording_profile):
    (tree / ".secret").mkdir()
    (tree / ".secret" / "diary.txt").write_text("dear diary")
    (tree / "notes" / ".hidden.md").write_text("hidden note")
    summary = _run(col, recording_profile, tree, exclude=("*.jpg", "notes"))
    paths = set(col.catalog.files())
    assert summary.indexed == 2
    assert all(p.endswith(".png") for p in paths)
    summary = _run(col, RecordingProfile(), tree, include_hidden=True)
    assert any(p.endswith("diary.txt") for p in col.catalog.files())


def test_missing_root_is_a_clear_error(col, tmp_path, recording_profile):
    with pytest.raises(XmodalError) as err:
        _run(col, recording_profile, tmp_path / "Picturs")
    assert "path not found" in err.value.message and err.value.hint


def test_remove_deletes_rows_vectors_and_text_from_disk(col, tree, recording_profile):
    secret = tree / "notes" / "secret.txt"
    secret.write_text("the password is hunter2-zebra")
    _run(col, recording_profile, tree)
    removed = col.remove([tree / "notes"])
    assert removed == 4
    assert all("/notes/" not in p for p in col.catalog.files())
    _assert_consistent(col)
    sql(col.catalog, "PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in col.directory.iterdir() if p.is_file())
    assert b"hunter2-zebra" not in raw


def test_other_profile_is_refused(tmp_path, recording_profile):
    directory = tmp_path / "index"
    open_collection(directory, create=True, profile=recording_profile).close()
    other = RecordingProfile()
    other.name = "other"
    other.model_ids = {"text": "other-model", "visual": "fake-visual"}
    with pytest.raises(XmodalError) as err:
        open_collection(directory, profile=other)
    assert "fake" in err.value.message and err.value.hint


def test_touched_file_with_same_content_is_not_reencoded(col, tree, recording_profile):
    _run(col, recording_profile, tree)
    photo = tree / "pics" / "coffee.png"
    os.utime(photo, ns=(1, 1_600_000_000_000_000_000))
    again = RecordingProfile()
    summary = _run(col, again, tree)
    assert again.calls == 0 and summary.unchanged == 7 and summary.moved == 0
    assert col.catalog.file_by_path(str(photo)).mtime_ns == 1_600_000_000_000_000_000
    third = RecordingProfile()
    assert _run(col, third, tree).unchanged == 7 and third.calls == 0


def test_pruned_file_leaves_no_text_on_disk(tmp_path, tree):
    secret = tree / "notes" / "secret.txt"
    secret.write_text("the vault code is 7741-aardvark-quince")
    directory = tmp_path / "index"
    with open_collection(directory, create=True, write=True, profile=RecordingProfile()) as c:
        _run(c, RecordingProfile(), tree)
    raw = b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())
    assert b"7741-aardvark-quince" in raw  # the passage is stored (snippets) ...
    secret.unlink()
    with open_collection(directory, write=True, profile=RecordingProfile()) as c:
        assert _run(c, RecordingProfile(), tree).removed == 1
    raw = b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())
    assert b"7741-aardvark-quince" not in raw  # ... and really gone once pruned
