"""WordNet hypernyms in lite's class vectors: the shipped data, what they change, the upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.media.image import decode_image
from xmodal_cli.models import SPACE_TEXT, conse, efficientnet, hypernyms, lite
from xmodal_cli.models.lite import LiteProfile
from xmodal_cli.store import codec


def test_every_class_has_its_ancestors_in_order() -> None:
    labels = efficientnet.labels()
    chains = hypernyms.hypernyms()
    assert len(chains) == len(labels) == 1000
    named = {label.split(",")[0]: chain for label, chain in zip(labels, chains, strict=True)}
    assert named["golden retriever"][:2] == ["dog", "domestic animal"]
    assert "dog" in named["golden retriever"] and "animal" in named["golden retriever"]
    assert named["ostrich"][0] == "bird"
    assert "fruit" in named["Granny Smith"] and "fruit" in named["banana"]
    assert "musical instrument" in named["violin"]
    assert "vehicle" in named["ambulance"]
    # too abstract to help (above most classes) or too technical (no tagged use) are left out
    words = {w for chain in chains for w in chain}
    assert not words & {"entity", "physical entity", "object", "whole", "artifact"}
    assert not words & {"chordate", "placental", "diapsid"}
    # a class never lists its own name
    assert all(label.split(",")[0] not in chain for label, chain in named.items())


@pytest.mark.slow
def test_a_generic_word_comes_closer_to_every_class_under_it(lite_profile: LiteProfile) -> None:
    labels = efficientnet.labels()
    encode = lite_profile.encode_texts
    plain = conse.label_embeddings(labels, encode, lite_profile.cache, variant="int8")
    mixed = hypernyms.label_embeddings(
        labels, encode, lite_profile.cache, variant="int8", count=1, weight=0.5
    )
    assert np.array_equal(
        hypernyms.label_embeddings(
            labels, encode, lite_profile.cache, variant="int8", count=0, weight=0.5
        ),
        plain,
    )
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0, atol=1e-5)
    chains = hypernyms.hypernyms()
    for word in ("dog", "bird", "fruit", "musical instrument"):
        under = [i for i, chain in enumerate(chains) if word in chain]
        query = encode([f"a photo of a {word}."])[0]
        # the classes under the word rank higher among all 1000 classes than before
        before = np.argsort(np.argsort(-(plain @ query)))[under].mean()
        after = np.argsort(np.argsort(-(mixed @ query)))[under].mean()
        assert after < before * 0.8, (word, before, after)
    # and each class stays nearest its own name
    own = encode([f"a photo of a {labels[i].split(',')[0]}." for i in range(0, 1000, 50)])
    assert ((own @ mixed.T).argmax(axis=1) == np.arange(0, 1000, 50)).mean() >= 0.9


def test_hypernyms_are_in_the_recorded_ids() -> None:
    for variant in lite.VARIANTS:
        for read_text in (True, False):
            ids = lite.model_ids(variant, read_text)
            assert lite.HYPERNYM_ID in ids[SPACE_TEXT]
            assert lite.variant_of(ids) == variant and lite.reads_text_of(ids) is read_text
        assert lite.HYPERNYM_ID not in lite.previous_ids(variant)[SPACE_TEXT]


@pytest.mark.slow
def test_an_index_from_before_hypernyms_upgrades_its_photo_vectors(
    tmp_path: Path, photo_dir: Path
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("chelsea.png", "horse.png"):
        (root / name).write_bytes((photo_dir / name).read_bytes())
    directory = tmp_path / "index"
    profile = LiteProfile("cpu", "float", read_text=False)
    with open_collection(directory, create=True, profile=profile) as col:
        col.index([root])
    stored = json.loads(sql(directory, "SELECT value FROM meta WHERE key = 'profile'")[0][0])
    stored["models"] = lite.previous_ids("float")  # as the release before this one wrote it
    sql(directory, "UPDATE meta SET value = ? WHERE key = 'profile'", json.dumps(stored))
    with open_collection(directory, write=True, read_text=False) as col:
        assert col.status()["upgrade"]["models"] == lite.model_ids("float", False)
        assert col.index([root]).upgraded == 2
        assert col.status()["models"] == lite.model_ids("float", False)
    blob = sql(
        directory,
        "SELECT items.vector FROM items JOIN files ON files.id = items.file_id "
        "WHERE files.path LIKE '%chelsea.png' AND items.space = ? AND items.position = 0",
        SPACE_TEXT,
    )[0][0]
    (vector,) = codec.matrix([blob], 384)
    # what the new release computes for the photo: ConSE over the hypernym-mixed classes
    pixels = decode_image(str(root / "chelsea.png")).pixels[None]
    expected = profile.encode_images(pixels).vectors[SPACE_TEXT][0]
    probs, _ = profile._vision_parts()[0].forward(pixels)
    labels = efficientnet.labels()
    plain = conse.label_embeddings(labels, profile.encode_texts, profile.cache, variant="float")
    before = conse.conse_vectors(
        probs, plain, top_k=lite.CONSE_TOP_K, temperature=lite.CONSE_TEMPERATURE
    )[0]
    assert float(vector @ expected) > 0.999
    assert float(vector @ before) < 0.999
