"""media/: photo decoding (orientation, odd modes, corrupt files, bombs) and text reading."""

from __future__ import annotations

import codecs
import itertools
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.sample_photos import copy_sample_photos
from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import (
    MAX_CHUNKS,
    chunk_text,
    overlap_words,
    read_text,
    strip_markup,
    title_words,
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    copied = copy_sample_photos(tmp_path_factory.mktemp("photos"))
    assert len(copied) >= 20, "the sample photo packages are dev dependencies"
    return {p.name: p for p in copied}


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chelsea.png", "grace_hopper.jpg", "china.jpg", "camera.png"])
def test_real_photo_decodes_to_square_rgb(photos: dict[str, Path], name: str) -> None:
    decoded = decode_image(str(photos[name]))
    assert decoded.pixels.shape == (224, 224, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.std() > 5  # a real picture, not a blank canvas
    with Image.open(photos[name]) as im:
        assert (decoded.info["width"], decoded.info["height"]) == im.size


def test_every_sample_photo_decodes(photos: dict[str, Path]) -> None:
    for path in photos.values():
        assert decode_image(str(path), size=64).pixels.shape == (64, 64, 3)


def _two_tone(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[:, : width // 2] = (255, 0, 0)
    arr[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(arr)


def _is_red(px: np.ndarray) -> bool:
    return int(px[0]) > 200 and int(px[2]) < 60


def _is_blue(px: np.ndarray) -> bool:
    return int(px[2]) > 200 and int(px[0]) < 60


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90° clockwise: left edge becomes top
    rotated = tmp_path / "rotated.jpg"
    _two_tone(400, 200).save(rotated, quality=95, exif=exif)
    plain = tmp_path / "plain.jpg"
    _two_tone(400, 200).save(plain, quality=95)

    decoded = decode_image(str(rotated))
    assert (decoded.info["width"], decoded.info["height"]) == (200, 400)  # portrait, as seen
    px = decoded.pixels
    assert _is_red(px[5, 112]) and _is_blue(px[218, 112])  # red on top, blue below
    assert _is_red(px[5, 5]) and _is_red(px[5, 218])  # the top row is one colour

    px = decode_image(str(plain)).pixels
    assert _is_red(px[112, 5]) and _is_blue(px[112, 218])  # without the tag: left/right


def test_exif_date_and_camera_end_up_in_info(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[271] = "Canon"
    exif[272] = "EOS 5D"
    exif.get_ifd(0x8769)[36867] = "2021:05:01 10:11:12"
    path = tmp_path / "exif.jpg"
    _two_tone(64, 48).save(path, exif=exif)
    info = decode_image(str(path)).info
    assert info["taken"] == "2021-05-01 10:11:12"
    assert info["camera"] == "Canon EOS 5D"
    assert (info["width"], info["height"]) == (64, 48)


def test_photo_without_exif_has_only_dimensions(photos: dict[str, Path]) -> None:
    info = decode_image(str(photos["chelsea.png"])).info
    assert set(info) == {"width", "height"}


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    arr = np.zeros((50, 80, 4), dtype=np.uint8)
    arr[..., 0] = 255  # fully transparent red must not show as red (or black)
    path = tmp_path / "clear.png"
    Image.fromarray(arr, "RGBA").save(path)
    px = decode_image(str(path)).pixels
    assert px.shape == (224, 224, 3)
    assert (px == 255).all()


def test_palette_images_decode(tmp_path: Path, photos: dict[str, Path]) -> None:
    with Image.open(photos["chelsea.png"]) as im:
        palette = im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    path = tmp_path / "palette.png"
    palette.save(path)
    assert decode_image(str(path)).pixels.shape == (224, 224, 3)

    transparent = tmp_path / "palette-t.png"
    palette.save(transparent, transparency=0)
    assert decode_image(str(transparent)).pixels.shape == (224, 224, 3)

    gif = tmp_path / "palette.gif"
    palette.save(gif)
    assert decode_image(str(gif)).pixels.shape == (224, 224, 3)


def test_16_bit_grayscale_is_rescaled(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(1000, 50000, 200, dtype=np.uint16), (200, 1))  # square: no crop
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # really a 16-bit file
    px = decode_image(str(path)).pixels
    assert px.shape == (224, 224, 3)
    # The full 16-bit range is stretched to 0..255, not clipped to white.
    assert px[..., 0].min() < 30 and px[..., 0].max() > 225
    assert (px[..., 0] == px[..., 1]).all()


def test_truncated_jpeg_raises(tmp_path: Path, photos: dict[str, Path]) -> None:
    data = photos["grace_hopper.jpg"].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="not a readable image"):
        decode_image(str(path))


def test_truncated_png_raises(tmp_path: Path, photos: dict[str, Path]) -> None:
    data = photos["chelsea.png"].read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DecodeError):
        decode_image(str(path))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.jpg", b""),
        ("noise.jpg", np.random.default_rng(0).bytes(4096)),
        ("text.png", b"this is not an image at all\n" * 20),
    ],
)
def test_non_images_raise(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DecodeError, match="not a readable image"):
        decode_image(str(path))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_decompression_bomb_header_is_refused_fast(tmp_path: Path) -> None:
    # A valid PNG whose IHDR claims 30000×30000 RGB (2.7 GB decoded) with a tiny IDAT.
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + _png_chunk(b"IEND", b"")
    )
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="too large"):
        decode_image(str(path))
    assert time.perf_counter() - started < 1.0


