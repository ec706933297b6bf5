"""`xmodal tune`'s gate and split: the adapter bends only searches nearer the captions it
was trained on than everyday names, generic searches keep their first result, the adapter
file keeps its keys and names (and still reads versions 1 and 2), and a caption split keeps
an adapter that learnt photo-specific words where a file split, rightly, refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import run_index
from tests.test_tune import PlantedQueries
from xmodal_cli import adapter
from xmodal_cli.cli import app
from xmodal_cli.collection import open_collection
from xmodal_cli.evaluation import Pair
from xmodal_cli.tuning import (
    TuneOptions,
    caption_split,
    choose_gate,
    everyday_names,
    generic_queries,
)

DIM = 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _towards(target: np.ndarray, strength: float = 50.0) -> adapter.QueryMap:
    """A rank-1 map that sends every query to `target`."""
    down = np.ones((1, DIM), np.float32)
    return adapter.QueryMap(down, (target * strength)[:, None].astype(np.float32), "m")


def test_the_gate_bends_only_queries_near_the_captions() -> None:
    rng = np.random.default_rng(0)
    target = _unit(rng.standard_normal(DIM))
    found = _towards(target)
    keys = np.eye(DIM, dtype=np.float32)[:2]  # captions along the first two axes
    found.keys, found.gate = keys, 0.5
    near = keys[0]  # cosine 1 to a caption: the whole map
    far = _unit(np.r_[0.0, 0.0, rng.standard_normal(DIM - 2)].astype(np.float32))  # cosine 0
    halfway = _unit(np.r_[0.55, 0.0, 0.835, np.zeros(DIM - 3)].astype(np.float32))
    np.testing.assert_allclose(found.weight(np.stack([near, far, halfway])), [1, 0, 0.5], atol=1e-3)
    assert float(found.apply(near) @ target) > 0.99
    np.testing.assert_array_equal(found.apply(far), far)  # untouched, exactly
    rows = found.apply_all(np.stack([near, far, halfway]))
    np.testing.assert_allclose(rows[2], found.apply(halfway), atol=1e-6)
    found.keys = None  # no keys (a version-1 map): always the whole map
    assert float(found.apply(far) @ target) > 0.99


def test_the_gate_weighs_captions_against_everyday_names() -> None:
    rng = np.random.default_rng(4)
    target = _unit(rng.standard_normal(DIM))
    found = _towards(target)
    eye = np.eye(DIM, dtype=np.float32)
    found.keys, found.away, found.gate = eye[:1], eye[1:2], 0.0
    # Halfway between a caption and an everyday name: as near to both, not bent.
    between = _unit(eye[0] + eye[1])
    assert found.weight(between[None])[0] == 0.0
    np.testing.assert_allclose(found.apply(between), between, atol=1e-6)
    # A sentence only loosely like the caption (cosine 0.45) but unlike everything
    # everyday: bent fully, where a cosine gate at 0.5 would have left it alone.
    loose = _unit(np.r_[0.45, 0.0, 0.893, np.zeros(DIM - 3)].astype(np.float32))
    np.testing.assert_allclose(found.weight(loose[None]), [1.0])
    assert float(found.apply(loose) @ target) > 0.99
    np.testing.assert_allclose(found.nearness(np.stack([between, loose])), [0.0, 0.45], atol=1e-3)
    words = everyday_names()
    assert len(words) > 1500 and "hot beverage" in words and "cow face" in words
    assert not any("arrow" in w for w in words)


def test_the_adapter_file_keeps_keys_and_gate_and_reads_versions_1_and_2(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    found = _towards(_unit(rng.standard_normal(DIM)))
    found.keys, found.gate = _unit(rng.standard_normal((5, DIM))), 0.05
    found.away = _unit(rng.standard_normal((7, DIM)))
    adapter.save(adapter.Adapter({("text", "image"): found}), tmp_path)
    loaded = adapter.load(tmp_path)
    assert loaded is not None
    again = loaded.maps[("text", "image")]
    assert again.gate == 0.05 and again.keys is not None and again.away is not None
    np.testing.assert_allclose(again.keys, found.keys, atol=1e-3)  # stored as float16
    np.testing.assert_allclose(again.away, found.away, atol=1e-3)
    queries = _unit(rng.standard_normal((50, DIM)))
    np.testing.assert_allclose(again.apply_all(queries), found.apply_all(queries), atol=2e-3)
    weights = found.weight(queries)
    assert 0 < (weights > 0).sum() < len(queries)  # the names close the gate for some
    # A version-2 file (a gate on the captions alone): read without names, applied so.
    with np.load(adapter.path_in(tmp_path)) as data:
        arrays = {k: data[k] for k in data.files if not k.endswith("|away")}
    meta = json.loads(bytes(arrays["meta"]).decode())
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "version": 2}).encode(), dtype=np.uint8)
    with open(adapter.path_in(tmp_path), "wb") as handle:
        np.savez(handle, **arrays)
    two = adapter.load(tmp_path)
    assert two is not None and two.maps[("text", "image")].away is None
    found.away = None
    np.testing.assert_allclose(
        two.maps[("text", "image")].weight(queries), found.weight(queries), atol=2e-3
    )
    query = queries[0]
    # A version-1 file (before the gate): read, and applied without one.
    meta = {
        "version": 1,
        "created": "",
        "maps": [{"space": "text", "type": "image", "model_id": "m", "figures": {}}],
    }
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "text|image|down": found.down,
        "text|image|up": found.up,
    }
    with open(adapter.path_in(tmp_path), "wb") as handle:
        np.savez(handle, **arrays)
    old = adapter.load(tmp_path)
    assert old is not None and old.maps[("text", "image")].keys is None
    np.testing.assert_allclose(old.maps[("text", "image")].weight(query[None]), [1.0])


def test_the_chosen_gate_keeps_generic_first_results() -> None:
    rng = np.random.default_rng(2)
    candidates = _unit(rng.standard_normal((200, DIM)))
    owners = np.arange(200)
    generic = _unit(rng.standard_normal((1000, DIM)))
    found = _towards(candidates[0])  # sends every query it touches to candidate 0
    found.keys = _unit(rng.standard_normal((30, DIM)))
    gate, share = choose_gate(found, generic, candidates, owners, 0.02)
    assert gate is not None and 0.2 < gate <= 0.9 and share <= 0.02
    found.gate = gate
    before = np.argmax(generic @ candidates.T, axis=1)
    after = np.argmax(found.apply_all(generic) @ candidates.T, axis=1)
    assert (before != after).mean() == pytest.approx(share)
    assert choose_gate(found, generic, candidates, owners, 1.0)[0] == 0.2  # anything goes
    assert choose_gate(found, generic, candidates, owners, 0.0)[1] == 0.0
    found.away = _unit(rng.standard_normal((40, DIM)))  # a margin over everyday names
    gate, share = choose_gate(found, generic, candidates, owners, 0.02)
    assert gate is not None and -0.5 <= gate <= 0.9 and share <= 0.02
    after = np.argmax(found.apply_all(generic) @ candidates.T, axis=1)
    assert (before != after).mean() == pytest.approx(share)
    assert choose_gate(found, generic, candidates, owners, 1.0)[0] == -0.5
    words = generic_queries()
    assert len(words) == 1000 and "goldfish" in words


def test_a_caption_split_holds_out_only_captions_whose_files_keep_another() -> None:
    files = [np.array([0]), np.array([0]), np.array([0]), np.array([1]), np.array([2, 3])]
    files += [np.array([2]), np.array([3])]
    queries = ["a0", "b0", "c0", "only1", "both", "just2", "just3"]
    for seed in range(20):
        split = caption_split(queries, files, 0.5, seed)
        assert split is not None
        train, held = split
        assert sorted(train.tolist() + held.tolist()) == list(range(7)) and len(held)
        assert 3 not in held  # photo 1's only caption
        for photo in range(4):  # every photo keeps a caption in training
            assert any(photo in files[row] for row in train)
    # The same text twice stays on one side.
    twice = caption_split(["x", "y", "x", "z"], [np.array([0])] * 4, 0.5, 0)
    assert twice is not None
    assert {0, 2} <= set(twice[0].tolist()) or {0, 2} <= set(twice[1].tolist())
    assert caption_split(["p", "q"], [np.array([0]), np.array([1])], 0.5, 0) is None


def test_a_caption_split_keeps_photo_words_that_a_file_split_refuses(tmp_path: Path) -> None:
    """Each photo has its own made-up name, in three phrasings that sit close together but
    say nothing about the photo's vector: seen names can be learnt, unseen ones cannot."""
    rng = np.random.default_rng(3)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(40):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"p{i:02d}.png")
    profile = PlantedQueries()
    col = open_collection(tmp_path / "index", create=True, profile=profile)
    run_index(col, profile, photos)
    pairs = []
    for i in range(40):
        name = _unit(rng.standard_normal(DIM))
        for variant in ("a", "b", "c"):
            text = f"the {variant} name of photo {i}"
            profile.planted[text] = _unit(name + 0.05 * rng.standard_normal(DIM))
            pairs.append(Pair(text, (str(photos / f"p{i:02d}.png"),), "image"))
    options = TuneOptions(rank=DIM, epochs=80, views=0, held_out=0.25)
    by_file = col.tune(pairs, options=TuneOptions(**{**options.__dict__, "split": "file"}))
    (refused,) = by_file.outcomes
    assert not refused.kept and not adapter.path_in(col.directory).exists()
    by_caption = col.tune(pairs, options=options)
    (kept,) = by_caption.outcomes
    assert kept.kept and kept.gate is not None and kept.generic_changed <= 0.02
    assert kept.after["recall@1"] - kept.before["recall@1"] >= 0.3
    saved = adapter.load(col.directory)
    assert saved is not None
    in_use = saved.maps[("text", "image")]
    assert in_use.keys is not None and len(in_use.keys) == kept.train
    assert in_use.figures["split"] == kept.split == "caption" and refused.split == "file"
    assert kept.members == 5 and in_use.down.shape == (5 * DIM, DIM)  # five maps, averaged
    # A large collection trains fewer maps (here: 40 photos against a limit of 8 → one).
    smaller = TuneOptions(**{**options.__dict__, "members_up_to": 8})
    (single,) = col.tune(pairs, options=smaller).outcomes
    assert single.members == 1 and single.kept and single.as_dict()["members"] == 1
    col.close()


def test_tune_refuses_an_unknown_split(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["tune", "--split", "photo", "--index-dir", str(tmp_path)])
    assert done.exit_code == 2 and "--split caption or file" in done.output


def test_the_members_maps_are_averaged_into_one() -> None:
    """Bagging: the saved map's update is the mean of the members' updates."""
    from xmodal_cli.training import TrainResult
    from xmodal_cli.tuning import _averaged

    rng = np.random.default_rng(5)
    weights = [
        {"down": rng.standard_normal((3, DIM)), "up": rng.standard_normal((DIM, 3))}
        for _ in range(4)
    ]
    results = [TrainResult(w, {}, {}, 1, 1, 0.0, 0.05) for w in weights]
    found = _averaged(results, "m")
    assert found.down.shape == (12, DIM) and found.up.shape == (DIM, 12)
    x = _unit(rng.standard_normal((6, DIM)))
    update = np.mean([(x @ w["down"].T) @ w["up"].T for w in weights], axis=0)
    np.testing.assert_allclose(found.apply_all(x), _unit(x + update), atol=1e-5)
