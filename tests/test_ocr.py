"""Words inside images: the gate, the reader, passages in the index, `--no-ocr`, and the
in-place upgrade of indexes built before (or without) it. Real PP-OCR weights, real photos,
pictures drawn with a real font."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.media.glance import glance
from xmodal_cli.models import SPACE_TEXT, lite, load_profile, ocr
from xmodal_cli.models.lite import LiteProfile
from xmodal_cli.models.sight import PEOPLE, ImageWords, _looker, flat_share

# (horse.png, a black silhouette on white, is flat enough for a second look, and passes it)
PHOTOS_WITHOUT_TEXT = [
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_right.png",
    "flower.jpg",
]


def _font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(
        str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size
    )


def draw_invoice(path: Path, number: int = 4471) -> Path:
    """A screenshot-like invoice: a window title and a few lines, DejaVu Sans."""
    im = Image.new("RGB", (900, 560), (240, 240, 240))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 900, 34), fill=(52, 101, 164))
    draw.text((12, 6), "Accounts - Mail", font=_font(18), fill="white")
    for row, line in enumerate(
        [f"INVOICE {number}", "Harbour Hardware Ltd", "2 boxes of wood screws 14.50", "TOTAL 29.00"]
    ):
        draw.text((50, 90 + row * 60), line, font=_font(30), fill="black")
    im.save(path)
    return path


@pytest.fixture(scope="module")
def reader() -> ocr.TextReader:
    return ocr.TextReader()


@pytest.mark.slow
def test_the_gate_passes_text_and_stops_ordinary_photos(photo_dir, tmp_path):
    words = ImageWords(read_text=True, passage_words=120)

    def gate(path: Path) -> bool:
        return words._worth_reading(_looker(str(path), None), glance(str(path), 320))

    assert gate(photo_dir / "page.png")  # a real scanned page
    assert gate(draw_invoice(tmp_path / "invoice.png"))  # flat: passed on the second look
    assert not [name for name in PHOTOS_WITHOUT_TEXT if gate(photo_dir / name)]
    assert flat_share(glance(str(tmp_path / "invoice.png"), 320)) >= ocr.FLAT_SHARE


@pytest.mark.slow
def test_the_reader_reads_a_scan_and_a_screenshot(reader, photo_dir, tmp_path):
    page = " ".join(line.text for line in reader.read(glance(str(photo_dir / "page.png"), 1280)))
    assert "segmentation" in page.lower() and "markers" in page.lower()
    lines = reader.read(glance(str(draw_invoice(tmp_path / "i.png")), ocr.READ_SIDE))
    assert any("4471" in line.text for line in lines)
    assert lines[0].text.startswith("Accounts")  # top to bottom
    assert all(line.confidence >= ocr.MIN_CONFIDENCE for line in lines)


@pytest.mark.parametrize(
    ("read", "tidied"),
    [
        ("give all recipientsacopyof thisLicense", "give all recipients a copy of this License"),
        ("INV0ICE5179 Studio10", "INVOICE 5179 Studio 10"),
        ("intoasinglecombinedwork,andtoconvey", "into a single combined work, and to convey"),
        # Real words the encoder's vocabulary lacks stay whole, never cut into syllables.
        ("Region-based segmentation bastoncini photogrammetry", None),
        ("MP3 4K v2 2024-03-12", None),
    ],
)
def test_tidy_splits_glued_words_and_leaves_real_ones(read, tidied):
    assert ocr.tidy(read) == (tidied or read)


def test_lines_become_passages_of_bounded_length():
    lines = [ocr.Line(f"word{i} more words here", 0.9) for i in range(10)]
    passages = ocr.passages_of(lines, 12)
    assert [len(p.split()) for p in passages] == [12, 12, 12, 4]
    assert ocr.passages_of([], 12) == []


@pytest.mark.slow
def test_image_passages_hold_the_words_read_and_say_nothing_without_text(photo_dir, tmp_path):
    words = ImageWords(read_text=True, passage_words=120)
    found = words.passages(str(draw_invoice(tmp_path / "invoice.png")))
    assert [p.position for p in found] == [1]
    assert "INVOICE 4471" in found[0].text and found[0].snippet.startswith("reads “")
    assert words.passages(str(photo_dir / "chelsea.png")) == []
    blind = ImageWords(read_text=False, passage_words=120)
    assert blind.passages(str(tmp_path / "invoice.png")) == []
    # The people passage sits apart from the words read (position -1, like a description).
    assert {p.position for p in words.passages(str(photo_dir / "astronaut.png"))} == {PEOPLE}


@pytest.mark.slow
def test_the_picture_decoded_with_the_photo_is_not_read_again(photo_dir, tmp_path, monkeypatch):
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.models import sight

    words = ImageWords(read_text=True, passage_words=120)
    invoice = str(draw_invoice(tmp_path / "invoice.png"))
    cases = [invoice, str(photo_dir / "astronaut.png"), str(photo_dir / "chelsea.png")]
    alone = [words.passages(path) for path in cases]
    reads: list[int] = []
    real_glance = sight.glance

    def counted(path: str, side: int) -> np.ndarray:
        reads.append(side)
        return real_glance(path, side)

    monkeypatch.setattr(sight, "glance", counted)
    decoded = [decode_image(path, whole=sight.GLANCE_SIDE) for path in cases]
    assert all(d.whole is not None and max(d.whole.shape[:2]) <= sight.GLANCE_SIDE for d in decoded)
    together = [words.passages(p, d.whole) for p, d in zip(cases, decoded, strict=True)]
    assert [[x.text for x in f] for f in together] == [[x.text for x in f] for f in alone]
    assert reads == [ocr.READ_SIDE]  # only the invoice, read at full size; nothing re-glanced
    # Pixels alone (a video frame, a rendered page) give the same words.
    pixels = np.asarray(Image.open(invoice).convert("RGB"))
    assert [x.text for x in words.passages(pixels)] == [x.text for x in alone[0]]


def test_ids_record_ocr_and_old_indexes_keep_their_variant():
    for variant in lite.VARIANTS:
        with_ocr, without = lite.model_ids(variant), lite.model_ids(variant, False)
        assert with_ocr != without and "ocr(" in with_ocr[SPACE_TEXT]
        assert lite.reads_text_of(with_ocr) is True and lite.reads_text_of(without) is False
        assert lite.variant_of(lite.previous_ids(variant)) == variant
        assert lite.reads_text_of(lite.previous_ids(variant)) is None
        assert with_ocr[SPACE_TEXT].endswith("@int8") == (variant == "int8")
    off = load_profile("lite", model_ids=lite.model_ids("float", False))
    assert isinstance(off, LiteProfile) and not off.read_text and off.variant == "float"
    old = load_profile("lite", model_ids=lite.previous_ids("float"))
    assert isinstance(old, LiteProfile) and old.read_text and old.variant == "float"


def _models(directory: Path) -> dict[str, str]:
    stored = sql(directory, "SELECT value FROM meta WHERE key = 'profile'")[0][0]
    return dict(json.loads(stored)["models"])


@pytest.mark.slow
def test_no_ocr_is_recorded_and_turning_it_on_upgrades_in_place(tmp_path, photo_dir):
    root = tmp_path / "pictures"
    root.mkdir()
    draw_invoice(root / "screenshot.png")
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        (root / name).write_bytes((photo_dir / name).read_bytes())
    directory = tmp_path / "index"
    with open_collection(directory, create=True, read_text=False) as col:
        col.index([root])
    assert not sql(directory, "SELECT 1 FROM items WHERE snippet LIKE '%4471%'")
    assert lite.reads_text_of(_models(directory)) is False
    with open_collection(directory, write=True) as col:  # no flag: as recorded
        assert isinstance(col.profile, LiteProfile) and not col.profile.read_text
        assert col.status()["upgrade"] is None
    with open_collection(directory, write=True, read_text=True) as col:
        assert isinstance(col.profile, LiteProfile) and col.profile.read_text
        assert col.status()["upgrade"]["models"] == lite.model_ids(col.profile.variant)
        summary = col.index([root])
        assert summary.upgraded == 4 and summary.indexed == 0
        hit = col.search("invoice 4471", limit=1)[0]
    assert hit.path.endswith("screenshot.png") and "4471" in hit.snippet
    assert lite.reads_text_of(_models(directory)) is True
    words = sql(directory, "SELECT snippet FROM items WHERE position > 0 AND space = 'text'")
    assert [w for (w,) in words if "4471" in w]  # the words read are stored once, as a snippet
    # … and in the word index, switched with the items: exact words find them, check agrees.
    exact = sql(directory, "SELECT count(*) FROM words_fts WHERE words_fts MATCH '4471'")
    assert exact == [(1,)]
    with open_collection(directory) as col:
        assert col.check().ok


@pytest.mark.slow
def test_an_index_from_before_people_and_ocr_upgrades_keeping_its_variant(tmp_path, photo_dir):
    root = tmp_path / "pictures"
    root.mkdir()
    draw_invoice(root / "screenshot.png", number=9052)
    directory = tmp_path / "index"
    with open_collection(directory, create=True, profile=LiteProfile("cpu", "float")) as col:
        col.index([root])
    stored = json.loads(sql(directory, "SELECT value FROM meta WHERE key = 'profile'")[0][0])
    stored["models"] = lite.previous_ids("float")  # as the release before this one wrote it
    sql(directory, "UPDATE meta SET value = ? WHERE key = 'profile'", json.dumps(stored))
    sql(directory, "DELETE FROM items WHERE position != 0")  # it had no such passages
    with open_collection(directory, write=True) as col:
        assert isinstance(col.profile, LiteProfile) and col.profile.variant == "float"
        assert col.status()["upgrade"]["models"] == lite.model_ids("float")
        assert col.index([root]).upgraded == 1
        assert "9052" in col.search("invoice 9052", limit=1)[0].snippet


def test_glance_keeps_the_whole_picture_and_refuses_junk(tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((100, 1000, 3), 200, dtype=np.uint8)).save(wide)
    assert glance(str(wide), 320).shape == (32, 320, 3)  # scaled, not cropped
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    from xmodal_cli.media import DecodeError

    with pytest.raises(DecodeError):
        glance(str(junk), 320)
