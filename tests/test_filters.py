"""Filters on date, place, size, length, extension and camera, on real photos whose EXIF was
written with Pillow, real sounds, and a note; pushed into the search by indexed columns."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from bench import sample_sounds as sounds
from tests.conftest import RecordingProfile, run_index
from tests.sql import UNDO_TO_SCHEMA_4, sql
from xmodal_cli.cli import app
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.errors import UsageError, XmodalError
from xmodal_cli.filtering import make_facets, parse_duration, parse_size
from xmodal_cli.models import SPACE_TEXT
from xmodal_cli.search import make_filters
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.facets import clause
from xmodal_cli.store.schema import SCHEMA_VERSION

NOW = dt.datetime(2024, 1, 31, 12, 0, 0)
LISBON = (38.7223, -9.1393)
TOKYO = (35.6895, 139.6917)


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(abs(value))
    minutes = int((abs(value) - degrees) * 60)
    return float(degrees), float(minutes), round((abs(value) - degrees - minutes / 60) * 3600, 4)


def write_photo(
    source: Path,
    target: Path,
    *,
    taken: str | None = None,
    camera: tuple[str, str] | None = None,
    place: tuple[float, float] | None = None,
    quality: int = 85,
) -> Path:
    """A JPEG copy of a real photo with real EXIF: date taken, make/model, GPS."""
    with Image.open(source) as im:
        exif = Image.Exif()
        if taken:
            exif.get_ifd(0x8769)[36867] = taken  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
        if camera:
            exif[271], exif[272] = camera
        if place:
            lat, lon = place
            gps = exif.get_ifd(0x8825)
            gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
            gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(lon)
        im.convert("RGB").save(target, "JPEG", quality=quality, exif=exif)
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Iterator[Collection]:
    root = tmp_path_factory.mktemp("filters")
    media = root / "media"
    media.mkdir()
    write_photo(
        photo_dir / "chelsea.png",
        media / "cat.jpg",
        taken="2023:06:15 18:30:00",
        camera=("Canon", "Canon EOS 5D Mark IV"),
        place=LISBON,
    )
    write_photo(
        photo_dir / "coffee.png",
        media / "coffee.jpg",
        taken="2021:01:02 08:00:00",
        camera=("Google", "Pixel 7"),
        place=TOKYO,
        quality=98,
    )
    # No EXIF at all: dated by its mtime (local noon, 1 March 2022).
    shutil.copyfile(photo_dir / "astronaut.png", media / "astronaut.png")
    noon = dt.datetime(2022, 3, 1, 12, 0).timestamp()
    os.utime(media / "astronaut.png", (noon, noon))
    sounds.write(media / "short.wav", sounds.music(4.0))
    sounds.write(media / "long.wav", sounds.music(14.0, seed=1))
    (media / "note.txt").write_text("Shopping list: coffee beans, cat food, film for the camera.")
    profile = RecordingProfile()
    with open_collection(root / "index", create=True, profile=profile) as col:
        summary = run_index(col, profile, media)
        assert summary.indexed == 6
    reader = open_collection(root / "index", profile=profile)
    yield reader
    reader.close()


def _found(col: Collection, **facets: Any) -> set[str]:
    # min_relevance=0: every file that passes the filters, however unlike "anything" it is
    filters = make_filters(facets=make_facets(now=NOW, **facets), min_relevance=0)
    return {os.path.basename(r.path) for r in col.search("anything", limit=20, filters=filters)}


def test_no_filter_finds_all_six(corpus: Collection) -> None:
    assert _found(corpus) == {
        "cat.jpg",
        "coffee.jpg",
        "astronaut.png",
        "short.wav",
        "long.wav",
        "note.txt",
    }


def test_dates_taken_are_inclusive_local_times(corpus: Collection) -> None:
    assert _found(corpus, after="2023-06-15", before="2023-06-15") == {"cat.jpg"}
    assert _found(corpus, after="2023-06-15 18:30") == {
        "cat.jpg",
        "short.wav",
        "long.wav",
        "note.txt",
    }
    assert "cat.jpg" not in _found(corpus, before="2023-06-15 18:29")  # 18:29:59 < 18:30:00
    assert _found(corpus, after="2021", before="2021") == {"coffee.jpg"}
    assert _found(corpus, after="2020-12", before="2021-01") == {"coffee.jpg"}


def test_a_file_without_a_date_taken_is_dated_by_its_mtime(corpus: Collection) -> None:
    assert _found(corpus, after="2022-03", before="2022-03") == {"astronaut.png"}
    assert _found(corpus, before="2022-02-28") == {"coffee.jpg"}


def test_relative_ages_count_back_from_now(corpus: Collection) -> None:
    # Written just now: only the files dated by today's mtime are younger than 30 days
    # before the real now; NOW (January 2024) is the fixed "now" of these tests.
    young = _found(corpus, after="400d")  # 400 days before 2024-01-31: 2022-12-27
    assert young == {"cat.jpg", "short.wav", "long.wav", "note.txt"}
    assert _found(corpus, before="2y") == {"coffee.jpg"}  # taken 2021-01-02, before 2022-01-31


def test_near_a_place_name_or_a_point_by_gps(corpus: Collection) -> None:
    assert _found(corpus, near="Lisbon") == {"cat.jpg"}
    assert _found(corpus, near="tokyo, jp", radius=20) == {"coffee.jpg"}
    assert _found(corpus, near="38.70,-9.10", radius=5) == {"cat.jpg"}  # ~4 km away
    assert _found(corpus, near="38.70,-9.10", radius=2) == set()
    assert _found(corpus, near="Porto", radius=100) == set()  # ~275 km north


def test_the_place_is_shown_in_the_snippet(corpus: Collection) -> None:
    filters = make_filters(types=["image"], facets=make_facets(camera="canon"))
    (hit,) = corpus.search("anything", filters=filters)
    assert "Lisbon, PT" in hit.snippet and "2023-06-15 18:30:00" in hit.snippet
    assert hit.info["lat"] == pytest.approx(LISBON[0], abs=1e-4)


def test_extension_size_length_and_camera(corpus: Collection) -> None:
    assert _found(corpus, exts=["JPG"]) == {"cat.jpg", "coffee.jpg"}
    assert _found(corpus, exts=["png", ".txt"]) == {"astronaut.png", "note.txt"}
    sizes = {p.name: p.stat().st_size for p in Path(_media(corpus)).iterdir()}
    middle = sorted(sizes.values())[3]
    expected = {name for name, size in sizes.items() if size >= middle}
    assert _found(corpus, min_size=str(middle)) == expected
    assert _found(corpus, max_size=str(middle - 1)) == set(sizes) - expected
    assert _found(corpus, longer="10s") == {"long.wav"}
    assert _found(corpus, shorter="0:10") == {"short.wav"}  # only recordings have a length
    assert _found(corpus, camera="PIXEL") == {"coffee.jpg"}
    assert _found(corpus, camera="50%") == set()  # LIKE wildcards are taken literally


def _media(col: Collection) -> str:
    return os.path.dirname(next(iter(col.catalog.files())))


def test_broad_and_narrow_filters_take_different_paths_to_the_same_answer(
    corpus: Collection,
) -> None:
    """Few matches: an id selector inside FAISS; many: checked on the hits. Same files."""
    text_space = SPACE_TEXT
    narrow = clause(make_facets(camera="pixel"))
    assert corpus.catalog.matching_items(text_space, "image", (), 1, narrow) is not None
    broad = clause(make_facets(min_size="1"))
    assert corpus.catalog.matching_items(text_space, "image", (), 1, broad) is None
    assert _found(corpus, min_size="1") == _found(corpus)


def test_narrow_facets_are_answered_from_their_indexes(corpus: Collection) -> None:
    for facets, index in (
        (make_facets(after="2023", before="2023"), "files_when"),
        (make_facets(longer="10m"), "files_duration"),
        (make_facets(near="Lisbon"), "files_place"),
        (make_facets(min_size="5MB"), "files_size"),
    ):
        where = clause(facets)
        plan = sql(
            corpus.catalog,
            "EXPLAIN QUERY PLAN SELECT items.id FROM files CROSS JOIN items "
            f"ON items.file_id = files.id WHERE items.space = ? AND +files.modality = ? "
            f"AND {where.sql}",
            "visual",
            "image",
            *where.params,
        )
        assert any(index in row[-1] for row in plan), (index, plan)


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        (["--after", "2023-13"], "2023-06-01"),
        (["--before", "last summer"], "30d"),
        (["--after", "2024", "--before", "2023"], "swap"),
        (["--min-size", "big"], "1MB"),
        (["--longer", "ten minutes"], "10m"),
        (["--near", "Narnia"], "LAT,LON"),
        (["--near", "95,10"], "38.72"),
        (["--radius", "5"], "--near"),
        (["--ext", "*.jpg"], "--ext jpg"),
    ],
)
def test_bad_values_are_usage_errors_with_a_hint(
    corpus: Collection, options: list[str], hint: str
) -> None:
    result = CliRunner().invoke(
        app, ["search", "x", *options, "--index-dir", str(corpus.directory)]
    )
    assert result.exit_code == 2, result.output
    assert "Hint:" in result.output and hint in result.output


def test_units_people_type() -> None:
    assert parse_size("500k") == 500_000 and parse_size("1MB") == 1_000_000
    assert parse_size("1.5MiB") == 1_572_864 and parse_size("2g") == 2 * 10**9
    assert parse_duration("90s") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("1:02:03") == 3723 and parse_duration("10m") == 600
    with pytest.raises(UsageError):
        make_facets(after="6m")  # minutes or months? ask for 6mo


def test_gps_and_date_columns_reach_an_index_made_by_schema_4(
    tmp_path: Path, photo_dir: Path
) -> None:
    """An index written before the facet columns existed: a reader is told to upgrade, a
    writer migrates it, and the filters then see the dates and GPS already in its rows."""
    media = tmp_path / "media"
    media.mkdir()
    write_photo(
        photo_dir / "chelsea.png", media / "cat.jpg", taken="2023:06:15 18:30:00", place=LISBON
    )
    write_photo(photo_dir / "coffee.png", media / "coffee.jpg", taken="2021:01:02 08:00:00")
    profile = RecordingProfile()
    with open_collection(tmp_path / "index", create=True, profile=profile) as col:
        run_index(col, profile, media)
    _back_to_schema_4(tmp_path / "index")
    with pytest.raises(XmodalError, match="schema 4"):
        Catalog.open(tmp_path / "index")
    with open_collection(tmp_path / "index", write=True, profile=profile) as col:
        assert _found(col, after="2023") == {"cat.jpg"}
        assert _found(col, near="Lisbon") == {"cat.jpg"}
    assert sql(tmp_path / "index", "PRAGMA user_version")[0][0] == SCHEMA_VERSION


def _back_to_schema_4(directory: Path) -> None:
    """Make the catalog exactly what schema 4 was: no facet indexes or columns."""
    for statement in UNDO_TO_SCHEMA_4:
        sql(directory, statement)
    sql(directory, "PRAGMA user_version = 4")
    columns = [row[1] for row in sql(directory, "PRAGMA table_info(files)")]
    assert columns == ["id", "path", "modality", "size", "mtime_ns", "hash", "indexed_at", "info"]


def test_similar_takes_the_same_filters(corpus: Collection) -> None:
    cat = os.path.join(_media(corpus), "cat.jpg")
    found = corpus.similar(Path(cat), filters=make_filters(facets=make_facets(camera="pixel")))
    assert [os.path.basename(r.path) for r in found] == ["coffee.jpg"]
    everything = corpus.similar(Path(cat), filters=make_filters(facets=make_facets(after="2020")))
    assert {os.path.basename(r.path) for r in everything} == {"coffee.jpg", "astronaut.png"}
