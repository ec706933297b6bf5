"""Words that must match: the FTS5 index beside the vectors (schema 7), kept in step with the
files in the same commits, purged from disk with them, and fused with the dense ranking.

The fake profile's vectors are random, so whatever ranks an exact word first here is the
lexical index, not luck."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import RecordingProfile, assert_consistent, run_index
from tests.documents import QUERIES, write_notes
from tests.sql import UNDO_SCHEMA_7, sql
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.filtering import make_facets
from xmodal_cli.lexical import query_terms
from xmodal_cli.query import Query, parse_query
from xmodal_cli.search import make_filters
from xmodal_cli.store.catalog_lexical import terms_of

_IMAGE_DESCRIPTION = 0x010E


def _tree(root: Path, photo_dir: Path) -> Path:
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "budget.md").write_text("Garage budget: paint, shelves and a new lock.")
    (root / "notes" / "recipe.txt").write_text("Lentil soup: onions, carrots, cumin.")
    (root / "notes" / "roof.txt").write_text("Invoice 4471 from Kowalski Roofing: new gutters.")
    for n in range(12):  # the dense ranking has plenty to choose from
        (root / "notes" / f"note_{n}.txt").write_text(f"Note number {n} about nothing much.")
    (root / "pics").mkdir()
    shutil.copyfile(photo_dir / "coffee.png", root / "pics" / "coffee.png")
    exif = Image.Exif()
    exif[_IMAGE_DESCRIPTION] = "Grandma Wierzbicka at Lake Bled"
    with Image.open(photo_dir / "chelsea.png") as im:
        im.convert("RGB").save(root / "pics" / "holiday.jpg", exif=exif)
    return root


@pytest.fixture
def tree(tmp_path: Path, photo_dir: Path) -> Path:
    return _tree(tmp_path / "tree", photo_dir)


@pytest.fixture
def col(tmp_path: Path, recording_profile: RecordingProfile) -> Iterator[Collection]:
    with open_collection(tmp_path / "index", create=True, profile=recording_profile) as c:
        yield c


def _names(hits: list) -> list[str]:
    return [os.path.basename(h.path) for h in hits]


def _matched(col: Collection, query: str) -> list[str]:
    """The files a search marks as holding every word (the fake vectors rank at random)."""
    return sorted(_names([h for h in col.search(query, limit=30) if h.words]))


def _raw(col: Collection) -> bytes:
    """Every byte of the index folder, after folding the WAL back (as a writer's close does),
    lower-cased: FTS5 keeps its terms folded."""
    sql(col.catalog, "PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in col.directory.iterdir() if p.is_file()).lower()


def test_query_terms_drop_glue_and_keep_what_fts_keeps() -> None:
    assert terms_of("The invoice 4471-B from Kowalski") == ["invoice", "4471", "b", "kowalski"]
    assert terms_of("where is the") == []
    assert query_terms(Query.of("Müller's café")) == ["müller", "s", "café"]
    compound = parse_query(['"2:beach" + "sunset" - "people"'])
    assert query_terms(compound) == ["beach", "sunset"]  # the + terms' words
    assert query_terms(Query.of(" ".join(f"word{n}" for n in range(20)))) == []  # a paragraph


@pytest.fixture(scope="module")
def real(tmp_path_factory, lite_profile, photo_dir) -> Iterator[Collection]:
    """The notes and photos above among the personal notes of tests/documents.py, indexed
    with the real offline models: exact words must win over what the vectors blur."""
    tree = _tree(tmp_path_factory.mktemp("tree"), photo_dir)
    write_notes(tree / "more")
    directory = tmp_path_factory.mktemp("index")
    with open_collection(directory, create=True, write=True, profile=lite_profile) as col:
        run_index(col, lite_profile, tree)
        yield col


def test_exact_words_find_their_file_first(real) -> None:
    for query, expected in (
        ("invoice 4471", "roof.txt"),
        ("Kowalski", "roof.txt"),
        ("Invoice 2023-118", "tax_receipt_2023.txt"),
        ("Meyer", "tax_receipt_2023.txt"),
        ("recipe", "recipe.txt"),  # the file's name
        ("Wierzbicka", "holiday.jpg"),  # EXIF ImageDescription a person wrote
    ):
        hits = real.search(query, limit=5)
        assert _names(hits)[0] == expected, query
        assert hits[0].words and hits[0].as_dict()["words_matched"] is True
    photo = real.search("Wierzbicka", limit=1)[0]
    assert "Wierzbicka" in photo.snippet  # the caption that matched is what is shown
    note = real.search("invoice 4471", limit=1)[0]
    assert note.snippet.startswith("Invoice 4471")
    alone = real.search("invoice 4471", limit=40, filters=make_filters(min_relevance=0))
    assert note.score == max(h.score for h in alone if h.path == note.path)  # still the cosine


def test_paraphrases_still_find_their_notes(real) -> None:
    for query, expected in QUERIES.items():
        assert _names(real.search(query, limit=3))[:1] == [expected], query


def test_lexical_hits_obey_the_filters(real) -> None:
    assert "roof.txt" not in _names(real.search("Kowalski", filters=make_filters(types=["image"])))
    pics = os.path.dirname(real.search("Wierzbicka", limit=1)[0].path)
    under = make_filters(under=[Path(pics)])
    assert all(h.path.startswith(pics) for h in real.search("Kowalski", filters=under))
    assert _names(real.search("Wierzbicka", filters=under))[0] == "holiday.jpg"
    facets = make_filters(facets=make_facets(exts=["jpg"]))
    assert _names(real.search("Wierzbicka", filters=facets)) == ["holiday.jpg"]
    assert "roof.txt" not in _names(real.search("Kowalski", filters=facets))


def test_words_are_written_with_their_file_and_go_with_it(col, tree, recording_profile) -> None:
    secret = tree / "notes" / "secret.txt"
    secret.write_text("the vault code is quince-7741-aardvark")
    folder = tree / "notes" / "Zanzibarproject"
    folder.mkdir()
    (folder / "plan.txt").write_text("Plans.")
    run_index(col, recording_profile, tree)
    raw = _raw(col)
    assert b"aardvark" in raw and b"zanzibarproject" in raw  # the test can see them at all
    assert _matched(col, "aardvark") == ["secret.txt"]

    secret.write_text("nothing to see here")  # changed: its old words must go
    os.utime(secret, ns=(1, 1_700_000_000_000_000_000))
    folder.rename(tree / "notes" / "renamed")  # moved: its old folder name must go
    summary = run_index(col, recording_profile, tree)
    assert summary.moved == 1
    assert _matched(col, "aardvark") == [] and _matched(col, "Zanzibarproject") == []
    assert _matched(col, "renamed") == ["plan.txt"]
    raw = _raw(col)
    assert b"aardvark" not in raw and b"zanzibarproject" not in raw
    assert col.catalog.words.purge_pending() is False

    col.remove([tree / "notes"])
    raw = _raw(col)
    assert b"kowalski" not in raw and b"roofing" not in raw and b"lentil" not in raw
    assert_consistent(col)


def test_deleting_without_the_purge_would_leave_the_words(tmp_path: Path) -> None:
    """Why the purge exists: SQLite 3.40's FTS5 keeps a deleted row's terms in old segments."""
    path = tmp_path / "plain.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    conn.execute("INSERT INTO t(body) VALUES ('gone-xylophonist words')")
    conn.execute("INSERT INTO t(body) VALUES ('other text')")
    conn.execute("DELETE FROM t WHERE body LIKE 'gone%'")
    assert b"xylophonist" in path.read_bytes()
    conn.execute("INSERT INTO t(t) VALUES ('optimize')")
    conn.close()
    assert b"xylophonist" not in path.read_bytes()


def test_an_interrupted_run_leaves_words_and_files_in_step(tmp_path, tree) -> None:
    failing = RecordingProfile(fail_on_call=3)
    with open_collection(tmp_path / "index", create=True, profile=failing) as col:
        with pytest.raises(KeyboardInterrupt):
            run_index(col, failing, tree)
        files = {r[0] for r in sql(col.catalog, "SELECT id FROM files")}
        assert files  # some batches committed before the Ctrl-C
        owners = [r[0] for r in sql(col.catalog, "SELECT file_id FROM words")]
        assert set(owners) == files
        named = sql(col.catalog, "SELECT COUNT(*) FROM words WHERE kind = 'name'")[0][0]
        assert named == len(files)
        sql(col.catalog, "INSERT INTO words_fts(words_fts, rank) VALUES ('integrity-check', 1)")


def test_a_purge_left_pending_by_a_killed_run_is_done_by_the_next_writer(
    col, tree, recording_profile
) -> None:
    run_index(col, recording_profile, tree)
    assert col.catalog.words.purge_pending() is False
    roof = col.catalog.file_by_path(str(tree / "notes" / "roof.txt"))
    with col.vectors.transaction() as tx:  # a commit, and the kill before the run's end
        tx.delete_files([roof.id])
    assert sql(col.catalog, "SELECT value FROM meta WHERE key = 'words_purge'") == [("1",)]
    assert b"kowalski" in _raw(col)  # in an FTS segment: the rows themselves were zeroed
    with col.vectors.writing():  # the next writer
        pass
    assert b"kowalski" not in _raw(col)


def test_an_index_of_schema_6_gets_its_words(tmp_path, tree, recording_profile) -> None:
    directory = tmp_path / "index"
    with open_collection(directory, create=True, profile=recording_profile) as col:
        run_index(col, recording_profile, tree)
    for statement in UNDO_SCHEMA_7:
        sql(directory, statement)
    sql(directory, "PRAGMA user_version = 6")
    with open_collection(directory, write=True, profile=recording_profile) as col:
        kinds = dict(sql(col.catalog, "SELECT kind, COUNT(*) FROM words GROUP BY kind"))
        assert kinds["name"] == len(col.catalog.files())
        assert kinds["passage"] >= 15  # every note's passages (captions come at re-index)
        assert _matched(col, "Kowalski") == ["roof.txt"]
