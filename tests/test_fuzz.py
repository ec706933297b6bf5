"""Fuzz the decoders (images, text, recordings): any bytes give a valid result or a
DecodeError, quickly and in bounded memory. Anything else (another exception, a hang, a huge
allocation) is a bug in media/ or recordings.

XMODAL_FUZZ_EXAMPLES sets the examples per test (default 40, which keeps this file well under
a minute); a long session, e.g. `XMODAL_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`, is
how the regressions below were found.
"""

from __future__ import annotations

import io
import os
import resource
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.sample_photos import copy_sample_photos
from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import MAX_CHUNKS, chunk_text, read_text

EXAMPLES = int(os.environ.get("XMODAL_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # slower than this on one small file counts as a hang
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_RSS_GROWTH_KB = 1024 * 1024  # 1 GiB: the 80 MP cap needs ~320 MB; 6.8 GB was a bug
IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"]
TEXT_EXTENSIONS = [".txt", ".md", ".html", ".htm", ".xml", ".json", ".csv", ".py"]


def _png(width: int, height: int, depth: int, colour: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _generated_seeds() -> dict[str, bytes]:
    """Small images in every scanned format and the modes that take other code paths."""
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 255, (40, 56, 4), dtype=np.uint8))
    deep = Image.fromarray(rng.integers(0, 65535, (40, 56), dtype=np.uint16))
    floats = rng.standard_normal((40, 56)).astype(np.float32)
    floats[3, 4], floats[5, 6] = np.nan, np.inf
    exif = Image.Exif()
    exif[0x0112], exif[271], exif[306] = 6, "Cam", "2020:01:02 03:04:05"
    cases: dict[str, tuple[Image.Image, str, dict[str, object]]] = {
        "jpg": (rgb, "JPEG", {}),
        "jpg-progressive-exif": (rgb, "JPEG", {"progressive": True, "exif": exif.tobytes()}),
        "jpg-cmyk": (rgb.convert("CMYK"), "JPEG", {}),
        "png": (rgb, "PNG", {}),
        "png-rgba": (rgba, "PNG", {}),
        "png-palette-transparent": (rgb.convert("P"), "PNG", {"transparency": 3}),
        "png-16bit": (deep, "PNG", {}),
        "png-1bit": (rgb.convert("1"), "PNG", {}),
        "gif": (rgb.convert("P"), "GIF", {}),
        "gif-animated": (rgb.convert("P"), "GIF", {"save_all": True, "append_images": [rgb]}),
        "bmp": (rgb, "BMP", {}),
        "bmp-rgba": (rgba, "BMP", {}),
        "webp": (rgb, "WEBP", {}),
        "webp-lossless-alpha": (rgba, "WEBP", {"lossless": True}),
        "tif": (rgb, "TIFF", {"compression": "tiff_lzw"}),
        "tif-jpeg": (rgb, "TIFF", {"compression": "jpeg"}),
        "tif-float-nan": (Image.fromarray(floats), "TIFF", {}),
        "tif-16bit": (deep, "TIFF", {"compression": "tiff_adobe_deflate"}),
        "tif-lab": (rgb.convert("LAB"), "TIFF", {}),
    }
    out = {}
    for name, (image, fmt, options) in cases.items():
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        out[name] = buffer.getvalue()
    # Found by fuzzing: a 2×3,000,000 px strip (9 KB of PNG) was scaled to 224 px wide
    # *before* the crop, i.e. to 224×336,000,000 px: MemoryError outside the try block.
    out["png-strip"] = _png(2, 3_000_000, 8, 0, b"\x00\x80\x80" * 3_000_000)
    return out


def _sample_photo_seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz-photos")
    return {f"photo-{p.name}": p.read_bytes() for p in copy_sample_photos(folder)}


SEEDS = _generated_seeds()


@pytest.fixture(scope="module")
def photo_seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _sample_photo_seeds(tmp_path_factory)


@pytest.fixture(scope="module")
def rss_baseline() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _check_image(path: Path, rss_baseline: int) -> str:
    try:
        decoded = decode_image(str(path))
    except DecodeError as exc:
        reason = str(exc)
        assert reason and "\n" not in reason  # a one-line skip reason
        outcome = "skipped"
    else:
        assert decoded.pixels.shape == (224, 224, 3)
        assert decoded.pixels.dtype == np.uint8
        assert isinstance(decoded.info, dict)
        outcome = "decoded"
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_baseline
    assert growth < MAX_RSS_GROWTH_KB, f"decoding {path.name} grew the process by {growth} KiB"
    return outcome


def _mutate(data: bytes, cut: float, flips: list[tuple[float, int]], insert: bytes) -> bytes:
    out = bytearray(data[: max(1, int(len(data) * cut))])
    for where, value in flips:
        out[int(where * (len(out) - 1))] = value
    out[len(out) // 2 : len(out) // 2] = insert
    return bytes(out)


MUTATIONS = {  # cut the file short, overwrite a few bytes, insert a few in the middle
    "cut": st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
    "flips": st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=12),
    "insert": st.one_of(st.just(b""), st.binary(max_size=64)),
}
IMAGE_EXT = st.sampled_from(IMAGE_EXTENSIONS)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_is_a_valid_image(tmp_path, rss_baseline, name):
    """Mutating a seed that does not decode in the first place would prove little."""
    path = tmp_path / f"seed.{name.split('-')[0]}"
    path.write_bytes(SEEDS[name])
    assert decode_image(str(path)).pixels.shape == (224, 224, 3)
    assert _check_image(path, rss_baseline) == "decoded"  # and within the memory bound


@FUZZ
@given(name=st.sampled_from(sorted(SEEDS)), ext=IMAGE_EXT, **MUTATIONS)
@example(name="png-strip", cut=1.0, flips=[], insert=b"", ext=".png")
@example(name="tif-float-nan", cut=1.0, flips=[], insert=b"", ext=".tif")
@example(name="jpg", cut=0.5, flips=[], insert=b"", ext=".jpg")
@example(name="png", cut=1.0, flips=[(0.5, 0)], insert=b"\x00" * 8, ext=".png")
@example(name="png", cut=0.5, flips=[], insert=b"", ext=".png")
@example(name="jpg", cut=1.0, flips=[(0.5, 0)], insert=b"\xff\xd9", ext=".jpeg")  # EOI inside
def test_mutated_generated_images(tmp_path, rss_baseline, name, cut, flips, insert, ext):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(_mutate(SEEDS[name], cut, flips, insert))
    _check_image(path, rss_baseline)


@FUZZ
@given(index=st.integers(0, 10_000), ext=IMAGE_EXT, **MUTATIONS)
def test_mutated_real_photos(tmp_path, rss_baseline, photo_seeds, index, cut, flips, insert, ext):
    name = sorted(photo_seeds)[index % len(photo_seeds)]
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(_mutate(photo_seeds[name], cut, flips, insert))
    _check_image(path, rss_baseline)


@FUZZ
@given(
    width=st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)),
    height=st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)),
    depth=st.sampled_from([1, 2, 4, 8, 16, 3, 0]),
    colour=st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
    raw=st.binary(max_size=2048),
)
@example(width=2, height=3_000_000, depth=8, colour=0, raw=b"\x00\x80\x80" * 1000)
@example(width=30000, height=30000, depth=8, colour=2, raw=b"")
def test_png_headers_with_any_geometry(tmp_path, rss_baseline, width, height, depth, colour, raw):
    # Flips rarely get past PNG's checksums; this writes well-formed chunks around any header.
    path = tmp_path / "header.png"
    path.write_bytes(_png(width, height, depth, colour, raw))
    _check_image(path, rss_baseline)


