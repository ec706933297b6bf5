"""Hub text towers in onnxruntime: the same vectors as the torch path, and no torch import
for a cold `xmodal search` on a clip or siglip index (tiny random models, tests/tiny_models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.documents import write_notes
from tests.tiny_models import (
    TINY_CLIP_DIM,
    make_tiny_clap,
    make_tiny_clip,
    make_tiny_multilingual_text,
    make_tiny_siglip,
)
from xmodal_cli import config
from xmodal_cli.cli import app
from xmodal_cli.models import hub_onnx, load_profile, registry
from xmodal_cli.models.hub import ClapTowers, ClipTowers, HubProfile, SiglipTowers

ROOT = Path(__file__).resolve().parent.parent

TEXTS = [
    "a cat",
    "a photo of a dog",
    "A photo of a cat sleeping on the sofa.",
    "sunset over the sea",
    "the sound of music in a car",
    "Café au lait à la crème brûlée",
    "résumé naïve façade",
    "Über den Wolken, schön und grün",
    "niño español, mañana",
    "São Paulo à noite",
    "一只猫睡在沙发上",
    "海边的日落",
    "我的朋友在照片里",
    "红色的汽车和蓝色的天",
    "猫 and a dog 狗",
    "ねこ の しゃしん",
    "",
    "   leading and trailing spaces   ",
    "UPPER CASE WORDS",
    "numbers 123 456 and punctuation!?",
    "x" * 2000,
    "the sea " * 200,
    "一只猫" * 300,
    "emoji 🐱 and 🌊",
    "tabs\tand\nnewlines",
    "a",
    "of the of the of the",
    "dog barking at night",
    "music, drums, guitar",
    "an old car engine starting",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_clip(root / registry.CLIP_IMAGE.folder_name)
    make_tiny_multilingual_text(root / registry.CLIP_TEXT.folder_name, dim=TINY_CLIP_DIM)
    make_tiny_siglip(root / registry.SIGLIP.folder_name)
    make_tiny_clap(root / registry.CLAP.folder_name)
    return root


def _torch_tower(kind: str, root: Path) -> tuple[Path, Any]:
    """The model folder of `kind` and the torch tower that encodes its texts."""
    if kind == hub_onnx.CLIP_TEXT_KIND:
        text = root / registry.CLIP_TEXT.folder_name
        return text, ClipTowers(root / registry.CLIP_IMAGE.folder_name, text, "cpu")
    if kind == hub_onnx.SIGLIP_TEXT_KIND:
        folder = root / registry.SIGLIP.folder_name
        return folder, SiglipTowers(folder, "cpu")
    folder = root / registry.CLAP.folder_name
    return folder, ClapTowers(folder, "cpu")


@pytest.mark.parametrize("kind", hub_onnx.KINDS)
def test_onnx_text_towers_equal_the_torch_path(kind: str, model_dir: Path, tmp_path: Path) -> None:
    folder, torch_tower = _torch_tower(kind, model_dir)
    tower = hub_onnx.OnnxTextTower(kind, folder, tmp_path)
    ours = tower.encode(TEXTS)
    expected = torch_tower.encode_texts(TEXTS)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * expected).sum(axis=1)
    assert cosines.min() > 0.9999, dict(zip(TEXTS, cosines.tolist(), strict=True))
    # Batching and padding change nothing: one at a time gives the same vectors.
    singles = np.concatenate([tower.encode([t]) for t in TEXTS[:12]])
    assert np.allclose(singles, ours[:12], atol=1e-5)


def test_the_export_is_reused_and_named_by_the_weights(model_dir: Path, tmp_path: Path) -> None:
    folder = model_dir / registry.SIGLIP.folder_name
    first = hub_onnx.OnnxTextTower(hub_onnx.SIGLIP_TEXT_KIND, folder, tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = hub_onnx.OnnxTextTower(hub_onnx.SIGLIP_TEXT_KIND, folder, tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    saved = hub_onnx.tokenizer_path(first.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.path.name, saved.name])
    other = hub_onnx.onnx_path(
        hub_onnx.CLAP_TEXT_KIND, model_dir / registry.CLAP.folder_name, tmp_path
    )
    assert other != first.path


def test_a_model_that_cannot_be_exported_falls_back_to_torch(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fallback(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.ones((len(texts), 3), np.float32)

    encoder = hub_onnx.QueryEncoder(hub_onnx.CLAP_TEXT_KIND, tmp_path, fallback)
    assert encoder(["a dog"]).shape == (1, 3) and calls == [["a dog"]]
    assert encoder.tower() is None  # tried once, not on every query


def test_cpu_queries_use_onnx_and_match_indexed_texts(model_dir: Path) -> None:
    profile = load_profile("clip", device="cpu", model_path=model_dir)
    assert isinstance(profile, HubProfile)
    query = profile.encode_query("a dog barking", frozenset({"clip", "clap"}))
    assert isinstance(profile._query_text, hub_onnx.QueryEncoder)
    assert float(query["clip"] @ profile.encode_texts(["a dog barking"])[0]) > 0.9999
    clap = profile.clap.encode_texts(["a dog barking"])[0]
    assert float(query["clap"] @ clap) > 0.9999


_COLD_SEARCH = """
import json, sys
from xmodal_cli import config
from xmodal_cli.cli import app
config._may_have_gpu = lambda: False  # --device auto means the CPU, even on a GPU machine
try:
    app(["search", "a cat", "--index-dir", sys.argv[1], "--model-path", sys.argv[2], "--json"],
        standalone_mode=False)
finally:
    heavy = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
    print(json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_a_cold_search_does_not_import_torch(name: str, model_dir: Path, tmp_path: Path) -> None:
    notes = write_notes(tmp_path / "notes")[0].parent
    index = tmp_path / "index"
    common = ["--index-dir", str(index), "--model-path", str(model_dir)]
    built = CliRunner().invoke(app, ["index", str(notes), "--model", name, "--json", *common])
    assert built.exit_code == 0, built.output
    # Export now (this process has torch loaded anyway), as an index run or first query does.
    kind = hub_onnx.CLIP_TEXT_KIND if name == "clip" else hub_onnx.SIGLIP_TEXT_KIND
    folder = registry.CLIP_TEXT if name == "clip" else registry.SIGLIP
    export = hub_onnx.OnnxTextTower(kind, model_dir / folder.folder_name, config.cache_dir())
    stamp = export.path.stat().st_mtime_ns

    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_COLD_SEARCH), str(index), str(model_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "XMODAL_CACHE": str(config.cache_dir())},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stderr.strip().splitlines()[-1]) == []  # neither torch nor ST
    hits = json.loads(run.stdout)
    assert hits and {h["space"] for h in hits} == {name}
    assert export.path.stat().st_mtime_ns == stamp  # the export was reused, not redone
