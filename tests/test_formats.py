"""The formats people have: PDF, Word, OpenDocument and EPUB documents (passages point at
the page or chapter), HEIC/HEIF and AVIF photos, camera RAW. Every file is built here with
the format's own library (or by hand, for PDF) from real text and the repo's sample photos;
a search finds the right file and page, and bad files are skipped with a one-line reason."""

from __future__ import annotations

import io
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import ListReporter
from tests.test_fuzz import FUZZ, MUTATIONS, _mutate
from xmodal_cli.collection import open_collection
from xmodal_cli.media import DecodeError
from xmodal_cli.media.documents import document_chunks, read_document
from xmodal_cli.media.glance import glance
from xmodal_cli.media.image import decode_image
from xmodal_cli.scan import modality_of

PAGES = [  # three pages on three topics, each long enough to be a passage of its own
    "Quarterly report. Revenue of the northern region grew by eleven percent while the "
    "southern stores stayed flat. The board approved the budget for the new warehouse and "
    "asked finance to prepare a forecast for the coming year, including staff costs.",
    "Repairing a puncture. Take the wheel off the bicycle, lever the tyre from the rim and "
    "pull out the inner tube. Pump it up and listen for the hiss of escaping air, or hold it "
    "under water and watch for bubbles. Roughen the rubber, spread glue, press the patch.",
    "The balcony garden. Tomatoes grow in the large pots, basil and parsley in the window "
    "box. Water every evening during July and feed the tomatoes weekly once the first "
    "flowers appear. Pinch out the side shoots so the plants put their energy into fruit.",
]
TRAVEL = (
    "Flight to Lisbon on Friday morning. Take tram 28 up to the castle, eat custard tarts in "
    "Belem and watch the sunset over the river from the viewpoint near the cathedral."
)
PIANO = (
    "Piano practice: scales in C minor for ten minutes, then the left hand of the Chopin "
    "nocturne slowly with the metronome, and the pedal marks in the middle section."
)
CHAPTERS = [
    ("The voyage", "The ship left the harbour at dawn, its sails filling with a cold wind "
     "from the north while the sailors sang and the gulls circled the masts."),
    ("The kitchen", "Grandmother kneaded the bread dough on the floured table, let it rise "
     "under a cloth by the stove and baked two loaves before lunch."),
    ("The exam", "The students sat in silent rows solving equations in algebra and "
     "geometry while the clock ticked towards the end of the mathematics test."),
]  # fmt: skip


