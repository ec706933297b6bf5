"""Fuzz the decoders: any input gives a valid result or a DecodeError, never anything else.

XMODAL_FUZZ_EXAMPLES raises the number of examples per test (default 60; the closing-note
figure used a long run).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import chunk_text, read_text

EXAMPLES = int(os.environ.get("XMODAL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _seed_images() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = {}
    for fmt in ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        out[fmt.lower()] = buffer.getvalue()
    return out


SEEDS = _seed_images()


def _check_image(path: Path) -> None:
    try:
        decoded = decode_image(str(path))
    except DecodeError as exc:
        assert str(exc)  # a one-line reason
        return
    assert decoded.pixels.shape == (224, 224, 3) and decoded.pixels.dtype == np.uint8


@FUZZ
@given(
    fmt=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=12),
    insert=st.binary(max_size=64),
)
@example(fmt="png", cut=0.5, flips=[], insert=b"")
@example(fmt="jpeg", cut=1.0, flips=[(0.5, 0)], insert=b"\xff\xd9")
def test_mutated_images_decode_or_fail_cleanly(tmp_path, fmt, cut, flips, insert):
    data = bytearray(SEEDS[fmt][: max(1, int(len(SEEDS[fmt]) * cut))])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data[len(data) // 2 : len(data) // 2] = insert
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(bytes(data))
    _check_image(path)


@FUZZ
@given(
    data=st.binary(max_size=4096), ext=st.sampled_from([".jpg", ".png", ".gif", ".webp", ".tif"])
)
def test_random_bytes_as_images(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_image(path)


def _check_text(path: Path) -> None:
    try:
        text = read_text(str(path))
    except DecodeError as exc:
        assert str(exc)
        return
    assert isinstance(text, str) and text.strip()
    for chunk in chunk_text(text):
        assert chunk.text and 0 <= chunk.start < len(text)
        assert text[chunk.start] == chunk.text[0]


@FUZZ
@given(data=st.binary(max_size=8192), ext=st.sampled_from([".txt", ".md", ".html", ".json", ".py"]))
@example(data=b"\xff\xfe\x00\x00a\x00\x00\x00", ext=".txt")  # UTF-32 BOM
@example(data=b"<script>never closed", ext=".html")
def test_random_bytes_as_text(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_text(path)


@FUZZ
@given(
    text=st.text(min_size=1, max_size=2000),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252", "latin-1"]),
    ext=st.sampled_from([".txt", ".html"]),
)
def test_random_text_in_any_encoding(tmp_path, text, encoding, ext):
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path / f"text{ext}"
    path.write_bytes(data)
    _check_text(path)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_every_seed_is_a_valid_image(tmp_path, fmt):
    path = tmp_path / f"seed.{fmt}"
    path.write_bytes(SEEDS[fmt])
    assert decode_image(str(path)).pixels.shape == (224, 224, 3)


def _seed_sounds() -> dict[str, bytes]:
    """Half a second of a chord plus noise in every format the decoders take."""
    import soundfile

    t = np.arange(8000) / 16_000
    rng = np.random.default_rng(3)
    samples = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(len(t))).astype(
        np.float32
    )
    out = {}
    for ext, fmt, subtype in (
        ("wav", "WAV", "PCM_16"),
        ("flac", "FLAC", "PCM_16"),
        ("ogg", "OGG", "VORBIS"),
        ("mp3", "MP3", "MPEG_LAYER_III"),
    ):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 16_000, format=fmt, subtype=subtype)
        out[ext] = buffer.getvalue()
    return out


SOUND_SEEDS = _seed_sounds()


def _check_audio(path: Path) -> None:
    from xmodal_cli.models.acoustic import shared_features
    from xmodal_cli.recordings import analyse_recording

    try:
        recording = analyse_recording(str(path), features=shared_features(), transcribe=None)
    except DecodeError as exc:
        assert str(exc)
        return
    assert recording.windows and recording.passages
    for window in recording.windows:
        assert window.vector.dtype == np.float32 and np.isfinite(window.vector).all()
        assert abs(float(np.linalg.norm(window.vector)) - 1.0) < 1e-3


@FUZZ
@given(
    ext=st.sampled_from(sorted(SOUND_SEEDS)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=12),
    insert=st.binary(max_size=64),
)
@example(ext="wav", cut=0.5, flips=[], insert=b"")  # truncated mid-data
@example(ext="wav", cut=0.02, flips=[], insert=b"")  # header only
@example(ext="wav", cut=1.0, flips=[(0.02, 255), (0.03, 255)], insert=b"")  # absurd sizes
@example(ext="wav", cut=0.029296875, flips=[(0.046875, 1)], insert=b"")  # a codec without decoder
def test_mutated_recordings_decode_or_fail_cleanly(tmp_path, ext, cut, flips, insert):
    seed = SOUND_SEEDS[ext]
    data = bytearray(seed[: max(1, int(len(seed) * cut))])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data[len(data) // 2 : len(data) // 2] = insert
    path = tmp_path / f"fuzz.{ext}"
    path.write_bytes(bytes(data))
    _check_audio(path)


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".wav", ".mp3", ".m4a", ".ogg"]))
def test_random_bytes_as_recordings(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_audio(path)
