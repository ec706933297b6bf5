"""The real offline default profile: ONNX parity, and that it ranks real media correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tests.documents import QUERIES, write_notes
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexOptions, index_paths
from xmodal_cli.search import make_filters, search_similar, search_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(tmp_path_factory, lite_profile, photo_dir):
    notes = write_notes(tmp_path_factory.mktemp("notes"))
    directory = tmp_path_factory.mktemp("real-index")
    with open_collection(directory, create=True, profile=lite_profile) as col:
        summary = index_paths(
            [photo_dir, notes[0].parent],
            vectors=col.vectors,
            profile=lite_profile,
            options=IndexOptions(batch_size=8),
        )
        assert summary.skipped == 0
        yield col


@pytest.fixture(scope="module")
def float_text():
    """The float MiniLM graph: the reference the INT8 variant is checked against."""
    from xmodal_cli import config
    from xmodal_cli.models import minilm

    return minilm.OnnxTextEncoder(config.cache_dir())


def test_onnx_text_encoder_matches_sentence_transformers(float_text):
    from sentence_transformers import SentenceTransformer

    from xmodal_cli.models import minilm

    texts = ["a cat", "sunset over the sea with orange clouds", "x" * 3000, "Übergrößenträger café"]
    ours = float_text.encode(texts)
    reference = SentenceTransformer(str(minilm.model_dir()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_text_batches_equal_single_encodes(float_text):
    """Float only: INT8 quantises activations per batch (tests/test_int8.py bounds that)."""
    texts = ["short", "a much longer sentence about a walk in the forest", "mid length text"]
    batch = float_text.encode(texts)
    singles = np.stack([float_text.encode([t])[0] for t in texts])
    assert np.allclose(batch, singles, atol=1e-5)


def test_image_vectors_are_unit_and_deterministic(lite_profile, photo_dir):
    from xmodal_cli.media.image import decode_image

    pixels = np.stack(
        [decode_image(str(photo_dir / n)).pixels for n in ("chelsea.png", "coffee.png")]
    )
    first = lite_profile.encode_images(pixels)
    second = lite_profile.encode_images(pixels[:1])
    for space, vectors in first.vectors.items():
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert np.allclose(vectors[0], second.vectors[space][0], atol=1e-4)
    assert "cat" in first.captions[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a cat", "chelsea.png"),
        ("a cup of coffee", "coffee.png"),
        ("a rocket", "rocket.jpg"),
        ("a motorbike", "motorcycle_right.png"),
        ("a flower", "flower.jpg"),
        ("a temple", "china.jpg"),
    ],
)
def test_text_query_ranks_the_right_photo_first(real_index, query, expected):
    rows = search_text(
        query,
        vectors=real_index.vectors,
        profile=real_index.profile,
        limit=5,
        filters=make_filters(types=["image"]),
    )
    assert Path(rows[0].path).name == expected, [(Path(r.path).name, r.score) for r in rows]


@pytest.mark.parametrize(("query", "expected"), sorted(QUERIES.items()))
def test_text_query_finds_the_right_note(real_index, query, expected):
    rows = search_text(
        query,
        vectors=real_index.vectors,
        profile=real_index.profile,
        limit=3,
        filters=make_filters(types=["text"]),
    )
    assert Path(rows[0].path).name == expected, [(Path(r.path).name, r.score) for r in rows]


def _variants(image: Image.Image) -> dict[str, Image.Image]:
    w, h = image.size
    return {
        "cropped": image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
        "darkened": ImageEnhance.Brightness(image).enhance(0.55),
        "rescaled": image.resize((max(32, w // 3), max(32, h // 3))),
    }


@pytest.mark.parametrize(
    "name",
    ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "china.jpg", "grace_hopper.jpg"],
)
def test_transformed_copy_finds_its_original_first(real_index, photo_dir, tmp_path, name):
    original = Image.open(photo_dir / name).convert("RGB")
    for kind, variant in _variants(original).items():
        copy = tmp_path / f"{kind}-{Path(name).stem}.jpg"
        variant.save(copy, quality=85)
        rows = search_similar(
            copy,
            vectors=real_index.vectors,
            profile=real_index.profile,
            limit=3,
            filters=make_filters(types=["image"]),
        )
        assert Path(rows[0].path).name == name, (kind, [Path(r.path).name for r in rows])


def test_similar_of_an_indexed_photo_leaves_it_out(real_index, photo_dir):
    rows = search_similar(
        photo_dir / "chelsea.png",
        vectors=real_index.vectors,
        profile=real_index.profile,
        limit=5,
    )
    assert rows and all(Path(r.path).name != "chelsea.png" for r in rows)
