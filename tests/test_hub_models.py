"""Hub profiles (CLIP, SigLIP 2, CLAP) through the real loaders, with tiny random models.

The weights are random (tests/tiny_models.py), so nothing here measures retrieval quality:
these tests prove loading by path, preprocessing, shapes, normalisation, determinism,
batching, CLAP's fixed windows and a whole index + search run through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench import sample_sounds as sounds
from tests.documents import write_notes
from tests.tiny_models import (
    TINY_CLAP_DIM,
    TINY_CLIP_DIM,
    TINY_SIGLIP_DIM,
    make_tiny_clap,
    make_tiny_clip,
    make_tiny_multilingual_text,
    make_tiny_siglip,
)
from xmodal_cli.cli import app
from xmodal_cli.errors import UsageError, XmodalError
from xmodal_cli.models import load_profile, registry
from xmodal_cli.models.acoustic import shared_features
from xmodal_cli.models.hub import CLAP_RATE, normalise_pixels
from xmodal_cli.recordings import analyse_recording, sound_encoder

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A --model-path folder laid out as `xmodal models pull --to` makes it."""
    root = tmp_path_factory.mktemp("models")
    make_tiny_clip(root / registry.CLIP_IMAGE.folder_name)
    make_tiny_multilingual_text(root / registry.CLIP_TEXT.folder_name, dim=TINY_CLIP_DIM)
    make_tiny_siglip(root / registry.SIGLIP.folder_name)
    make_tiny_clap(root / registry.CLAP.folder_name)
    return root


@pytest.fixture(scope="module")
def clip(model_dir):
    return load_profile("clip", device="cpu", model_path=model_dir)


@pytest.fixture(scope="module")
def siglip(model_dir):
    return load_profile("siglip", device="cpu", model_path=model_dir)


def _pixels(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 224, 224, 3), dtype=np.uint8)


def test_the_registry_finds_models_under_model_path(model_dir, tmp_path) -> None:
    assert registry.installed(registry.PROFILES["clip"], model_dir)
    assert registry.default_profile(model_dir) == "siglip"  # the best one that is here
    assert registry.default_profile(tmp_path) == "lite"
    with pytest.raises(XmodalError, match="not on this machine") as error:
        registry.require(registry.PROFILES["clip"], tmp_path)
    assert "xmodal models pull clip" in (error.value.hint or "")


def test_models_command_lists_profiles_and_what_is_here(model_dir) -> None:
    result = runner.invoke(app, ["models", "--json", "--model-path", str(model_dir)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"lite", "clip", "siglip"}
    assert rows["lite"]["offline"] and rows["lite"]["installed"]
    assert rows["clip"]["installed"] and not rows["clip"]["offline"]
    assert rows["clip"]["repos"] == [m.repo for m in registry.PROFILES["clip"].models]
    assert rows["siglip"]["spaces"]["siglip"] == 768  # nominal size of the real model


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_image_and_text_vectors_are_unit_deterministic_and_batch_free(request, name: str) -> None:
    profile = request.getfixturevalue(name)
    dim = TINY_CLIP_DIM if name == "clip" else TINY_SIGLIP_DIM
    assert profile.spaces == {name: dim, "clap": TINY_CLAP_DIM, "acoustic": 162}
    pixels = _pixels(8)
    batch = profile.encode_images(pixels).vectors[name]
    singles = np.concatenate([profile.encode_images(p[None]).vectors[name] for p in pixels])
    assert batch.shape == (8, dim) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batch, singles, atol=1e-5)  # a batch of 8 == 8 singles
    assert np.array_equal(batch, profile.encode_images(pixels).vectors[name])
    texts = ["a cat on a sofa", "sunset over the sea", "一只猫睡在沙发上", "x" * 2000]
    vectors = profile.encode_texts(texts)
    singles = np.concatenate([profile.encode_texts([t]) for t in texts])
    assert vectors.shape == (4, dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, singles, atol=1e-5)
    query = profile.encode_query("a dog barking", frozenset({name, "clap"}))
    assert set(query) == {name, "clap"} and query["clap"].shape == (TINY_CLAP_DIM,)
    assert set(profile.encode_query("a dog", frozenset({name}))) == {name}
    assert profile.query_spaces("audio") == (name, "clap")
    assert profile.query_spaces("image") == (name,)


def test_clip_pixels_equal_the_reference_processor(model_dir) -> None:
    from transformers import CLIPImageProcessor

    pixels = _pixels(2, seed=3)
    reference = CLIPImageProcessor.from_pretrained(
        str(model_dir / registry.CLIP_IMAGE.folder_name / "0_CLIPModel")
    )
    expected = reference(images=[Image.fromarray(p) for p in pixels], return_tensors="pt")
    ours = normalise_pixels(pixels, tuple(reference.image_mean), tuple(reference.image_std))
    assert ours.shape == expected["pixel_values"].shape
    assert np.allclose(ours.numpy(), expected["pixel_values"].numpy(), atol=1e-5)