@FUZZ
@given(data=st.binary(max_size=4096), ext=IMAGE_EXT)
def test_random_bytes_as_images(tmp_path, rss_baseline, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_image(path, rss_baseline)


def _check_text(path: Path) -> None:
    try:
        text = read_text(str(path))
    except DecodeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(text, str) and text.strip()
    chunks = chunk_text(text)
    assert 1 <= len(chunks) <= MAX_CHUNKS
    for chunk in chunks:
        assert isinstance(chunk.text, str) and chunk.text.strip() == chunk.text != ""
        assert 0 <= chunk.start < len(text)
        first_word = chunk.text.split(" ")[0]
        assert text.startswith(first_word, chunk.start)  # the offset points into the text
        assert text[chunk.start] == chunk.text[0]
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})


ENCODINGS = [
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1",
    "shift_jis", "gb18030", "koi8-r", "mac_roman", "utf-7",
]  # fmt: skip


MARKUP_TOKENS = [
    "<", ">", "</", "/>", "<!--", "-->", "<!", "<?", "?>", "<![CDATA[", "]]>", "<a ", "<p>",
    "</p>", "<script>", "</script>", "<style>", "</style >", "&amp;", "&#", "&#x41;", "&",
    "=", '"', "'", " ", "\n", "word", "é", "\x00",
]  # fmt: skip


