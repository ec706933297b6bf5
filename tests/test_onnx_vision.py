"""The lite profile's image network in onnxruntime: the same outputs as the torch model on real
photos, exported once per cache, and a cold `similar` on a photo that is not indexed never
imports torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from xmodal_cli import config
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexOptions, index_paths
from xmodal_cli.media.image import decode_image
from xmodal_cli.models import efficientnet

if TYPE_CHECKING:
    from xmodal_cli.models.lite import LiteProfile

pytestmark = pytest.mark.slow


def _pixels(photo_dir: Path) -> np.ndarray:
    return np.stack([decode_image(str(p)).pixels for p in sorted(photo_dir.iterdir())])


def test_onnx_matches_torch_on_real_photos(photo_dir: Path) -> None:
    """Same model id for both paths: only allowed while their vectors agree this closely."""
    pixels = _pixels(photo_dir)
    assert len(pixels) >= 20
    torch_probs, torch_features = efficientnet.EfficientNetLite0("cpu").forward(pixels)
    onnx_net = efficientnet.OnnxEfficientNet(config.cache_dir())
    probs, features = onnx_net.forward(pixels)

    assert probs.shape == (len(pixels), 1000) and probs.dtype == np.float32
    assert features.shape == (len(pixels), efficientnet.FEATURE_DIM)
    cosines = (features * torch_features).sum(axis=1) / (
        np.linalg.norm(features, axis=1) * np.linalg.norm(torch_features, axis=1)
    )
    assert cosines.min() > 0.9999
    assert np.abs(probs - torch_probs).max() < 1e-4
    assert (probs.argmax(axis=1) == torch_probs.argmax(axis=1)).all()
    # The batch axis is dynamic: one photo alone gives its row of the batch.
    one_probs, one_features = onnx_net.forward(pixels[3:4])
    assert np.allclose(one_probs, probs[3:4], atol=1e-6)
    assert np.allclose(one_features, features[3:4], atol=1e-5)


def test_the_export_is_reused() -> None:
    cache = config.cache_dir()
    efficientnet.OnnxEfficientNet(cache)
    path = efficientnet.onnx_path(cache)
    written = path.stat().st_mtime_ns
    efficientnet.OnnxEfficientNet(cache)
    assert path.stat().st_mtime_ns == written
    assert not list(cache.glob(".efficientnet-*"))  # no temp file left behind


def test_similar_on_an_unindexed_photo_does_not_import_torch(
    tmp_path: Path, photo_dir: Path, lite_profile: LiteProfile
) -> None:
    """A cold `xmodal similar photo.jpg` encodes the photo with onnxruntime, not torch."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"):
        shutil.copyfile(photo_dir / name, folder / name)
    unindexed = tmp_path / "UNINDEXED.jpg"
    shutil.copyfile(photo_dir / "china.jpg", unindexed)
    index_dir = tmp_path / "index"
    # Indexing with the real profile also exports the graph into the session's cache (the one
    # time torch is needed), which the subprocess inherits through $XMODAL_CACHE.
    with open_collection(index_dir, create=True, profile=lite_profile) as col:
        summary = index_paths(
            [folder], vectors=col.vectors, profile=lite_profile, options=IndexOptions()
        )
    assert summary.skipped == 0
    assert efficientnet.onnx_path(config.cache_dir()).exists()

    argv = ["similar", str(unindexed), "--index-dir", str(index_dir), "--json"]
    code = (
        "import sys\n"
        "from xmodal_cli.cli import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)\n"
        "print('HEAVY' if heavy else 'LIGHT', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LIGHT" in done.stderr, done.stderr
    rows = json.loads(done.stdout)
    assert {Path(r["path"]).name for r in rows} == {p.name for p in folder.iterdir()}


def test_indexing_photos_on_a_cpu_machine_does_not_import_torch(
    tmp_path: Path, photo_dir: Path, lite_profile: LiteProfile
) -> None:
    """`--device auto` without a GPU driver never asks torch; both lite networks run on
    onnxruntime once exported (the session cache holds the exports)."""
    if config._may_have_gpu():
        pytest.skip("a GPU driver is present: auto asks torch for CUDA, by design")
    lite_profile.encode_images(np.zeros((1, 224, 224, 3), np.uint8))  # exports both graphs
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png"):
        shutil.copyfile(photo_dir / name, folder / name)
    argv = ["index", str(folder), "--index-dir", str(tmp_path / "index"), "-q", "--json"]
    code = (
        "import sys\n"
        "from xmodal_cli.cli import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('HEAVY' if 'torch' in sys.modules else 'LIGHT', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "LIGHT" in done.stderr, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["indexed"] == 2