def test_siglip_pixels_equal_the_reference_processor(model_dir) -> None:
    from transformers import AutoProcessor

    from xmodal_cli.models.hub import SIGLIP_MEAN, SIGLIP_STD

    pixels = _pixels(2, seed=4)
    reference = AutoProcessor.from_pretrained(str(model_dir / registry.SIGLIP.folder_name))
    expected = reference.image_processor(
        images=[Image.fromarray(p) for p in pixels], return_tensors="pt"
    )
    assert tuple(reference.image_processor.image_mean) == SIGLIP_MEAN
    ours = normalise_pixels(pixels, SIGLIP_MEAN, SIGLIP_STD)
    assert np.allclose(ours.numpy(), expected["pixel_values"].numpy(), atol=1e-5)


def test_clap_windows_are_fixed_and_match_the_processor(clip, model_dir, tmp_path) -> None:
    from transformers import ClapProcessor

    clip_path = sounds.write(tmp_path / "long.wav", sounds.music(25.0, 120))
    encoder = sound_encoder(clip)
    assert encoder is not None and (encoder.rate, encoder.seconds) == (48_000, 10.0)
    first = analyse_recording(str(clip_path), features=shared_features(), transcribe=None,
                              sounds=encoder)  # fmt: skip
    again = analyse_recording(str(clip_path), features=shared_features(), transcribe=None,
                              sounds=encoder)  # fmt: skip
    clap = [w for w in first.windows if w.space == "clap"]
    assert [w.position for w in clap] == [0, 10, 20]  # fixed 10 s windows, the 5 s tail kept
    assert all(w.vector.shape == (TINY_CLAP_DIM,) for w in clap)
    for a, b in zip(clap, [w for w in again.windows if w.space == "clap"], strict=True):
        assert np.array_equal(a.vector, b.vector)  # never a random crop
    window = np.random.default_rng(5).standard_normal(CLAP_RATE * 10).astype(np.float32) * 0.1
    processor = ClapProcessor.from_pretrained(str(model_dir / registry.CLAP.folder_name))
    expected = processor(audio=[window], sampling_rate=CLAP_RATE, return_tensors="pt")
    ours = clip.clap.features([window])
    assert np.allclose(ours["input_features"].numpy(), expected["input_features"].numpy())
    batch = clip.encode_sounds([window, window[: CLAP_RATE * 3]])["clap"]
    singles = np.concatenate(
        [
            clip.encode_sounds([window])["clap"],
            clip.encode_sounds([window[: CLAP_RATE * 3]])["clap"],
        ]
    )
    assert np.allclose(batch, singles, atol=1e-5)


def test_mps_or_cuda_on_a_machine_without_them_is_a_clear_error() -> None:
    import torch

    from xmodal_cli import config

    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA was requested"):
            config.resolve_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(UsageError, match="MPS was requested"):
            config.resolve_device("mps")
    assert config.resolve_device("auto") in ("cpu", "cuda", "mps")


