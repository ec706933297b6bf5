"""`xmodal check [--repair]`, the writer lock, and leftovers of killed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import RecordingProfile
from tests.documents import write_notes
from tests.sql import sql
from xmodal_cli.cli import app
from xmodal_cli.collection import open_collection
from xmodal_cli.errors import XmodalError
from xmodal_cli.indexer import IndexOptions, index_paths
from xmodal_cli.store.lock import IndexLock
from xmodal_cli.store.vectors import VectorIndex

runner = CliRunner()


@pytest.fixture
def built(tmp_path, photo_dir):
    """A small index made with the fake profile; returns its directory and the tree."""
    tree = tmp_path / "tree"
    write_notes(tree / "notes")
    (tree / "pics").mkdir()
    for name in ("chelsea.png", "coffee.png"):
        (tree / "pics" / name).write_bytes((photo_dir / name).read_bytes())
    directory = tmp_path / "index"
    profile = RecordingProfile()
    with open_collection(directory, create=True, write=True, profile=profile) as col:
        index_paths(
            [tree],
            vectors=col.vectors,
            profile=profile,
            options=IndexOptions(),
        )
    return directory, tree


def _open(directory: Path, write: bool = False):
    return open_collection(directory, write=write, profile=RecordingProfile())


def test_fresh_index_is_clean(built):
    directory, _ = built
    with _open(directory) as col:
        report = col.check()
    assert report.ok and report.notes == []
    assert report.checked["files"] == 10 and report.checked["visual_vectors"] == 2


def test_faiss_file_claiming_current_but_wrong_is_a_problem_and_repair_fixes_it(built):
    directory, _ = built
    with _open(directory) as col:
        generation = col.catalog.generation
        wrong = VectorIndex(8)
        wrong.add(np.array([999], dtype=np.int64), np.ones((1, 8), np.float32))
        wrong.save(col.vectors.path("visual"), generation)
        report = col.check()
    assert [p.code for p in report.problems] == ["faiss-mismatch"]
    with _open(directory, write=True) as col:
        repaired = col.check(repair=True)
    assert repaired.ok and any("rebuilt" in line for line in repaired.repaired)
    with _open(directory) as col:
        assert col.check().ok


def test_unusable_vector_rows_are_reported_and_repaired(built):
    directory, _ = built
    with _open(directory) as col:
        sql(col.catalog, "UPDATE items SET vector = x'00' WHERE id = (SELECT MIN(id) FROM items)")
        report = col.check()
    assert {p.code for p in report.problems} >= {"bad-vector"}
    with _open(directory, write=True) as col:
        repaired = col.check(repair=True)
    assert repaired.ok
    assert any("unusable" in line for line in repaired.repaired)


def test_stale_faiss_and_missing_files_are_notes_not_problems(built):
    directory, tree = built
    (directory / "text.faiss.json").unlink()
    (tree / "notes" / "pancakes.md").unlink()
    with _open(directory) as col:
        report = col.check()
    assert report.ok
    assert {n.code for n in report.notes} == {"faiss-stale", "file-missing"}
    missing = next(n for n in report.notes if n.code == "file-missing")
    assert missing.examples == [str(tree / "notes" / "pancakes.md")]


def test_check_cli_exit_codes_json_and_repair(tmp_path):
    notes = tmp_path / "notes"
    write_notes(notes)
    directory = tmp_path / "idx"
    assert (
        runner.invoke(app, ["index", str(notes), "--index-dir", str(directory), "-q"]).exit_code
        == 0
    )
    clean = runner.invoke(app, ["check", "--json", "--index-dir", str(directory)])
    assert clean.exit_code == 0 and json.loads(clean.stdout)["ok"] is True

    generation = int(json.loads((directory / "text.faiss.json").read_text())["generation"])
    wrong = VectorIndex(384)
    wrong.add(np.array([12345], dtype=np.int64), np.ones((1, 384), np.float32))
    wrong.save(directory / "text.faiss", generation)
    broken = runner.invoke(app, ["check", "--index-dir", str(directory)])
    assert broken.exit_code == 1
    assert "problem: text.faiss disagrees with the catalog" in broken.stdout

    repaired = runner.invoke(app, ["check", "--repair", "--json", "--index-dir", str(directory)])
    assert repaired.exit_code == 0 and json.loads(repaired.stdout)["repaired"]
    assert runner.invoke(app, ["check", "--index-dir", str(directory)]).exit_code == 0


def test_second_writer_is_refused_with_the_holder_pid(built):
    directory, _ = built
    with IndexLock(directory):
        with pytest.raises(XmodalError) as err:
            _open(directory, write=True)
        assert f"pid {os.getpid()}" in err.value.message
        with _open(directory) as reader:  # searching while indexing is fine
            assert reader.check().checked["files"] == 10
    with _open(directory, write=True):
        pass  # released: the next writer gets in


def test_lock_of_a_dead_process_does_not_block(built):
    directory, _ = built
    holder = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pathlib, sys\n"
            "from xmodal_cli.store.lock import IndexLock\n"
            "IndexLock(pathlib.Path(sys.argv[1])).acquire()\n",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert holder.returncode == 0  # it died holding the lock (no release)
    assert (directory / "index.lock").read_text().strip().isdigit()
    with _open(directory, write=True):
        pass


def test_writer_clears_temp_files_a_killed_save_left(built):
    directory, _ = built
    (directory / ".text.faiss-k3j2").write_bytes(b"half written")
    (directory / ".calibration.npz-99x").write_bytes(b"half written")
    with _open(directory) as col:
        assert {n.code for n in col.check().notes} == {"temp-files"}
    with _open(directory, write=True):
        pass
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]


def test_index_files_are_private(tmp_path):
    notes = tmp_path / "notes"
    write_notes(notes)
    directory = tmp_path / "idx"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xmodal_cli",
            "index",
            str(notes),
            "--index-dir",
            str(directory),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert directory.stat().st_mode & 0o777 == 0o700
    for path in directory.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


# -- the lexical index (FTS5, schema 7) -----------------------------------------------------
def _exact(directory: Path, word: str) -> list[str]:
    """Names of the files a search finds by their words (not by their vectors alone)."""
    with _open(directory) as col:
        return [Path(h.path).name for h in col.search(word, limit=20) if h.words]


def test_lexical_rows_deleted_behind_the_index_are_found_and_restored(built):
    directory, tree = built
    assert _exact(directory, "Narita") == ["japan_itinerary.md"]
    pancakes = str(tree / "notes" / "pancakes.md")
    # Another program deletes rows: a note's passages (the triggers keep FTS in step) …
    sql(directory, "DELETE FROM words WHERE kind = 'passage' AND body LIKE '%Narita%'")
    # … a file's name row, one row from the FTS index alone, and adds a row for no file.
    sql(directory, "DELETE FROM words WHERE kind = 'name' AND body = ?", pancakes)
    sql(directory, "DELETE FROM words_fts WHERE rowid = (SELECT MAX(id) FROM words)")
    sql(directory, "INSERT INTO words(file_id, position, kind, body) VALUES (9999, 0, 'x', 'y')")
    assert _exact(directory, "Narita") == []  # what the damage costs a user
    with _open(directory) as col:
        report = col.check()
    found = {p.code: p for p in report.problems}
    assert set(found) == {
        "lexical-corrupt",
        "lexical-missing-name",
        "lexical-missing-words",
        "lexical-orphans",
    }, report.as_dict()
    assert found["lexical-missing-name"].examples == [pancakes]
    assert found["lexical-missing-words"].count == 1
    assert found["lexical-missing-words"].examples == [str(tree / "notes" / "japan_itinerary.md")]
    assert found["lexical-orphans"].count == 1
    broken = runner.invoke(app, ["check", "--index-dir", str(directory)])
    assert broken.exit_code == 1 and "lexical index" in broken.stdout

    fixed = runner.invoke(app, ["check", "--repair", "--json", "--index-dir", str(directory)])
    assert fixed.exit_code == 0, fixed.output
    report_json = json.loads(fixed.stdout)
    assert report_json["ok"] and any("lexical index" in r for r in report_json["repaired"])
    assert runner.invoke(app, ["check", "--index-dir", str(directory)]).exit_code == 0
    assert _exact(directory, "Narita") == ["japan_itinerary.md"]
    assert _exact(directory, "pancakes") == ["pancakes.md"]  # by its name again
    with _open(directory) as col:
        assert col.catalog.words.purge_pending() is False  # the dropped row's terms are gone


def test_a_damaged_fts_index_is_a_problem_that_repair_rebuilds(built):
    directory, _ = built
    sql(directory, "DELETE FROM words_fts_docsize WHERE id = (SELECT MIN(id) FROM words)")
    with _open(directory) as col:
        assert [p.code for p in col.check().problems] == ["lexical-corrupt"]
    with _open(directory, write=True) as col:
        assert col.check(repair=True).ok
    assert _exact(directory, "Narita") == ["japan_itinerary.md"]