def make_pdf(path: Path, pages: list[str], *, encrypt: bool = False) -> Path:
    """A PDF with a text layer, one page per string (Helvetica, wrapped at 80 characters)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font = 3 + 2 * len(pages)
    kids = []
    for number, text in enumerate(pages):
        lines, line = [], ""
        for word in text.split():
            if len(line) + len(word) > 80:
                lines.append(line)
                line = ""
            line = f"{line} {word}".strip()
        lines.append(line)
        body = "BT /F1 11 Tf 14 TL 50 780 Td " + " ".join(
            "(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for ln in lines
        )
        stream = zlib.compress(body.encode("latin-1"))
        page_id, content_id = 3 + 2 * number, 4 + 2 * number
        kids.append(f"{page_id} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    trailer = f"/Size {len(objects) + 1} /Root 1 0 R"
    if encrypt:  # the standard handler, whose user password is not the empty one
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32
            + b"> /P -4 >>"
        )  # fmt: skip
        trailer = f"/Size {len(objects) + 1} /Root 1 0 R /Encrypt {len(objects)} 0 R "
        trailer += "/ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets))
    out.write(f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Holiday plans", 0)
    document.add_paragraph(TRAVEL)
    document.add_heading("Expenses", 1)
    document.add_paragraph("Receipts to claim back from the trip, listed by date.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Invoice", "INV-77341"
    document.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    for title, text in (("Practice diary", PIANO), ("Shopping", "Milk, eggs, flour.")):
        document.text.addElement(H(outlinelevel=1, text=title))
        document.text.addElement(P(text=text))
    document.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("xmodal-test-book")
    book.set_title("Three chapters")
    book.set_language("en")
    chapters = []
    for number, (title, text) in enumerate(CHAPTERS, 1):
        chapter = epub.EpubHtml(title=title, file_name=f"chap{number}.xhtml", lang="en")
        chapter.content = f"<h1>{title}</h1><p>{text}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def make_heic(path: Path, source: Path) -> Path:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    with Image.open(source) as im:
        im.convert("RGB").save(path, format="HEIF", quality=80)
    return path


def make_avif(path: Path, source: Path) -> Path:
    with Image.open(source) as im:
        im.convert("RGB").save(path, format="AVIF", quality=70)
    return path


_XYZ_TO_SRGB = [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]


def make_dng(
    path: Path, mosaic_of: Path | None = None, preview: Path | None = None, turn: int = 1
) -> Path:
    """A DNG whose sensor data is `mosaic_of` as an RGGB Bayer mosaic (black without it),
    with `preview` embedded as a 900×600 JPEG, and EXIF orientation `turn`."""
    import tifffile

    rgb = np.asarray(Image.open(mosaic_of or preview or "").convert("RGB"), dtype=np.float64)
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    linear = ((rgb[:height, :width] / 255.0) ** 2.2 * 4095).astype(np.uint16)
    mosaic = np.zeros((height, width), np.uint16)
    if mosaic_of is not None:
        for row, col, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):
            mosaic[row::2, col::2] = linear[row::2, col::2, channel]
    matrix = tuple(v for line in _XYZ_TO_SRGB for c in line for v in (round(c * 10000), 10000))
    dng: list[tuple[int, str, int, object, bool]] = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "xmodal test camera", True),  # UniqueCameraModel
        (50721, "2i", 9, matrix, True),  # ColorMatrix1: the camera sees linear sRGB
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (274, "H", 1, turn, True),  # Orientation
    ]
    sensor: list[tuple[int, str, int, object, bool]] = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50717, "I", 1, 4095, True),  # WhiteLevel
    ]
    jpeg = io.BytesIO()
    if preview is not None:
        Image.open(preview).convert("RGB").resize((900, 600)).save(jpeg, "JPEG", quality=85)
    with tifffile.TiffWriter(path) as writer:
        if preview is None:
            writer.write(mosaic, photometric=32803, extratags=dng + sensor, metadata=None)
            return path
        # tifffile cannot encode JPEG without imagecodecs: the JPEG is written as one strip
        # of bytes and the preview's tags are then set to say what it is.
        strip = np.frombuffer(jpeg.getvalue(), np.uint8).reshape(1, -1)
        writer.write(strip, subfiletype=1, extratags=dng, subifds=1, metadata=None)
        writer.write(mosaic, photometric=32803, extratags=sensor, metadata=None)
    with tifffile.TiffFile(path, mode="r+") as tiff:
        tags = tiff.pages[0].tags  # type: ignore[union-attr]
        for name, value in (
            ("Compression", 7), ("PhotometricInterpretation", 6),
            ("ImageWidth", 900), ("ImageLength", 600), ("RowsPerStrip", 600),
        ):  # fmt: skip
            tags[name].overwrite(value)
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Path:
    """Documents of every format, two photos in the phone formats, bad files of each kind."""
    root = tmp_path_factory.mktemp("library")
    make_pdf(root / "report.pdf", PAGES)
    make_docx(root / "holiday.docx")
    make_odt(root / "diary.odt")
    make_epub(root / "novel.epub")
    make_heic(root / "IMG_0001.heic", photo_dir / "chelsea.png")
    make_avif(root / "IMG_0002.avif", photo_dir / "coffee.png")
    make_dng(root / "DSC_0003.dng", preview=photo_dir / "rocket.jpg")  # no sensor data
    for name in ("astronaut.png", "horse.png", "brick.png", "grace_hopper.jpg"):
        (root / name).write_bytes((photo_dir / name).read_bytes())
    bad = root / "bad"
    bad.mkdir()
    make_pdf(bad / "locked.pdf", PAGES, encrypt=True)
    Image.open(photo_dir / "page.png").convert("RGB").save(bad / "scan.pdf")
    (bad / "empty.docx").write_bytes(b"")
    (bad / "cut.pdf").write_bytes((root / "report.pdf").read_bytes()[:300])
    (bad / "cut.docx").write_bytes((root / "holiday.docx").read_bytes()[:2000])
    (bad / "junk.odt").write_bytes(os.urandom(3000))
    (bad / "cut.epub").write_bytes((root / "novel.epub").read_bytes()[:1500])
    (bad / "cut.heic").write_bytes((root / "IMG_0001.heic").read_bytes()[:1000])
    (bad / "protected.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))
    _encrypt_odt(root / "diary.odt", bad / "protected.odt")
    (bad / "cut.nef").write_bytes((root / "DSC_0003.dng").read_bytes()[:4000])
    (bad / "junk.avif").write_bytes(b"\x00\x00\x00\x1cftypavif" + os.urandom(500))
    return root


def _encrypt_odt(source: Path, target: Path) -> None:
    """The same file, with a manifest that says content.xml is encrypted (as LibreOffice's
    "save with password" writes it)."""
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "META-INF/manifest.xml":
                data = re.sub(
                    rb'(full-path="content.xml"[^>]*)/>',
                    rb'\1><manifest:encryption-data manifest:checksum-type="SHA1/1K"/>'
                    rb"</manifest:file-entry>",
                    data,
                )
                assert b"encryption-data" in data
            new.writestr(info, data)


def test_scan_takes_the_new_formats():
    for name in ("a.pdf", "b.DOCX", "c.odt", "d.epub"):
        assert modality_of(name) == "text"
    for name in ("e.heic", "f.HEIF", "g.avif", "h.dng", "i.NEF", "j.cr2", "k.arw"):
        assert modality_of(name) == "image"


def test_documents_give_passages_labelled_with_their_place(library):
    pdf = document_chunks(str(library / "report.pdf"), 120)
    assert [c.label for c in pdf] == ["p. 1", "p. 2", "p. 3"]
    assert pdf[1].text.startswith("Repairing a puncture.") and "patch" in pdf[1].text
    word = document_chunks(str(library / "holiday.docx"), 120)
    assert [c.label for c in word] == ["§ Holiday plans", "§ Expenses"]
    assert "Lisbon" in word[0].text
    odt = document_chunks(str(library / "diary.odt"), 120)
    assert [c.label for c in odt] == ["§ Practice diary", "§ Shopping"]
    assert "Chopin" in odt[0].text
    book = document_chunks(str(library / "novel.epub"), 120)  # the table of contents is not
    assert [c.label for c in book] == ["ch. 1", "ch. 2", "ch. 3"]
    assert "Grandmother" in book[1].text
    long = document_chunks(str(library / "report.pdf"), 20)  # a page longer than a passage
    assert {c.label for c in long} == {"p. 1", "p. 2", "p. 3"} and len(long) > 6
    first = read_document(str(library / "report.pdf"), max_pages=2)  # stops, closes the PDF
    assert [s.label for s in first] == ["p. 1", "p. 2"]
    assert [s.label for s in read_document(str(library / "report.pdf"))][-1] == "p. 3"


def test_phone_photos_decode_like_the_originals(library, photo_dir, tmp_path):
    for name, original in (("IMG_0001.heic", "chelsea.png"), ("IMG_0002.avif", "coffee.png")):
        pixels = decode_image(str(library / name)).pixels.astype(np.float32)
        reference = decode_image(str(photo_dir / original)).pixels.astype(np.float32)
        assert pixels.shape == (224, 224, 3)
        assert np.abs(pixels - reference).mean() < 8  # lossy, but the same picture
    # Decoded once per file for the three looks at it; a file written again is read again.
    heic = tmp_path / "IMG_0004.heic"
    make_heic(heic, photo_dir / "chelsea.png")
    first = decode_image(str(heic))
    assert (decode_image(str(heic)).pixels == first.pixels).all()
    assert glance(str(heic), 200).shape == (133, 200, 3)  # the whole picture, 451×300
    make_heic(heic, photo_dir / "coffee.png")
    again = decode_image(str(heic)).pixels.astype(np.float32)
    coffee = decode_image(str(photo_dir / "coffee.png")).pixels.astype(np.float32)
    assert np.abs(again - coffee).mean() < 8


def test_a_search_finds_the_file_and_the_page_and_bad_files_are_skipped(library, tmp_path):
    reporter = ListReporter()
    with open_collection(tmp_path / "index", create=True, read_text=False) as col:
        summary = col.index([library], reporter=reporter)
        found = {
            query: col.search(query, limit=1)[0]
            for query in (
                "how to fix a flat bicycle tyre",
                "baking bread at home",
                "a weekend trip to Portugal",
                "learning to play a piece on the piano",
                "a tabby cat",
                "a cup of coffee",
                "a rocket on the launch pad",
            )
        }
    reasons = reporter.reasons()
    assert summary.indexed == 11 and summary.skipped == 12, reasons
    assert reasons["locked.pdf"] == "encrypted PDF (needs a password)"
    assert reasons["scan.pdf"] == "PDF has no text layer (a scanned document?)"
    assert reasons["empty.docx"] == "empty file"
    assert reasons["cut.pdf"].startswith("not a readable PDF")
    assert reasons["cut.docx"].startswith("not a readable Word document")
    assert reasons["protected.docx"].startswith("encrypted or old binary Word document")
    assert reasons["protected.odt"] == "encrypted OpenDocument (needs a password)"
    assert reasons["junk.odt"].startswith("not a readable OpenDocument")
    assert reasons["cut.epub"].startswith("not a readable EPUB")
    assert reasons["cut.heic"].startswith("not a readable image")
    assert reasons["junk.avif"].startswith("not a readable image")
    assert reasons["cut.nef"].startswith("not a readable RAW photo")
    assert all("\n" not in reason for reason in reasons.values())
    where = {query: (Path(hit.path).name, hit.snippet) for query, hit in found.items()}
    name, snippet = where["how to fix a flat bicycle tyre"]
    assert name == "report.pdf" and snippet.startswith("p. 2 · Repairing a puncture"), where
    name, snippet = where["baking bread at home"]
    assert name == "novel.epub" and snippet.startswith("ch. 2 · "), where
    name, snippet = where["a weekend trip to Portugal"]
    assert name == "holiday.docx" and snippet.startswith("§ Holiday plans · "), where
    name, snippet = where["learning to play a piece on the piano"]
    assert name == "diary.odt" and snippet.startswith("§ Practice diary · "), where
    assert where["a tabby cat"][0] == "IMG_0001.heic", where
    assert where["a cup of coffee"][0] == "IMG_0002.avif", where
    assert where["a rocket on the launch pad"][0] == "DSC_0003.dng", where


def test_raw_photos_show_the_preview_or_the_developed_sensor_data(tmp_path, photo_dir):
    cat = decode_image(str(photo_dir / "chelsea.png")).pixels.astype(np.float64)
    developed = decode_image(str(make_dng(tmp_path / "a.dng", mosaic_of=photo_dir / "chelsea.png")))
    assert np.corrcoef(developed.pixels.astype(np.float64).ravel(), cat.ravel())[0, 1] > 0.9
    # The preview is used when there is one: the sensor data of this file is all black.
    shown = decode_image(str(make_dng(tmp_path / "b.dng", preview=photo_dir / "coffee.png")))
    coffee = decode_image(str(photo_dir / "coffee.png")).pixels.astype(np.float64)
    assert np.abs(shown.pixels - coffee).mean() < 8
    assert (shown.info["width"], shown.info["height"]) == (900, 600)
    assert shown.info["camera"] == "xmodal test camera" and "taken" not in shown.info
    turned = decode_image(
        str(make_dng(tmp_path / "c.dng", preview=photo_dir / "coffee.png", turn=6))
    )
    assert (turned.info["width"], turned.info["height"]) == (600, 900)  # as the camera held it


DOCUMENTS = ["report.pdf", "holiday.docx", "diary.odt", "novel.epub"]
PHOTOS = ["IMG_0001.heic", "IMG_0002.avif", "DSC_0003.dng"]


@FUZZ
@given(name=st.sampled_from(DOCUMENTS), **MUTATIONS)
@example(name="report.pdf", cut=0.5, flips=[], insert=b"")
@example(name="novel.epub", cut=1.0, flips=[(0.5, 0)], insert=b"PK\x03\x04")
def test_mutated_documents_read_or_fail_cleanly(tmp_path, library, name, cut, flips, insert):
    path = tmp_path / f"fuzz{Path(name).suffix}"
    path.write_bytes(_mutate((library / name).read_bytes(), cut, flips, insert))
    try:
        chunks = document_chunks(str(path), 120)
    except DecodeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert chunks and all(c.text.strip() == c.text != "" for c in chunks)


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".pdf", ".docx", ".odt", ".epub"]))
def test_random_bytes_as_documents(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    try:
        read_document(str(path))
    except DecodeError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(name=st.sampled_from(PHOTOS), **MUTATIONS)
@example(name="IMG_0001.heic", cut=0.5, flips=[], insert=b"")
def test_mutated_phone_photos_decode_or_fail_cleanly(tmp_path, library, name, cut, flips, insert):
    path = tmp_path / f"fuzz{Path(name).suffix}"
    path.write_bytes(_mutate((library / name).read_bytes(), cut, flips, insert))
    try:
        decoded = decode_image(str(path))
    except DecodeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert decoded.pixels.shape == (224, 224, 3) and decoded.pixels.dtype == np.uint8