def test_a_whole_run_with_the_clip_profile(model_dir, tmp_path, photo_dir) -> None:
    notes = write_notes(tmp_path / "notes")[0].parent
    audio = tmp_path / "audio"
    sounds.write(audio / "groove.wav", sounds.music(12.0, 120))
    sounds.write(audio / "kick.wav", sounds.kick(1))
    sounds.speak("We talked about the budget for next year.", audio / "memo.wav")
    index = tmp_path / "index"
    common = ["--index-dir", str(index), "--model-path", str(model_dir)]
    result = runner.invoke(
        app, ["index", str(photo_dir), str(notes), str(audio), "--model", "clip", "--json", *common]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["skipped"] == 0 and summary["indexed"] == 23 + 8 + 3

    # status needs no model files: not even --model-path.
    status = json.loads(runner.invoke(app, ["status", "--json", "--index-dir", str(index)]).stdout)
    assert status["profile"] == "clip"
    # Images, notes' passages, recordings' descriptions, the memo's transcript, and the words
    # read in page.png (the one sample photo with text): OCR serves hub profiles too.
    assert status["vectors"]["clip"] == 23 + status["counts"]["text"]["items"] + 3 + 1 + 1
    read = runner.invoke(
        app, ["search", "segmentation markers", "--json", "--type", "image", *common]
    )
    assert read.exit_code == 0, read.output
    first = json.loads(read.stdout)[0]
    assert first["path"].endswith("page.png") and "Region-based segmentation" in first["snippet"]
    # 12 s: one window (a 2 s tail, under half a window, is dropped); kick and memo: one each.
    assert status["vectors"]["clap"] == 1 + 1 + 1

    # search and similar use the index's profile without being told.
    # Random tiny models make no hit relevant: --min-relevance 0 shows every type searched.
    found = runner.invoke(
        app, ["search", "一只猫", "--json", "-n", "40", "--min-relevance", "0", *common]
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert {h["type"] for h in hits} == {"image", "text", "audio"}
    assert len({h["path"] for h in hits}) == len(hits)  # each file once
    like = runner.invoke(app, ["similar", str(audio / "kick.wav"), "--json", *common])
    assert like.exit_code == 0, like.output
    assert {h["space"] for h in json.loads(like.stdout)} == {"clap"}

    again = runner.invoke(app, ["index", str(audio), "--json", *common])  # recorded profile
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 3
    # Another profile switches the index over in place: every known file is re-encoded.
    other = runner.invoke(app, ["index", str(audio), "--model", "lite", "--json", *common])
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["upgraded"] == 23 + 8 + 3
    status = json.loads(runner.invoke(app, ["status", "--json", "--index-dir", str(index)]).stdout)
    assert status["profile"] == "lite" and status["upgrade"] is None
    assert status["vectors"]["visual"] == 23 and status["files"] == 23 + 8 + 3
    assert not (index / "clip.faiss").exists() and not (index / "clap.faiss").exists()
    hits = json.loads(runner.invoke(app, ["search", "a cup of coffee", "--json", *common]).stdout)
    assert hits[0]["path"].endswith("coffee.png")  # answered by lite, without --model


def test_a_whole_run_with_the_siglip_profile_and_default_choice(model_dir, tmp_path, photo_dir):
    index = tmp_path / "index"
    common = ["--index-dir", str(index), "--model-path", str(model_dir)]
    result = runner.invoke(app, ["index", str(photo_dir), *common])  # no --model
    assert result.exit_code == 0, result.output
    assert "model: siglip" in result.output  # said once, on stderr
    hits = json.loads(runner.invoke(app, ["search", "a red flower", "--json", *common]).stdout)
    assert len(hits) == 10 and {h["space"] for h in hits} == {"siglip"}


def test_a_batch_too_big_for_the_gpu_is_split_not_fatal(clip) -> None:
    """Simulated: the first forward pass of more than 4 images runs out of memory."""
    towers = clip.towers
    real = towers._encode_images
    seen: list[int] = []

    def pretend_small_gpu(pixels: np.ndarray) -> np.ndarray:
        seen.append(len(pixels))
        if len(pixels) > 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(pixels)

    towers._encode_images = pretend_small_gpu
    try:
        pixels = _pixels(10, seed=9)
        vectors = towers.encode_images(pixels)
    finally:
        del towers._encode_images  # back to the class's method
    assert seen == [10, 5, 2, 3, 5, 2, 3]
    assert np.allclose(vectors, real(pixels), atol=1e-5)


def test_batch_size_defaults_without_a_gpu() -> None:
    from xmodal_cli import config

    assert config.batch_size(None, "auto") == 32
    assert config.batch_size(7, "cuda") == 7
    assert config.batch_size(None, "cuda") >= 32  # 32 here (no GPU); sized to memory on one


def test_an_interrupted_pull_does_not_count_as_installed(model_dir, tmp_path) -> None:
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(model_dir, partial)
    (partial / registry.CLAP.folder_name / "model.safetensors").unlink()  # weights never came
    assert not registry.installed(registry.PROFILES["siglip"], partial)
    assert registry.default_profile(partial) == "lite"  # clip needs CLAP too
    assert registry.installed(registry.PROFILES["siglip"], model_dir)


def test_invalid_numbers_from_a_model_are_refused_not_stored() -> None:
    from xmodal_cli.models.hub import _unit

    with pytest.raises(XmodalError, match="invalid numbers"):
        _unit(np.array([[1.0, np.nan]], dtype=np.float32))
    assert np.allclose(np.linalg.norm(_unit(np.array([[3.0, 4.0]])), axis=1), 1.0)


def test_passages_fit_what_each_text_tower_reads(clip, siglip, tmp_path) -> None:
    from xmodal_cli.decoder import decode_file
    from xmodal_cli.scan import FileRecord

    note = tmp_path / "long.txt"
    note.write_text(" ".join(f"word{i}" for i in range(400)))
    record = FileRecord(str(note), "text", note.stat().st_size, note.stat().st_mtime_ns)
    for profile, words in ((clip, 80), (siglip, 40)):
        decoded = decode_file(record, profile)
        assert max(len(p.snippet.split()) for p in decoded.passages) == words


def test_hub_indexes_made_before_ocr_keep_their_ids_until_asked(model_dir) -> None:
    new = load_profile("clip", device="cpu", model_path=model_dir)
    assert new.read_text and "+ocr(" in new.model_ids["clip"]  # type: ignore[attr-defined]
    before = {**new.model_ids, "clip": new.model_ids["clip"].split("+ocr(")[0]}
    old = load_profile("clip", device="cpu", model_path=model_dir, model_ids=before)
    assert old.model_ids == before  # no re-encoding forced on an existing clip index
    asked = load_profile(
        "clip", device="cpu", model_path=model_dir, model_ids=before, read_text=True
    )
    assert asked.model_ids == new.model_ids  # `index --ocr` upgrades it in place
