"""Compound queries, --like, --plain, --sort, readable tables, batch queries and completion."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from tests.conftest import RecordingProfile
from tests.documents import write_notes
from xmodal_cli.cli import app
from xmodal_cli.collection import open_collection
from xmodal_cli.errors import UsageError
from xmodal_cli.models import SPACE_TEXT
from xmodal_cli.query import NEGATIVE_CAP, Term, combine, parse_query

runner = CliRunner()


def xmodal(*args: str | Path, stdin: str | None = None) -> Result:
    return runner.invoke(app, [str(a) for a in args], input=stdin)


@pytest.mark.parametrize(
    "text", ["C++", "state-of-the-art", "10:30 standup", "John 3:16", "Q3 report - final"]
)
def test_plain_text_keeps_its_meaning(text: str) -> None:
    assert parse_query([text]).terms == (Term(1.0, text=text),)


@pytest.mark.parametrize(
    ("words", "terms"),
    [
        (['"beach" + "sunset" - "people"'], [(1, "beach"), (1, "sunset"), (-1, "people")]),
        (["beach", "+", "sunset", "-", "people"], [(1, "beach"), (1, "sunset"), (-1, "people")]),
        (['"2:snow" + "mountain hut"'], [(2, "snow"), (1, "mountain hut")]),
        (["0.5:snow", "-", "1: 10:30 rain"], [(0.5, "snow"), (-1, "10:30 rain")]),
    ],
)
def test_compound_terms_and_weights(words: list[str], terms: list[tuple[float, str]]) -> None:
    parsed = parse_query(words)
    assert [(t.weight, t.text) for t in parsed.terms] == terms


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (['"beach" + sunset'], "cannot tell whether"),
        (['"a"+"b"'], "cannot tell whether"),
        (['"10:30 standup" + "agenda"'], "has a weight"),
        (['"0:snow" + "hut"'], "above 0"),
        (['"" + "hut"'], "empty"),
        (["a", "cat"], "separate words"),
        (["a", "+"], "needs a term after it"),
        (["+", "a"], "needs a term before"),
        (["a", "-", "-", "b"], "needs a term before"),
        (['"a" - "b"', "-", "c", "d"], "two terms without"),
        (["-", "people"], "needs a term before"),
        (["   "], "empty"),
    ],
)
def test_invalid_forms_are_usage_errors_with_a_hint(words: list[str], problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_query(words)
    assert problem in caught.value.message and caught.value.hint
    assert caught.value.exit_code == 2


def test_plain_turns_the_grammar_off() -> None:
    parsed = parse_query(['"beach" + sunset'], plain=True)
    assert parsed.terms == (Term(1.0, text='"beach" + sunset'),)


def test_a_leading_minus_needs_an_example(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs a term before"):
        parse_query(["-", "grass"])  # nothing positive to look for
    parsed = parse_query(["-", "grass"], likes=[tmp_path / "rex.jpg"])
    assert [(t.weight, t.text, t.path) for t in parsed.terms] == [
        (-1.0, "grass", None),
        (1.0, None, str(tmp_path / "rex.jpg")),
    ]


def _unit(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_combine_weights_and_renormalises() -> None:
    snow, hut = _unit(1), _unit(2)
    combined = combine([(2.0, snow), (1.0, hut)])
    expected = (2 * snow + hut) / np.linalg.norm(2 * snow + hut)
    assert np.allclose(combined, expected, atol=1e-6)
    assert float(np.linalg.norm(combined)) == pytest.approx(1.0)
    assert combine([(1.0, snow)]) is snow  # a plain query keeps its very vector


@pytest.mark.parametrize("seed", range(5))
def test_a_negative_lowers_but_never_cancels_or_flips_the_query(seed: int) -> None:
    positive = _unit(seed)
    for negative in (positive, _unit(seed + 100), -positive, (positive + _unit(seed + 7)) / 2):
        negative = negative / np.linalg.norm(negative)
        combined = combine([(1.0, positive), (-3.0, negative)])
        assert np.isfinite(combined).all()
        # never further than asin(NEGATIVE_CAP) from what the positive terms ask for
        assert float(combined @ positive) >= np.sqrt(1 - NEGATIVE_CAP**2) - 1e-6
        assert float(combined @ negative) <= float(positive @ negative) + 1e-6


class _FixedProfile(RecordingProfile):
    """Encodes the text "COMBINED" as a given vector, to search with it directly."""

    def __init__(self, vector: np.ndarray | None = None) -> None:
        super().__init__()
        self.vector = vector

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        if text == "COMBINED" and self.vector is not None:
            return {SPACE_TEXT: self.vector}
        return super().encode_query(text, spaces)


@pytest.fixture(scope="module")
def notes_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    notes = tmp_path_factory.mktemp("q-notes")
    write_notes(notes)
    directory = tmp_path_factory.mktemp("q-index")
    with open_collection(directory, create=True, profile=RecordingProfile()) as collection:
        collection.index([notes])
    return directory


def _hits(directory: Path, query: Any, profile: RecordingProfile) -> list[tuple[str, float]]:
    with open_collection(directory, profile=profile) as collection:
        return [(h.path, round(h.score, 5)) for h in collection.search(query, limit=8)]


def test_each_term_is_encoded_once_and_combined_in_its_space(notes_index: Path) -> None:
    profile = RecordingProfile()
    compound = _hits(notes_index, parse_query(['"2:snow" + "hut" - "rain"']), profile)
    assert profile.texts == ["snow", "hut", "rain"]  # one encoding per term, quotes gone
    snow, hut, rain = (profile.encode_texts([t])[0] for t in ("snow", "hut", "rain"))
    expected = combine([(2.0, snow), (1.0, hut), (-1.0, rain)])
    assert _hits(notes_index, "COMBINED", _FixedProfile(expected)) == compound
    assert _hits(notes_index, "snow", RecordingProfile()) != compound


def test_a_string_searched_plainly_is_encoded_as_written(notes_index: Path) -> None:
    profile = RecordingProfile()
    _hits(notes_index, parse_query(['"a" + "b"'], plain=True), profile)
    assert profile.texts == ['"a" + "b"']
    _hits(notes_index, "C++ state-of-the-art", profile)
    assert profile.texts[-1] == "C++ state-of-the-art"


def test_a_query_minus_itself_still_finds_what_it_names(notes_index: Path) -> None:
    same = _hits(notes_index, parse_query(['"pancakes" - "pancakes"']), RecordingProfile())
    plain = _hits(notes_index, "pancakes", RecordingProfile())
    assert [p for p, _ in same] == [p for p, _ in plain] and all(s != 0 for _, s in same)


# -- through the command line, with the real offline models -----------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> dict[str, Path]:
    notes = tmp_path_factory.mktemp("notes")
    write_notes(notes)
    directory = tmp_path_factory.mktemp("query-index")
    result = xmodal("index", photo_dir, notes, "--index-dir", directory, "-q")
    assert result.exit_code == 0, result.output
    return {"dir": directory, "photos": photo_dir, "notes": notes}


def _paths(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [Path(p).name for p in result.stdout.splitlines()]


def test_like_an_unindexed_photo_finds_its_original(indexed: dict[str, Path], tmp_path):
    copy = tmp_path / "new_cat.png"
    shutil.copy(indexed["photos"] / "chelsea.png", copy)
    found = _paths(xmodal("search", "--like", copy, "--type", "image", "--paths", "-n", "3",
                          "--index-dir", indexed["dir"]))  # fmt: skip
    assert found[0] == "chelsea.png"
    both = _paths(xmodal("search", "a cup of coffee", "--like", copy, "--type", "image",
                         "--paths", "-n", "2", "--index-dir", indexed["dir"]))  # fmt: skip
    assert set(both) == {"chelsea.png", "coffee.png"}


def test_like_leaves_an_indexed_example_out(indexed: dict[str, Path]) -> None:
    example = indexed["photos"] / "chelsea.png"
    found = _paths(xmodal("search", "a cat", "--like", example, "--paths", "-n", "5",
                          "--index-dir", indexed["dir"]))  # fmt: skip
    assert "chelsea.png" not in found and len(found) == 5


@pytest.mark.parametrize(
    "args",
    [
        ['"beach" + sunset'],
        ["a", "cat"],
        ["a", "+"],
        ["a cat", "--sort", "colour"],
        ["a cat", "--queries", "-"],
        ["--like", "/no/such/dir/"],
    ],
)
def test_bad_queries_exit_2_with_a_hint(indexed: dict[str, Path], args: list[str]) -> None:
    result = xmodal("search", *args, "--index-dir", indexed["dir"])
    assert result.exit_code in (1, 2) if args[0] == "--like" else result.exit_code == 2
    assert "Error:" in result.stderr and "Hint:" in result.stderr and result.stdout == ""


def test_sort_orders_the_same_files(indexed: dict[str, Path]) -> None:
    common = ("search", "a photo", "--paths", "-n", "6", "--index-dir", indexed["dir"])
    relevance = _paths(xmodal(*common))
    by_name = _paths(xmodal(*common, "--sort", "name"))
    by_size = xmodal(*common, "--sort", "size").stdout.splitlines()
    assert sorted(by_name) == sorted(relevance) and by_name == sorted(by_name, key=str.casefold)
    sizes = [os.path.getsize(p) for p in by_size]
    assert sizes == sorted(sizes, reverse=True) and sorted(map(os.path.basename, by_size)) == (
        sorted(relevance)
    )


def test_sort_by_date_uses_the_date_taken_then_mtime(tmp_path: Path) -> None:
    from xmodal_cli.ordering import sort_results
    from xmodal_cli.search import Result as Hit

    old, new, undated = (tmp_path / n for n in ("old.jpg", "new.jpg", "undated.txt"))
    for path in (old, new, undated):
        path.write_bytes(b"x")
    os.utime(old, (2_000_000_000, 2_000_000_000))  # changed recently, but taken in 2001
    os.utime(undated, (1_500_000_000, 1_500_000_000))  # 2017
    hits = [
        Hit(1, 0.9, "image", str(old), "", "text", 0, {"taken": "2001-05-04 10:00:00"}),
        Hit(2, 0.8, "text", str(undated), "", "text", 0),
        Hit(3, 0.7, "image", str(new), "", "text", 0, {"taken": "2023-06-01 08:00:00"}),
    ]
    assert [h.rank for h in sort_results(hits, "date")] == [3, 2, 1]
    assert [h.rank for h in sort_results(hits, "relevance")] == [1, 2, 3]
    assert [h.rank for h in sort_results(hits, "name")] == [3, 1, 2]


# -- readable tables ---------------------------------------------------------------------


def _table(monkeypatch: pytest.MonkeyPatch, capsys: Any, path: str, columns: int) -> str:
    from xmodal_cli import render
    from xmodal_cli.search import Result as Hit

    monkeypatch.setenv("COLUMNS", str(columns))
    render.results([Hit(1, 0.5, "image", path, "a snippet", "text", 0)], "table")
    return str(capsys.readouterr().out)


def test_paths_are_shown_relative_or_with_a_tilde(tmp_path, monkeypatch, capsys) -> None:
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert "│ photos/cat.jpg" in _table(monkeypatch, capsys, str(work / "photos/cat.jpg"), 100)
    assert "│ ~/elsewhere/cat.jpg" in _table(
        monkeypatch, capsys, str(home / "elsewhere/cat.jpg"), 100
    )
    outside = "/srv/shared/cat.jpg"
    assert f"│ {outside}" in _table(monkeypatch, capsys, outside, 100)


def test_long_paths_wrap_after_a_slash(monkeypatch, capsys) -> None:
    names = ["recordings", "audiobook", "sense_and_sensibility_01_austen_64kb-0870.wav"]
    out = _table(monkeypatch, capsys, "/" + "/".join(names), 110)  # the name fits
    cells = [line.split("│")[4].strip() for line in out.splitlines()[2:]]
    assert "".join(cells) == "/" + "/".join(names)  # nothing lost
    assert all(c.endswith("/") for c in cells[:-1]) and cells[-1] == names[-1]  # whole names


def test_json_keeps_absolute_paths(indexed: dict[str, Path], monkeypatch) -> None:
    monkeypatch.chdir(indexed["photos"])
    rows = json.loads(xmodal("search", "a cat", "--json", "--index-dir", indexed["dir"]).stdout)
    assert all(os.path.isabs(r["path"]) for r in rows)


# -- batch queries -----------------------------------------------------------------------

BATCH = ["a cat", '"a cup of coffee" + "2:a horse"', "tax receipt"]


def test_batch_output_equals_separate_calls(indexed: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "questions.txt"
    file.write_text("\n".join([BATCH[0], "", *BATCH[1:]]) + "\n")
    common = ("-n", "3", "--index-dir", indexed["dir"])
    batch = xmodal("search", "--queries", file, "--jsonl", *common)
    assert batch.exit_code == 0, batch.output
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line.pop("query") for line in lines] == [q for q in BATCH for _ in range(3)]
    separate = [
        json.loads(line)
        for query in BATCH
        for line in xmodal("search", query, "--jsonl", *common).stdout.splitlines()
    ]
    assert lines == separate
    grouped = json.loads(xmodal("search", "--queries", "-", "--json", *common,
                                stdin="\n".join(BATCH)).stdout)  # fmt: skip
    assert [g["query"] for g in grouped] == BATCH
    assert [r for g in grouped for r in g["results"]] == separate
    table = xmodal("search", "--queries", file, *common).stdout
    assert all(query in table for query in BATCH)


def test_a_bad_line_stops_the_batch_before_any_search(indexed, tmp_path) -> None:
    file = tmp_path / "questions.txt"
    file.write_text('a cat\n"beach" + sunset\n')
    result = xmodal("search", "--queries", file, "--jsonl", "--index-dir", indexed["dir"])
    assert result.exit_code == 2 and "line 2" in result.stderr and result.stdout == ""


# -- shell completion --------------------------------------------------------------------


def test_completion_is_offered_and_completes_types_sorts_and_profiles() -> None:
    from xmodal_cli.cli_common import complete_profiles, complete_sort, complete_types

    assert "--install-completion" in xmodal("--help").stdout
    assert complete_types("i") == ["image"]
    assert complete_types("") == ["audio", "image", "text", "video"]
    assert complete_sort("s") == ["size"]
    assert "lite" in complete_profiles("") and complete_profiles("li") == ["lite"]
    done = runner.invoke(
        app,
        [],
        prog_name="xmodal",
        env={"_XMODAL_COMPLETE": "complete_bash", "COMP_WORDS": "xmodal search --type i",
             "COMP_CWORD": "3"},
    )  # fmt: skip
    assert done.stdout.split() == ["image"]