def test_missing_file_says_vanished(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="vanished"):
        decode_image(str(tmp_path / "gone.jpg"))


# -- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "café naïve — ünïcode".encode(),
        codecs.BOM_UTF8 + "café naïve — ünïcode".encode(),
        "café naïve — ünïcode".encode("utf-16"),  # native order with a BOM
        codecs.BOM_UTF16_BE + "café naïve — ünïcode".encode("utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16be-bom"],
)
def test_unicode_encodings_decode(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(data)
    assert read_text(str(path)) == "café naïve — ünïcode"


def test_cp1252_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("café “quoted” – 10€".encode("cp1252"))
    assert read_text(str(path)) == "café “quoted” – 10€"


def test_binary_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"header\x00\x01\x02\x00binary stuff")
    with pytest.raises(DecodeError, match="binary"):
        read_text(str(path))


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "])
def test_empty_or_blank_file_raises(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "blank.md"
    path.write_bytes(data)
    with pytest.raises(DecodeError, match="empty"):
        read_text(str(path))


def test_markup_only_html_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "shell.html"
    path.write_text("<html><head><script>var x = 1;</script></head><body></body></html>")
    with pytest.raises(DecodeError, match="empty"):
        read_text(str(path))


def test_missing_or_directory_text_raises(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="vanished"):
        read_text(str(tmp_path / "gone.txt"))
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(DecodeError, match="directory"):
        read_text(str(folder))


def test_html_strips_tags_script_and_style(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Trip</title><style>body { color: red }</style>"
        "<script>var secret = 'tracking';</script></head>"
        "<body><h1>Sunset</h1><p>Over the <b>sea</b> &amp; sand</p></body></html>"
    )
    path = tmp_path / "page.html"
    path.write_text(page)
    result = read_text(str(path))
    words = result.split()
    for word in ("Trip", "Sunset", "Over", "sea", "&", "sand"):
        assert word in words
    for hidden in ("color", "secret", "tracking", "<b>", "<p>", "&amp;"):
        assert hidden not in result
    # Markup in a .txt file is the file's text and is kept.
    plain = tmp_path / "page.txt"
    plain.write_text(page)
    assert "<script>" in read_text(str(plain))


def test_strip_markup_handles_nested_script() -> None:
    assert strip_markup("<div>a<script>x<b>y</b></script>b</div>").split() == ["a", "b"]


def test_chunk_text_overlap_and_offsets() -> None:
    words = [f"w{i}" for i in range(400)]
    # Irregular whitespace: offsets must point into the original text.
    source = "  " + "".join(w + (" \n\t"[i % 3] * (1 + i % 2)) for i, w in enumerate(words))
    chunks = chunk_text(source)
    assert len(chunks) > 2
    assert chunks[0].text.split() == words[:120]
    for chunk in chunks:
        first = chunk.text.split()[0]
        assert source[chunk.start : chunk.start + len(first)] == first
        assert source[chunk.start - 1].isspace()
        assert "  " not in chunk.text and "\n" not in chunk.text
    overlap = overlap_words(len(chunks[0].text.split()))
    assert overlap == 120 // 4  # a quarter of a passage
    for earlier, later in itertools.pairwise(chunks):
        assert earlier.text.split()[-overlap:] == later.text.split()[:overlap]
    assert chunks[-1].text.split()[-1] == "w399"  # nothing lost at the end
    covered = {w for c in chunks for w in c.text.split()}
    assert covered == set(words)


def test_chunk_text_small_and_empty() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t ") == []
    (only,) = chunk_text("  just a   few words ")
    assert only.text == "just a few words"
    assert only.start == 2
    exact = " ".join(f"x{i}" for i in range(120))
    assert len(chunk_text(exact)) == 1  # no redundant tail chunk


def test_chunk_text_custom_sizes() -> None:
    chunks = chunk_text("a b c d e f g", words=3, overlap=1)
    assert [c.text for c in chunks] == ["a b c", "c d e", "e f g"]
    assert [c.start for c in chunks] == [0, 4, 8]


def test_chunk_text_is_capped() -> None:
    many = " ".join(["word"] * 20_000)
    assert len(chunk_text(many, words=4, overlap=1)) == MAX_CHUNKS


def test_chunk_cap_follows_max_chunks() -> None:
    assert len(chunk_text(" ".join(["w"] * 1000), words=10, overlap=2, max_chunks=3)) == 3


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/x/tax_receipt-2023.txt", "tax receipt 2023"),
        ("myHolidayPlans.md", "my Holiday Plans"),
        ("/notes/_draft__v2.txt", "draft v2"),
        ("plain", "plain"),
        ("dots.in.name.md", "dots in name"),
    ],
)
def test_title_words(path: str, expected: str) -> None:
    assert title_words(path) == expected


def test_read_is_capped_at_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("abcdefghijklmnopqrstuvwxyz")
    assert read_text(str(path), max_bytes=10) == "abcdefghij"


def test_multibyte_character_cut_by_cap_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("abcdefghi€ and more")  # € is 3 bytes: bytes 10-12, cut after the first
    assert read_text(str(path), max_bytes=10) == "abcdefghi"  # UTF-8 kept, not cp1252
