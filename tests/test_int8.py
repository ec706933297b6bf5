"""The lite profile's INT8 variant: close to float on real text, the same rankings within one
query, chosen from what an index records, and a quantised graph cached crash-safely."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench.text_to_image_eval import QUERIES as IMAGE_QUERIES
from bench.text_to_image_eval import recall
from tests.documents import NOTES, QUERIES
from xmodal_cli import config
from xmodal_cli.media.image import decode_image
from xmodal_cli.models import (
    SPACE_ACOUSTIC,
    SPACE_TEXT,
    SPACE_VISUAL,
    conse,
    efficientnet,
    lite,
    load_profile,
    minilm,
    onnx,
)

# Measured on the texts below: min cosine 0.988 (queries) and 0.989 (ImageNet class prompts);
# per-tensor weights gave 0.949, and that cost 3 of 52 text->image queries at R@5.
MIN_COSINE = 0.98
FLOAT_IDS = {  # what every float index built so far records: must never change
    SPACE_TEXT: "all-MiniLM-L6-v2+conse(k=50,t=2.0)",
    SPACE_VISUAL: "efficientnet-lite0",
    SPACE_ACOUSTIC: "acoustic-stats-v1(mel64,sr16k)",
}


@pytest.fixture(scope="module")
def encoders() -> tuple[minilm.OnnxTextEncoder, minilm.OnnxTextEncoder]:
    cache = config.cache_dir()
    return minilm.OnnxTextEncoder(cache), minilm.OnnxTextEncoder(cache, int8=True)


def _texts() -> list[str]:
    queries = [q for qs in IMAGE_QUERIES.values() for q in qs] + list(QUERIES)
    return queries + list(NOTES.values())


@pytest.mark.slow
def test_int8_text_vectors_stay_close_to_float(encoders):
    float_text, int8_text = encoders
    a, b = float_text.encode(_texts()), int8_text.encode(_texts())
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > MIN_COSINE


@pytest.mark.slow
def test_int8_batches_stay_close_to_single_encodes(encoders):
    """Activations are quantised per batch, so a text's vector moves with its batch-mates
    (measured min 0.986 here): as much as the float/INT8 gap, so it gets the same bound."""
    _, int8_text = encoders
    texts = _texts()[:12]
    batch = int8_text.encode(texts)
    singles = np.stack([int8_text.encode([t])[0] for t in texts])
    assert (batch * singles).sum(axis=1).min() > MIN_COSINE


@pytest.mark.slow
def test_int8_keeps_text_to_image_rankings(encoders, photo_dir: Path):
    """Held-out real photos and queries (the INT8 net needs no calibration data): R@1 and R@5
    within one query of float, the noise of a 52-query set."""
    names = sorted(p.name for p in photo_dir.iterdir())
    pixels = np.stack([decode_image(str(photo_dir / n)).pixels for n in names])
    probs, _ = efficientnet.OnnxEfficientNet(config.cache_dir()).forward(pixels)
    labels = efficientnet.labels()
    pairs = [(q, names.index(n)) for n, qs in IMAGE_QUERIES.items() if n in names for q in qs]
    targets = np.array([t for _, t in pairs])
    scores = {}
    for variant, encoder in zip(("float", "int8"), encoders, strict=True):
        label_vectors = conse.label_embeddings(labels, encoder.encode)
        images = conse.conse_vectors(
            probs, label_vectors, top_k=lite.CONSE_TOP_K, temperature=lite.CONSE_TEMPERATURE
        )
        # One at a time, as `xmodal search` encodes a query.
        queries = np.concatenate([encoder.encode([q]) for q, _ in pairs])
        scores[variant] = recall(queries @ images.T, targets)
    one = 1.0 / len(pairs) + 1e-9
    assert scores["int8"]["r1"] >= scores["float"]["r1"] - one, scores
    assert scores["int8"]["r5"] >= scores["float"]["r5"] - one, scores


def test_float_ids_are_unchanged_and_int8_ids_differ_where_quantised():
    # Issue 12 named people and OCR in the text id: FLOAT_IDS are now the previous release's,
    # which an index upgrades from in place (tests/test_ocr.py).
    assert lite.previous_ids("float") == FLOAT_IDS
    assert lite.model_ids("float")[SPACE_TEXT].startswith(FLOAT_IDS[SPACE_TEXT] + "+people")
    int8 = lite.model_ids("int8")
    assert int8[SPACE_TEXT] == lite.model_ids("float")[SPACE_TEXT] + "@int8"
    assert int8[SPACE_VISUAL] == FLOAT_IDS[SPACE_VISUAL]  # the image net stays float
    assert int8[SPACE_ACOUSTIC] == FLOAT_IDS[SPACE_ACOUSTIC]


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (None, "int8"),  # a new index on a CPU
        (FLOAT_IDS, "float"),  # an index built before INT8 keeps encoding in float
        (lite.model_ids("int8"), "int8"),
        ({**FLOAT_IDS, SPACE_TEXT: "all-MiniLM-L6-v2+conse(k=20,t=1.0)"}, "int8"),  # older
    ],
)
def test_load_profile_follows_the_index(recorded, expected):
    profile = load_profile("lite", device="cpu", model_ids=recorded)
    assert profile.variant == expected
    assert profile.model_ids == lite.model_ids(expected)


def test_an_explicit_variant_is_kept():
    profile = lite.LiteProfile(device="cpu", variant="float")
    assert profile.variant == "float" and profile.model_ids == lite.model_ids("float")
    with pytest.raises(ValueError, match="variant"):
        lite.LiteProfile(device="cpu", variant="int4")


def test_conse_label_cache_is_kept_per_variant(tmp_path: Path):
    labels = ["tabby, tabby cat", "espresso"]

    def encode(texts: list[str]) -> np.ndarray:
        return np.eye(4, dtype=np.float32)[: len(texts)] + 0.1

    conse.label_embeddings(labels, encode, tmp_path)
    conse.label_embeddings(labels, encode, tmp_path, variant="int8")
    assert len(list(tmp_path.glob("conse-labels-*.npy"))) == 2


@pytest.mark.slow
def test_the_int8_graph_is_made_once_and_reused():
    cache = config.cache_dir()
    minilm.OnnxTextEncoder(cache, int8=True)
    path = minilm.int8_path(cache)
    written = path.stat().st_mtime_ns
    minilm.OnnxTextEncoder(cache, int8=True)
    assert path.stat().st_mtime_ns == written
    assert not list(cache.glob(".minilm-*"))  # no temp file left behind


@pytest.mark.slow
def test_quantising_is_deterministic(tmp_path: Path):
    source = minilm.ensure_onnx(config.cache_dir())
    first = onnx.quantize_int8(source, tmp_path / "a.onnx").read_bytes()
    assert onnx.quantize_int8(source, tmp_path / "b.onnx").read_bytes() == first


def test_a_failed_quantisation_leaves_nothing_behind(tmp_path: Path):
    """Killed or failed half way, no graph is cached: the next run quantises again."""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    destination = tmp_path / "cache" / "model-int8.onnx"
    with pytest.raises(Exception):  # noqa: B017 - whatever onnx raises for garbage
        onnx.quantize_int8(broken, destination)
    assert not destination.exists()
    assert os.listdir(destination.parent) == []
