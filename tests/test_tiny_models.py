"""The tiny offline models build quickly and load through the standard loaders by path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.tiny_models import (
    TINY_CLAP_DIM,
    TINY_CLIP_DIM,
    TINY_SIGLIP_DIM,
    make_tiny_clap,
    make_tiny_clip,
    make_tiny_multilingual_text,
    make_tiny_siglip,
)

_TEXTS = ["a photo of a cat", "一只猫在沙滩上", "Café au lait, s'il vous plaît ✓", "word " * 600]


def _images() -> list[Image.Image]:
    """A landscape RGB photo, a portrait grayscale one and a tiny RGBA one."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    gray = Image.fromarray(rng.integers(0, 256, (500, 120), dtype=np.uint8))
    rgba = Image.new("RGBA", (7, 5), (255, 0, 0, 128))
    return [rgb, gray, rgba]


def _folder_mb(folder: Path) -> float:
    """Total size of the files under ``folder`` in MB."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def _check(vectors: np.ndarray | torch.Tensor, rows: int, dim: int) -> None:
    """``vectors`` is a finite float32 (rows, dim) matrix."""
    array = vectors.detach().numpy() if isinstance(vectors, torch.Tensor) else vectors
    assert array.shape == (rows, dim)
    assert array.dtype == np.float32
    assert np.isfinite(array).all()


def test_clip_loads_in_sentence_transformers_and_encodes_both_modalities(tmp_path: Path) -> None:
    """Images and text (any script, any length) share one space, as with clip-ViT-B-32."""
    from sentence_transformers import SentenceTransformer

    path = make_tiny_clip(tmp_path / "clip")
    assert _folder_mb(path) < 5
    model = SentenceTransformer(str(path), device="cpu")
    assert model.get_embedding_dimension() == TINY_CLIP_DIM
    assert model.max_seq_length == 77
    processor: Any = model[0].processor
    assert type(model[0].model).__name__ == "CLIPModel"
    assert processor.image_processor.crop_size == {"height": 224, "width": 224}
    assert processor.image_processor.size == {"shortest_edge": 224}

    images = model.encode(_images())
    texts = model.encode(_TEXTS)
    _check(images, 3, TINY_CLIP_DIM)
    _check(texts, 4, TINY_CLIP_DIM)
    assert not np.allclose(images[0], texts[0])
    unk = processor.tokenizer.unk_token_id
    assert unk not in processor.tokenizer("一只猫 é ✓")["input_ids"][1:-1]


def test_multilingual_text_model_matches_the_clip_space(tmp_path: Path) -> None:
    """Chinese text gets real tokens, and vectors have the tiny CLIP's size."""
    from sentence_transformers import SentenceTransformer

    path = make_tiny_multilingual_text(tmp_path / "mclip", dim=TINY_CLIP_DIM)
    assert _folder_mb(path) < 5
    model = SentenceTransformer(str(path), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "Dense"]
    assert model.max_seq_length == 128
    assert model.get_embedding_dimension() == TINY_CLIP_DIM
    ids = model.tokenizer("一只猫 The cat")["input_ids"]
    assert model.tokenizer.unk_token_id not in ids
    _check(model.encode(_TEXTS), 4, TINY_CLIP_DIM)
    _check(model.encode(["一只猫"]), 1, TINY_CLIP_DIM)


def test_siglip_loads_with_auto_classes(tmp_path: Path) -> None:
    """Image and max_length-padded text features come out of the pooler, unnormalised."""
    from transformers import AutoModel, AutoProcessor

    path = make_tiny_siglip(tmp_path / "siglip")
    assert _folder_mb(path) < 5
    model = AutoModel.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    assert type(model).__name__ == "SiglipModel"
    assert type(processor).__name__ == "SiglipProcessor"

    pixels = processor(images=_images(), return_tensors="pt")
    assert pixels["pixel_values"].shape == (3, 3, 224, 224)
    tokens = processor(text=_TEXTS, padding="max_length", truncation=True, return_tensors="pt")
    assert tokens["input_ids"].shape == (4, 64)
    with torch.inference_mode():
        images = model.get_image_features(**pixels).pooler_output
        texts = model.get_text_features(**tokens).pooler_output
    _check(images, 3, TINY_SIGLIP_DIM)
    _check(texts, 4, TINY_SIGLIP_DIM)


def test_clap_embeds_ten_seconds_of_48k_audio_and_text(tmp_path: Path) -> None:
    """Audio of any length becomes one 10 s window; both towers return unit vectors."""
    from transformers import ClapModel, ClapProcessor

    path = make_tiny_clap(tmp_path / "clap")
    assert _folder_mb(path) < 5
    model = ClapModel.from_pretrained(path).eval()
    processor = ClapProcessor.from_pretrained(path)
    rng = np.random.default_rng(0)
    for seconds in (10, 1.5, 25):
        audio = (0.1 * rng.standard_normal(int(48_000 * seconds))).astype(np.float32)
        inputs = processor(audio=audio, sampling_rate=48_000, return_tensors="pt")
        assert inputs["input_features"].shape == (1, 1, 1001, 64)
        with torch.inference_mode():
            embedding = model.get_audio_features(**inputs).pooler_output
        _check(embedding, 1, TINY_CLAP_DIM)
        assert torch.allclose(embedding.norm(dim=-1), torch.ones(1), atol=1e-5)

    tokens = processor(text=_TEXTS, padding=True, truncation=True, return_tensors="pt")
    assert tokens["input_ids"].shape[1] == 512
    with torch.inference_mode():
        texts = model.get_text_features(**tokens).pooler_output
    _check(texts, 4, TINY_CLAP_DIM)
    assert torch.allclose(texts.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_builds_are_deterministic_and_leave_the_global_rng_alone(tmp_path: Path) -> None:
    """Same seed, same weights; the caller's torch RNG stream is not consumed."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = make_tiny_siglip(tmp_path / "a")
    assert torch.equal(torch.rand(3), expected)
    second = make_tiny_siglip(tmp_path / "b")
    weights = "model.safetensors"
    assert (first / weights).read_bytes() == (second / weights).read_bytes()


def test_factories_refuse_a_non_empty_folder(tmp_path: Path) -> None:
    """Never mix two models' files in one folder."""
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_tiny_clap(tmp_path)
