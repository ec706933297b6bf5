"""The `sound` space: aiSFX weights converted from the wheel's checkpoint, run in onnxruntime
on xmodal's own front end, fused with the acoustic statistics; lite compares recordings in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr

from bench import sample_sounds as sounds
from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.models import SPACE_ACOUSTIC, SPACE_TEXT, acoustic, lite, sfx
from xmodal_cli.models.lite import LiteProfile

FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")  # sound-theme-freedesktop
REAL = ("bell", "complete", "dialog-warning", "message", "phone-incoming-call", "service-login")


@pytest.fixture(scope="module")
def layers() -> sfx.Layers:
    return sfx.load_layers()


def _at_44k(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(str(path), dtype="float32")
    mono = samples.mean(axis=1) if samples.ndim > 1 else samples
    return np.asarray(soxr.resample(mono, rate, sfx.SAMPLE_RATE), dtype=np.float32)


def _torch_reference(state: dict[str, Any], blocks: np.ndarray) -> np.ndarray:
    """aisfx's EmbeddingNet, written out in torch from its definition: four blocks of
    (conv 3×3 → batch norm → ReLU) × 2, 2×2 max pools after the first three, then the mean
    over frequency and the max over time."""
    import torch
    import torch.nn.functional as F

    x = torch.tensor(blocks).unsqueeze(1)
    for block in range(1, 5):
        for conv in (1, 2):
            prefix, norm = f"embedding_net.conv_block{block}", f"bn{conv}"
            x = F.conv2d(x, state[f"{prefix}.conv{conv}.weight"], padding=1)
            x = F.batch_norm(
                x,
                state[f"{prefix}.{norm}.running_mean"],
                state[f"{prefix}.{norm}.running_var"],
                state[f"{prefix}.{norm}.weight"],
                state[f"{prefix}.{norm}.bias"],
                training=False,
            )
            x = F.relu(x)
        if block < 4:
            x = F.max_pool2d(x, 2)
    return np.asarray(x.mean(dim=3).max(dim=2).values.detach().numpy())


def _random_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    state: dict[str, Any] = {}
    channels = 1
    for block in range(1, 5):
        out = 32 * 2**block
        for conv in (1, 2):
            prefix = f"embedding_net.conv_block{block}"
            fan_in = channels * 9
            state[f"{prefix}.conv{conv}.weight"] = (
                torch.randn(out, channels, 3, 3, generator=generator) * (2 / fan_in) ** 0.5
            )
            state[f"{prefix}.bn{conv}.weight"] = 0.5 + torch.rand(out, generator=generator)
            state[f"{prefix}.bn{conv}.bias"] = 0.1 * torch.randn(out, generator=generator)
            state[f"{prefix}.bn{conv}.running_mean"] = 0.1 * torch.randn(out, generator=generator)
            state[f"{prefix}.bn{conv}.running_var"] = 0.5 + torch.rand(out, generator=generator)
            channels = out
    torch.save((state, {"prosfx": (np.int64(0), 78)}), path)
    return state


def test_the_shipped_weights_are_intact_and_a_changed_file_is_refused(tmp_path, layers):
    assert sfx.sha256(sfx.WEIGHTS) == sfx.WEIGHTS_SHA256
    assert [w.shape for w, _ in layers][::2] == [(9, 64), (576, 128), (1152, 256), (2304, 512)]
    # The hash guards the pickle: a checkpoint that is not the published one is never loaded.
    other = tmp_path / "checkpoint.pth"
    _random_checkpoint(other)
    with pytest.raises(ValueError, match="SHA-256"):
        sfx.convert(other, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_conversion_folds_batch_norm_and_matches_the_torch_network(tmp_path):
    checkpoint = tmp_path / "checkpoint.pth"
    state = _random_checkpoint(checkpoint)
    target = tmp_path / "weights.npz"
    sfx.convert(checkpoint, target, expected=sfx.sha256(checkpoint))
    blocks = np.random.default_rng(1).random((3, sfx.BLOCK, sfx.N_MELS), dtype=np.float32)
    expected = _torch_reference(state, blocks)
    converted = sfx.load_layers(target)
    for got in (
        sfx.SfxNet(converted).forward(blocks),
        sfx.SfxEncoder(converted).embed_blocks(blocks),
    ):
        cosine = (
            (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
        )
        assert got.shape == (3, sfx.DIM) and cosine.min() > 0.999  # int8 weights


def test_the_front_end_is_librosas_mel_spectrogram():
    import librosa

    samples = np.random.default_rng(2).standard_normal(sfx.SAMPLE_RATE * 3).astype(np.float32)
    samples *= np.linspace(0, 1, len(samples), dtype=np.float32)
    ours = sfx.SfxFrontEnd().spectrogram(samples * 0.1)  # peak-normalised: volume is moot
    power = librosa.feature.melspectrogram(
        y=samples / np.abs(samples).max(),
        sr=sfx.SAMPLE_RATE,
        n_fft=sfx.N_FFT,
        hop_length=sfx.HOP,
        n_mels=sfx.N_MELS,
        fmin=0,
        fmax=sfx.SAMPLE_RATE / 2,
        htk=True,
        norm=1.0,
        power=2.0,
        pad_mode="constant",
    )
    reference = (np.log10(power * 1e4 + 1) / sfx.SPEC_MAX).T
    assert ours.shape == reference.shape and np.abs(ours - reference).max() < 1e-4
    blocks = sfx.SfxFrontEnd().blocks(samples)
    assert blocks.shape == (len(range(0, len(ours) - sfx.BLOCK + 1, sfx.BLOCK_HOP)), 100, 96)
    assert sfx.SfxFrontEnd().blocks(samples[:4410]).shape == (1, 100, 96)  # a 0.1 s click


def test_altered_copies_of_real_sounds_find_their_originals(layers):
    assert FREEDESKTOP.is_dir(), "apt-get install sound-theme-freedesktop (make system-packages)"
    space = sfx.SoundSpace(layers)
    originals = [_at_44k(FREEDESKTOP / f"{name}.oga") for name in REAL]
    gallery = space.encode(originals)
    assert gallery.shape == (len(REAL), sfx.SOUND_DIM)
    assert np.allclose(np.linalg.norm(gallery, axis=1), 1.0, atol=1e-4)
    for index, samples in enumerate(originals):
        cut = len(samples) // 10
        copies = [samples * 0.3, samples[cut:-cut], soxr.resample(samples, 44_100, 22_050)]
        copies[2] = soxr.resample(copies[2], 22_050, 44_100)
        found = np.argmax(space.encode(copies) @ gallery.T, axis=1)
        assert list(found) == [index] * 3, REAL[index]
    # the numpy reference and the ONNX graph agree on real input
    blocks = sfx.SfxFrontEnd().blocks(originals[0])
    assert np.allclose(
        sfx.SfxNet(layers).forward(blocks), space.sfx.embed_blocks(blocks), atol=1e-3
    )
    silent = space.encode([np.zeros(sfx.SAMPLE_RATE, np.float32)])
    assert np.isfinite(silent).all()


def test_lite_records_the_sound_space_and_knows_indexes_from_before_it():
    for variant in lite.VARIANTS:
        for read_text in (True, False):
            ids = lite.model_ids(variant, read_text)
            assert ids[sfx.SPACE] == sfx.SOUND_MODEL_ID and SPACE_ACOUSTIC in ids
            before = {k: v for k, v in ids.items() if k != sfx.SPACE}
            assert lite.variant_of(before) == variant and lite.reads_text_of(before) is read_text
    profile = LiteProfile("cpu", "float")
    assert profile.like_spaces["audio"] == sfx.SPACE and profile.spaces[sfx.SPACE] == sfx.SOUND_DIM
    assert profile.sound_rate == sfx.SAMPLE_RATE


@pytest.mark.slow
def test_an_index_from_before_the_sound_space_upgrades_and_similar_uses_it(tmp_path):
    root = tmp_path / "sounds"
    root.mkdir()
    for i in range(3):
        sounds.write(root / f"kick_{i}.wav", sounds.kick(i))
        sounds.write(root / f"hat_{i}.wav", sounds.hihat(i))
    sounds.write(root / "pink.wav", sounds.noise("pink", 3.0))
    directory = tmp_path / "index"
    profile = LiteProfile("cpu", "float", read_text=False)
    with open_collection(directory, create=True, profile=profile) as col:
        col.index([root])
    # As the release before this one wrote it: older ids, no sound space, no sound items.
    stored = json.loads(sql(directory, "SELECT value FROM meta WHERE key = 'profile'")[0][0])
    stored["models"] = lite.previous_ids("float")
    stored["spaces"] = {k: v for k, v in stored["spaces"].items() if k != sfx.SPACE}
    sql(directory, "UPDATE meta SET value = ? WHERE key = 'profile'", json.dumps(stored))
    sql(directory, "DELETE FROM items WHERE space = ?", sfx.SPACE)
    with open_collection(directory, write=True, read_text=False) as col:
        assert col.status()["upgrade"]["models"] == lite.model_ids("float", False)
        assert col.index([root]).upgraded == 7
        assert col.status()["models"] == lite.model_ids("float", False)
        assert col.check().ok
    counts = dict(sql(directory, "SELECT space, COUNT(*) FROM items GROUP BY space"))
    assert counts[sfx.SPACE] == counts[SPACE_ACOUSTIC] == 7 and counts[SPACE_TEXT] >= 7
    with open_collection(directory) as reader:
        hits = reader.similar(root / "kick_0.wav", limit=2)
    assert [Path(h.path).stem.split("_")[0] for h in hits] == ["kick", "kick"]
    assert {h.space for h in hits} == {sfx.SPACE}


def test_the_sound_space_is_the_fusion_it_claims(layers):
    clip = np.asarray(sounds.music(4.0, 120.0, seed=3), dtype=np.float32)
    clip = soxr.resample(clip, sounds.RATE, sfx.SAMPLE_RATE).astype(np.float32)
    fused = sfx.SoundSpace(layers).encode([clip])[0]
    learned = sfx.SfxEncoder(layers).encode([clip])[0]
    heard, _ = acoustic.shared_features().analyse(soxr.resample(clip, sfx.SAMPLE_RATE, 16_000))
    a = sfx.FUSION_WEIGHT
    assert np.allclose(fused[: sfx.DIM], np.sqrt(a) * learned, atol=1e-5)
    assert np.allclose(fused[sfx.DIM :], np.sqrt(1 - a) * heard, atol=1e-5)
