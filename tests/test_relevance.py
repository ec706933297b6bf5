"""`relevance`: a 0-1 key comparable across types, the order of mixed results, the floor for
files of other types, --min-relevance, and how the table and JSON show it."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench import sample_sounds as sounds
from tests.documents import write_notes
from xmodal_cli import relevance
from xmodal_cli.cli import app
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import index_paths
from xmodal_cli.search import make_filters

runner = CliRunner()


def test_surprise_is_z_above_what_chance_gives_the_best_of_n() -> None:
    assert relevance.surprise(3.0, 100) == pytest.approx(3.0 - math.sqrt(2 * math.log(100)))
    # The same z says less among a million items than among a hundred.
    assert relevance.dense(4.0, 1_000_000) < relevance.dense(4.0, 100)
    values = [relevance.dense(z, 500) for z in (-5.0, 0.0, 2.0, 3.0, 4.0, 8.0, 80.0)]
    assert values == sorted(values) and 0.0 <= values[0] < values[-1] <= 1.0
    assert relevance.dense(-1e9, 10) == 0.0  # no overflow at the extremes


def test_combined_evidence_never_lowers_either_piece() -> None:
    for dense in (0.0, 0.2, 0.9):
        for words in (0.0, 0.5, 0.99):
            both = relevance.combined(dense, words)
            assert max(dense, words) <= both <= 1.0


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, lite_profile, photo_dir) -> Path:
    """The sample photos, notes, and recordings that say nothing about cats or sofas."""
    audio = tmp_path_factory.mktemp("recordings")
    sounds.write(audio / "untitled_01.wav", sounds.noise("white", 8.0))
    sounds.write(audio / "untitled_02.wav", sounds.noise("brown", 8.0, seed=3))
    sounds.write(audio / "beep.wav", sounds.tone(1000, 3.0))
    for n in range(4):
        sounds.write(audio / f"kick_{n:02d}.wav", sounds.kick(n))
    notes = write_notes(tmp_path_factory.mktemp("notes"))[0].parent
    index_dir = tmp_path_factory.mktemp("relevance-index")
    with open_collection(index_dir, create=True, write=True, profile=lite_profile) as col:
        index_paths([photo_dir, audio, notes], vectors=col.vectors, profile=lite_profile)
    return index_dir


def test_a_clear_answer_is_not_followed_by_noise_of_other_types(mixed, lite_profile) -> None:
    with open_collection(mixed, profile=lite_profile) as col:
        hits = col.search("a cat sleeping on a sofa", limit=10)
        everything = col.search("a cat sleeping on a sofa", filters=make_filters(min_relevance=0))
    assert os.path.basename(hits[0].path) == "chelsea.png"
    assert "audio" not in {h.type for h in hits}  # no noise clip, no drum hit
    assert all(h.relevance >= relevance.OTHER_TYPES_FROM for h in hits if h.type != "image")
    assert {h.type for h in everything} == {"image", "audio", "text"}  # they were there
    dropped = [h for h in everything if h.path not in {k.path for k in hits}]
    assert any(h.type == "audio" and h.relevance > hits[-1].relevance for h in dropped)
    relevances = [h.relevance for h in everything]
    assert relevances == sorted(relevances, reverse=True)
    assert all(0.0 <= r <= 1.0 for r in relevances)


def test_min_relevance_is_a_floor_for_every_type(mixed, lite_profile) -> None:
    with open_collection(mixed, profile=lite_profile) as col:
        floor = make_filters(min_relevance=0.1)
        hits = col.search("a cat sleeping on a sofa", filters=floor)
        assert hits and all(h.relevance >= 0.1 for h in hits)
        assert len(hits) < len(col.search("a cat sleeping on a sofa"))
        spoken = col.search("fixing a puncture on my bicycle", limit=3)
    assert os.path.basename(spoken[0].path) == "bike_repair.txt"


def test_the_table_and_json_show_relevance_beside_the_raw_score(mixed) -> None:
    args = ["search", "a cat sleeping on a sofa", "-n", "3", "--index-dir", str(mixed)]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    header = [cell.strip() for cell in table.stdout.splitlines()[0].split("┃")]
    assert header[:4] == ["#", "rel", "score", "type"]
    rows = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert [set(r) >= {"score", "relevance"} for r in rows] == [True] * len(rows)
    assert rows[0]["relevance"] > rows[-1]["relevance"]
    assert rows[0]["score"] != rows[0]["relevance"]  # score stays the raw cosine
    bad = runner.invoke(app, [*args, "--min-relevance", "2"])
    assert bad.exit_code == 2
    kept = json.loads(runner.invoke(app, [*args, "--json", "--min-relevance", "0.99"]).stdout)
    assert all(r["relevance"] >= 0.99 for r in kept)
