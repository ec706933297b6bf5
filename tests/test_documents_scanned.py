"""Scanned PDFs: a page without a text layer is rendered and read by the profile's OCR, its
words become passages labelled with the page, `--no-ocr` skips them, and one document has
at most MAX_OCR_PAGES pages read. The scans are real pictures of text: pages of a PDF with
a text layer rendered by PDFium and saved again as image-only PDFs by Pillow."""

from __future__ import annotations

import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from hypothesis import example, given
from PIL import Image
from typer.testing import CliRunner

from tests.test_formats import PAGES, make_pdf
from tests.test_fuzz import FUZZ, MUTATIONS, _mutate
from xmodal_cli.cli import app
from xmodal_cli.media import DecodeError
from xmodal_cli.media.documents import MAX_OCR_PAGES, PAGE_SIDE, document_chunks
from xmodal_cli.models import ocr

# Words that appear only in the pictures of the scanned pages (not in any file name).
INVOICE = (
    "Invoice 58213 from Harbour Hardware. Twelve boxes of brass hinges, delivered to the "
    "workshop on Tuesday. Payment within thirty days to the account shown below."
)


def _scan(pages: list[str], target: Path, dpi: int = 150) -> Path:
    """An image-only PDF: each page of a text PDF rendered to a picture, saved by Pillow."""
    text_pdf = make_pdf(target.with_suffix(".text.pdf"), pages)
    document = pdfium.PdfDocument(str(text_pdf))
    pictures = [document[n].render(scale=dpi / 72).to_pil().convert("L") for n in range(len(pages))]
    document.close()
    text_pdf.unlink()
    pictures[0].save(target, "PDF", save_all=True, append_images=pictures[1:], resolution=dpi)
    return target


def _mixed(layer_page: str, scanned_page: str, target: Path) -> Path:
    """Page 1 with a text layer, page 2 a scan (pages joined by PDFium)."""
    parts = [make_pdf(target.with_suffix(".a.pdf"), [layer_page])]
    parts.append(_scan([scanned_page], target.with_suffix(".b.pdf")))
    mixed, scan = (pdfium.PdfDocument(str(part)) for part in parts)
    mixed.import_pages(scan)
    mixed.save(str(target))
    scan.close()
    mixed.close()
    for part in parts:
        part.unlink()
    return target


def xmodal(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_pages_are_rendered_at_the_size_the_reader_reads():
    assert PAGE_SIDE == ocr.READ_SIDE


def test_a_scanned_page_is_read_and_the_reading_is_capped(tmp_path):
    asked: list[Image.Image] = []

    def reader(picture: Image.Image) -> list[str]:
        asked.append(picture)
        return [f"words read on a picture {len(asked)}"]

    pdf = _mixed(PAGES[0], PAGES[1], tmp_path / "mixed.pdf")
    info: dict[str, object] = {}
    chunks = document_chunks(str(pdf), 120, read_page=reader, info=info)
    assert [(c.label, c.text[:17]) for c in chunks] == [
        ("p. 1", "Quarterly report."),  # from the text layer: not rendered
        ("p. 2", "words read on a p"),
    ]
    assert len(asked) == 1 and max(asked[0].size) == PAGE_SIDE and asked[0].mode == "RGB"
    assert info == {"scanned_pages_read": 1, "scanned_pages_unread": 0}
    with pytest.raises(DecodeError, match=r"no text layer \(a scanned document"):
        document_chunks(str(_scan(PAGES[:1], tmp_path / "plain.pdf")), 120)  # no reader

    # A long scanned book: the first MAX_OCR_PAGES pages are read, the rest counted.
    blank = Image.new("L", (300, 420), 255)
    book = tmp_path / "book.pdf"
    blank.save(book, "PDF", save_all=True, append_images=[blank] * (MAX_OCR_PAGES + 9))
    asked.clear()
    info = {}
    chunks = document_chunks(str(book), 120, read_page=reader, info=info)
    assert len(asked) == MAX_OCR_PAGES and chunks[-1].label == f"p. {MAX_OCR_PAGES}"
    assert info == {"scanned_pages_read": MAX_OCR_PAGES, "scanned_pages_unread": 10}

    # Nothing read anywhere: a one-line reason that says how many pages were tried.
    with pytest.raises(DecodeError, match="no words were read on 3 pages"):
        document_chunks(
            str(_scan(["", "", ""], tmp_path / "empty.pdf")), 120, read_page=lambda p: []
        )


@pytest.mark.slow
def test_search_finds_a_scanned_page_by_a_word_only_in_its_picture(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    _scan([PAGES[2], INVOICE], docs / "scan_0007.pdf")
    _mixed(PAGES[0], PAGES[1], docs / "notes.pdf")
    make_pdf(docs / "other.pdf", ["Minutes of the garden club: the spring show is in May."])
    index = tmp_path / "index"
    code, out = xmodal("index", docs, "--index-dir", index, "--json")
    assert code == 0, out
    assert json.loads(out)["indexed"] == 3

    code, out = xmodal("search", "58213", "--index-dir", index, "--json", "--limit", "1")
    assert code == 0, out
    (hit,) = json.loads(out)
    assert hit["path"].endswith("scan_0007.pdf") and hit["snippet"].startswith("p. 2 · "), hit
    assert "58213" in hit["snippet"]
    code, out = xmodal("search", "mend a bicycle tyre", "--index-dir", index, "--json")
    hits = json.loads(out)
    assert hits[0]["path"].endswith("notes.pdf") and hits[0]["snippet"].startswith("p. 2 · ")
    code, out = xmodal("check", "--index-dir", index, "--json")  # every page in the words
    assert code == 0 and json.loads(out)["ok"], out

    # --no-ocr: the scans are skipped with the reason, the page with a text layer is kept.
    blind = tmp_path / "blind"
    code, out = xmodal("index", docs, "--index-dir", blind, "--no-ocr", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["indexed"] == 2 and summary["skipped"] == 1, summary
    code, out = xmodal("search", "58213", "--index-dir", blind, "--json")
    assert not any(h["path"].endswith("scan_0007.pdf") for h in json.loads(out))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _scan(PAGES[:2], tmp_path_factory.mktemp("scans") / "scan.pdf", dpi=40).read_bytes()


@FUZZ
@given(**MUTATIONS)
@example(cut=0.6, flips=[], insert=b"")
def test_mutated_scans_are_rendered_or_fail_cleanly(tmp_path, scanned, cut, flips, insert):
    path = tmp_path / "fuzz.pdf"
    path.write_bytes(_mutate(scanned, cut, flips, insert))
    sizes: list[tuple[int, int]] = []

    def reader(picture: Image.Image) -> list[str]:
        sizes.append(picture.size)
        return ["a word read"]

    try:
        chunks = document_chunks(str(path), 120, read_page=reader)
    except DecodeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert chunks and all(max(size) <= PAGE_SIDE for size in sizes)
