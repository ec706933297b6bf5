"""`xmodal eval`: metrics by hand on tiny real indexes whose vectors are planted, both PAIRS
forms, paths not in the index, malformed input, and the leak guard."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import RecordingProfile
from tests.documents import QUERIES as NOTE_QUERIES
from tests.documents import write_notes
from xmodal_cli.cli import app
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.errors import UsageError
from xmodal_cli.evaluation import (
    METRICS,
    Evaluation,
    Pair,
    evaluate,
    leaks_query,
    query_metrics,
    read_pairs,
)
from xmodal_cli.models import SPACE_TEXT, ImageEncoding
from xmodal_cli.search import Result

runner = CliRunner()
DIM = 16


def _unit(weights: dict[int, float]) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    for axis, weight in weights.items():
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


# Queries and texts with planted vectors, so every rank below is known before searching.
QUERY_VECTORS = {
    "abcd": _unit({8: 4, 9: 3, 10: 2, 11: 1}),  # ranks the photos a, b, c, d
    "dcba": _unit({8: 1, 9: 2, 10: 3, 11: 4}),  # d, c, b, a
    "a tabby cat": _unit({0: 1}),
}
TEXT_VECTORS = {  # a text containing the key gets the vector (cosine with "a tabby cat")
    "tabby cat on": _unit({0: 1}),  # 1.0
    "dog": _unit({0: 0.8, 2: 0.6}),  # 0.8
    "sleep": _unit({0: 0.6, 3: 0.8}),  # 0.6
}


class PlantedProfile(RecordingProfile):
    """The recording fake, with text-space vectors chosen by the test."""

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        planted = super().encode_texts(texts)
        for row, text in enumerate(texts):
            key = next((k for k in TEXT_VECTORS if k in text), None)
            if key is not None:
                planted[row] = TEXT_VECTORS[key]
        return planted

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        return {SPACE_TEXT: QUERY_VECTORS[text]}

    def encode_images(self, pixels: np.ndarray) -> ImageEncoding:
        encoded = super().encode_images(pixels)
        # Photo k is a solid colour with red 50*k: its vector is axis 8 + k.
        encoded.vectors[SPACE_TEXT] = np.stack(
            [_unit({8 + int(p[0, 0, 0]) // 50: 1}) for p in pixels]
        )
        return encoded


def _photos(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for k, name in enumerate("abcd"):
        Image.new("RGB", (64, 64), (50 * k, 200, 200)).save(folder / f"{name}.png")
    return folder


def _notes(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "cat.txt").write_text("a tabby cat on the sofa")  # the caption, word for word
    (folder / "dog.txt").write_text("a dog in the park")
    (folder / "naps.txt").write_text("tabby cats sleep all day")
    return folder


def _index(directory: Path, *roots: Path) -> Collection:
    with open_collection(directory, create=True, profile=PlantedProfile()) as collection:
        collection.index(list(roots))
    return open_collection(directory, profile=PlantedProfile())


def _evaluate(collection: Collection, pairs: list[Pair]) -> Evaluation:
    catalog = collection.catalog
    return evaluate(
        pairs,
        search=collection.search,
        indexed=lambda path: getattr(catalog.file_by_path(path), "modality", None),
    )


def _jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_query_metrics_by_hand() -> None:
    # Relevant files at ranks 2 and 5, a third relevant one never found.
    got = query_metrics([5, 2], relevant=3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got == pytest.approx(
        {
            "recall@1": 0.0,
            "recall@5": 1.0,
            "recall@10": 1.0,
            "mrr": 0.5,
            "map": (1 / 2 + 2 / 5) / 3,
            "ndcg@10": (1 / math.log2(3) + 1 / math.log2(6)) / ideal,
        }
    )
    assert set(query_metrics([], relevant=1).values()) == {0.0}
    assert query_metrics([12], relevant=1)["recall@10"] == 0.0


def test_metrics_on_a_tiny_index_match_hand_computed_values(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    pairs = _jsonl(
        tmp_path / "pairs.jsonl",
        [
            # photos ranked a, b, c, d: relevant at 2 and 4
            {"query": "abcd", "paths": ["photos/b.png", "photos/d.png"], "type": "image"},
            # ranked d, c, b, a: relevant at 1; the other path was never indexed
            {"query": "dcba", "paths": ["photos/d.png", "photos/gone.png"], "type": "image"},
            {"query": "abcd", "path": "photos/c.png"},  # no type: ranked among all types, at 3
            {"query": "dcba", "path": "elsewhere/x.png", "type": "image"},  # nothing to find
        ],
    )
    with _index(tmp_path / "index", photos) as collection:
        result = _evaluate(collection, read_pairs(pairs)).as_dict()
    first = {
        "recall@1": 0,
        "recall@5": 1,
        "recall@10": 1,
        "mrr": 0.5,
        "map": (1 / 2 + 2 / 4) / 2,
        "ndcg@10": (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)),
    }
    image = result["image"]
    assert image["n"] == 2 and image["queries"] == 3 and image["unscored"] == 1
    assert image["missing_paths"] == 2
    for metric in METRICS:
        assert image[metric] == pytest.approx((first[metric] + 1) / 2, abs=1e-4), metric
    third = {"recall@1": 0, "recall@5": 1, "recall@10": 1, "mrr": 1 / 3, "map": 1 / 3}
    assert result["any"]["n"] == 1
    for metric, value in third.items():
        assert result["any"][metric] == pytest.approx(value, abs=1e-4), metric
    assert result["all"]["n"] == 3
    assert result["all"]["mrr"] == pytest.approx((0.5 + 1 + 1 / 3) / 3, abs=1e-4)
    assert list(result) == ["any", "image", "all"]
    # The interval brackets the mean, is wider than a point with varied queries, and repeats.
    low, high = result["all"]["ci95"]["mrr"]
    assert low <= result["all"]["mrr"] <= high and high - low > 0.1
    assert result["any"]["ci95"]["mrr"] == [pytest.approx(1 / 3, abs=1e-4)] * 2  # one query


def test_bootstrap_is_seeded() -> None:
    rows = [query_metrics([r], relevant=1) for r in (1, 2, 3, 7, 20)]
    first = Evaluation(scores={"image": rows}, queries={"image": 5}).as_dict()
    again = Evaluation(scores={"image": list(rows)}, queries={"image": 5}).as_dict()
    other = Evaluation(scores={"image": rows}, queries={"image": 5}, seed=1).as_dict()
    assert first == again
    assert first["all"]["ci95"] != other["all"]["ci95"]


def test_csv_rows_with_the_same_query_are_one_query(tmp_path: Path) -> None:
    csv = tmp_path / "sets" / "pairs.csv"
    csv.parent.mkdir()
    csv.write_text(
        "query,path,type\n"
        "abcd,../photos/b.png,image\n"
        "dcba,~/elsewhere.png,\n"
        "abcd,../photos/d.png,image\n"
        "abcd,../photos/a.png,\n"
    )
    pairs = read_pairs(csv)
    photos = str(tmp_path / "photos")
    assert pairs == [
        Pair("abcd", (f"{photos}/b.png", f"{photos}/d.png"), "image"),
        Pair("dcba", (str(Path("~/elsewhere.png").expanduser()),), None),
        Pair("abcd", (f"{photos}/a.png",), None),
    ]


def test_jsonl_and_csv_give_the_same_figures(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    jsonl = _jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"query": "abcd", "paths": ["photos/b.png", "photos/d.png"], "type": "image"},
            {"query": "dcba", "path": "photos/c.png", "type": "image"},
        ],
    )
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "query,path,type\nabcd,photos/b.png,image\ndcba,photos/c.png,image\n"
        "abcd,photos/d.png,image\n"
    )
    with _index(tmp_path / "index", photos) as collection:
        from_jsonl = _evaluate(collection, read_pairs(jsonl)).as_dict()
        from_csv = _evaluate(collection, read_pairs(csv)).as_dict()
    assert from_jsonl == from_csv
    assert from_jsonl["image"]["n"] == 2 and from_jsonl["image"]["mrr"] == 0.5  # 1/2 and 1/2


def test_missing_paths_are_reported_not_fatal(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    pairs = [
        Pair("abcd", (str(photos / "a.png"), str(tmp_path / f"gone{i}.png")), "image")
        for i in range(5)
    ]
    pairs.append(Pair("abcd", (str(photos / "b.png"),), "text"))  # a photo, not a note
    with _index(tmp_path / "index", photos) as collection:
        result = _evaluate(collection, pairs)
    figures = result.as_dict()
    assert figures["image"]["missing_paths"] == 5 and figures["image"]["n"] == 5
    assert figures["text"]["mistyped_paths"] == 1 and figures["text"]["unscored"] == 1
    missing, mistyped, unscored = result.notes()
    assert missing.startswith("5 paths in PAIRS are not in the index and left out: ")
    assert "gone0.png" in missing and "gone3.png" not in missing and missing.endswith("…")
    assert mistyped.startswith("1 path in PAIRS is indexed as another type") and "b.png" in mistyped
    assert unscored == "1 query not scored: none of their files is left to find"


def test_leak_guard_holds_out_a_file_whose_text_is_the_query(tmp_path: Path) -> None:
    notes = _notes(tmp_path / "notes")
    pairs = [
        # cat.txt says the query word for word and would rank first (cosine 1.0); held out,
        # the dog note (0.8) ranks above the naps note (0.6), the one left to find.
        Pair("a tabby cat", (str(notes / "cat.txt"), str(notes / "naps.txt")), "text"),
        Pair("a tabby cat", (str(notes / "cat.txt"),), "text"),  # nothing honest to find
    ]
    with _index(tmp_path / "index", notes) as collection:
        first = collection.search("a tabby cat", limit=3)
        assert [Path(h.path).name for h in first] == ["cat.txt", "dog.txt", "naps.txt"]
        result = _evaluate(collection, pairs)
    text = result.as_dict()["text"]
    assert text["n"] == 1 and text["unscored"] == 1 and text["held_out"] == 2
    assert text["recall@1"] == 0 and text["mrr"] == 0.5 and text["map"] == 0.5
    assert result.held_out["text"][0] == ("a tabby cat", str(notes / "cat.txt"))
    assert any(n.startswith("held out 2 relevant files whose own words") for n in result.notes())


def _hit(kind: str, path: str, snippet: str, position: int = 0) -> Result:
    return Result(1, 0.5, kind, path, snippet, SPACE_TEXT, position)


def test_what_counts_as_a_leak() -> None:
    assert leaks_query(_hit("text", "/n/x.txt", "Saw A Tabby-Cat today"), "a tabby cat")
    assert leaks_query(_hit("text", "/n/a_tabby_cat.txt", "no words"), "A tabby cat.")
    assert not leaks_query(_hit("text", "/n/x.txt", "a tabbycat"), "a tabby cat")  # whole words
    assert not leaks_query(_hit("text", "/n/x.txt", "a cat that is tabby"), "a tabby cat")
    # A recording's description holds its folder's name; its transcript is the model's work.
    assert leaks_query(_hit("audio", "/rain on a roof/1.wav", "noise", -1), "rain on a roof")
    assert not leaks_query(_hit("audio", "/r/1.wav", "0:03 rain on a roof", 3), "rain on a roof")
    # An image's caption was made by a model from its pixels: that is the retrieval measured.
    assert not leaks_query(_hit("image", "/p/tabby_cat.jpg", "tabby cat"), "tabby cat")


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "nope.jsonl", "PAIRS file not found"),
        ('{"query": "a", "paths": ["x"]}\n{"query": \n', "p.jsonl", "p.jsonl:2: not JSON"),
        ('{"query": "a"}\n', "p.jsonl", 'p.jsonl:1: no "paths" list'),
        ('{"query": "", "path": "x"}\n', "p.jsonl", "p.jsonl:1: no query"),
        ('{"query": "a", "path": "x", "type": "film"}\n', "p.jsonl", "unknown type 'film'"),
        ('["a", "x"]\n', "p.jsonl", "not a JSON object"),
        ("query,file\na,x\n", "p.csv", "no query and path columns"),
        ("query,path\na,\n", "p.csv", "p.csv:2: empty path"),
        ("\n\n", "p.jsonl", "no queries in"),
    ],
)
def test_bad_pairs_are_usage_errors_with_a_hint(
    tmp_path: Path, content: str | None, name: str, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_pairs(path)
    # The CLI: one Error line and a Hint on stderr, exit 2, before any index or model is opened.
    done = runner.invoke(app, ["eval", str(path), "--index-dir", str(tmp_path / "no-index")])
    assert done.exit_code == 2, done.output
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and message in lines[0]
    assert lines[1].startswith("Hint: ")


def test_unknown_type_option_is_a_usage_error(tmp_path: Path) -> None:
    pairs = _jsonl(tmp_path / "p.jsonl", [{"query": "a", "path": "x"}])
    done = runner.invoke(app, ["eval", str(pairs), "--type", "film"])
    assert done.exit_code == 2 and "unknown type 'film'" in done.stderr


@pytest.mark.slow
def test_cli_eval_on_real_notes(tmp_path: Path) -> None:
    """The real command on a real (lite) index: JSON keys per type, the table, the notes."""
    notes = write_notes(tmp_path / "notes")[0].parent
    index = tmp_path / "index"
    done = runner.invoke(app, ["index", str(notes), "--index-dir", str(index), "-q"])
    assert done.exit_code == 0, done.output
    rows = [
        {"query": q, "path": f"notes/{name}", "type": "text"} for q, name in NOTE_QUERIES.items()
    ]
    rows.append({"query": "lost", "path": "notes/missing.txt"})
    pairs = _jsonl(tmp_path / "pairs.jsonl", rows)
    done = runner.invoke(app, ["eval", str(pairs), "--json", "--index-dir", str(index)])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert list(result) == ["any", "text", "all"]
    keys = {"n", *METRICS, "ci95"}
    assert all(
        keys <= set(group) and set(group["ci95"]) == set(METRICS) for group in result.values()
    )
    assert result["text"]["n"] == len(NOTE_QUERIES) and result["any"]["n"] == 0
    assert result["text"]["recall@5"] >= 0.75  # paraphrases, no shared keywords
    assert "1 path in PAIRS is not in the index and left out: " in done.stderr
    table = runner.invoke(app, ["eval", str(pairs), "--index-dir", str(index), "-q"])
    assert table.exit_code == 0 and table.stderr == ""
    assert "R@1" in table.stdout and "nDCG@10" in table.stdout and "95%" in table.stdout