@FUZZ
@given(data=st.binary(max_size=8192), ext=st.sampled_from(TEXT_EXTENSIONS))
@example(data=b"\xff\xfe\x00\x00a\x00\x00\x00", ext=".txt")  # UTF-32 BOM
@example(data=b"<script>never closed", ext=".html")
def test_random_bytes_as_text(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_text(path)


@FUZZ
@given(
    text=st.text(min_size=1, max_size=2000),
    encoding=st.sampled_from(ENCODINGS),
    ext=st.sampled_from(TEXT_EXTENSIONS),
)
def test_random_text_in_any_encoding(tmp_path, text, encoding, ext):
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path / f"text{ext}"
    path.write_bytes(data)
    _check_text(path)


@FUZZ
@given(
    tokens=st.lists(st.sampled_from(MARKUP_TOKENS), max_size=400),
    repeat=st.integers(1, 200),
    ext=st.sampled_from([".html", ".htm", ".xml"]),
)
# Found by fuzzing: html.parser is quadratic on unclosed tags; this 60 KB page took 35 s.
@example(tokens=["<a "], repeat=20_000, ext=".html")
@example(tokens=["<!--"], repeat=20_000, ext=".html")
@example(tokens=["<a b='"], repeat=20_000, ext=".xml")
def test_markup_soup(tmp_path, tokens, repeat, ext):
    path = tmp_path / f"page{ext}"
    path.write_text("".join(tokens) * repeat, encoding="utf-8")
    _check_text(path)


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


@pytest.fixture(scope="module")
def audio_ready(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every sound seed is a valid recording, and the audio stack is imported and warm before
    the first timed example (a cold first import can take longer than the deadline)."""
    from xmodal_cli.models.acoustic import shared_features
    from xmodal_cli.recordings import analyse_recording

    folder = tmp_path_factory.mktemp("sound-seeds")
    for ext, data in SOUND_SEEDS.items():
        path = folder / f"seed.{ext}"
        path.write_bytes(data)
        recording = analyse_recording(str(path), features=shared_features(), transcribe=None)
        assert recording.windows and recording.passages, ext


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
@given(ext=st.sampled_from(sorted(SOUND_SEEDS)), **MUTATIONS)
@example(ext="wav", cut=0.5, flips=[], insert=b"")  # truncated mid-data
@example(ext="wav", cut=0.02, flips=[], insert=b"")  # header only
@example(ext="wav", cut=1.0, flips=[(0.02, 255), (0.03, 255)], insert=b"")  # absurd sizes
@example(ext="wav", cut=0.029296875, flips=[(0.046875, 1)], insert=b"")  # a codec without decoder
def test_mutated_recordings_decode_or_fail_cleanly(tmp_path, audio_ready, ext, cut, flips, insert):
    path = tmp_path / f"fuzz.{ext}"
    path.write_bytes(_mutate(SOUND_SEEDS[ext], cut, flips, insert))
    _check_audio(path)


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".wav", ".mp3", ".m4a", ".ogg"]))
def test_random_bytes_as_recordings(tmp_path, audio_ready, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_audio(path)


VIDEO_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9", "avi": "mpeg4", "mkv": "mjpeg"}


@pytest.fixture(scope="module")
def video_seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Four seconds of two real photos, with a soundtrack, in each container the scan takes;
    every seed decodes to frames (and the video stack is warm before the first timed one)."""
    from bench.sample_videos import Slide, make_video

    folder = tmp_path_factory.mktemp("video-seeds")
    photos = copy_sample_photos(folder / "photos")
    out = {}
    for ext, codec in VIDEO_CODECS.items():
        slides = [Slide(0, 2, photos[0]), Slide(2, 2, photos[1])]
        path = make_video(folder / f"seed.{ext}", slides, width=64, height=48, fps=5, codec=codec)
        out[ext] = path.read_bytes()
        assert _check_video(path) == 2, ext
    return out


def _check_video(path: Path) -> int:
    """Frames read, or -1 for a clean DecodeError; anything else fails the test."""
    from xmodal_cli.media.video import read_frames
    from xmodal_cli.models.acoustic import shared_features
    from xmodal_cli.recordings import analyse_recording

    try:
        stream, frames = read_frames(str(path))
        times = []
        for frame in frames:
            assert frame.pixels.shape == (224, 224, 3) and frame.pixels.dtype == np.uint8
            times.append(frame.seconds)
        assert times == sorted(times) and all(t >= 0 for t in times)
    except DecodeError as exc:
        assert str(exc)
        return -1
    if stream.has_audio:
        try:
            analyse_recording(str(path), features=shared_features(), transcribe=None)
        except DecodeError as exc:
            assert str(exc)
    return len(times)


@FUZZ
@given(ext=st.sampled_from(sorted(VIDEO_CODECS)), **MUTATIONS)
@example(ext="mp4", cut=0.5, flips=[], insert=b"")  # the index (moov) is at the end: gone
@example(ext="mkv", cut=0.6, flips=[], insert=b"")  # Matroska plays up to the cut
def test_mutated_videos_decode_or_fail_cleanly(
    tmp_path, rss_baseline, video_seeds, ext, cut, flips, insert
):
    path = tmp_path / f"fuzz.{ext}"
    path.write_bytes(_mutate(video_seeds[ext], cut, flips, insert))
    _check_video(path)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_baseline
    assert grown < MAX_RSS_GROWTH_KB


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".mp4", ".mov", ".mkv", ".avi"]))
def test_random_bytes_as_videos(tmp_path, video_seeds, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _check_video(path)
