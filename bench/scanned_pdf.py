"""What a scanned PDF costs and how much of it is read (issue 12, item 9).

    python -m bench.scanned_pdf [--pages 60] [--text /usr/share/common-licenses/GPL-3]

The scan is made from real text (a Debian licence by default): pages of A4 at 150 dpi,
DejaVu Sans 11 pt drawn by Pillow, saved as an image-only PDF (no text layer), like a
scanner's output. Figures (one JSON line):
- per_page_ms: reading one scanned page in one thread (render at PAGE_SIDE, then the
  profile's words-in-images reader: people, the OCR gate, detection and recognition),
  median and p90 over the pages read.
- capped: a document of --pages pages: seconds to read it, pages read and left unread
  (MAX_OCR_PAGES), so a long scanned book costs at most about MAX_OCR_PAGES pages.
- words_found: share of the distinct words (4+ letters) of each page's source text that
  appear in the words read on that page, mean over the pages.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.harness import emit, machine, note

DPI = 150
LINES = 58  # per A4 page at 11 pt


def pages_of(text: str, count: int) -> list[str]:
    """`count` pages of the text (wrapped at 92 characters), repeating it as needed."""
    lines = [w for para in text.splitlines() for w in (textwrap.wrap(para, 92) or [""])]
    while len(lines) < count * LINES:
        lines += lines
    return ["\n".join(lines[n * LINES : (n + 1) * LINES]) for n in range(count)]


def scan(pages: list[str], target: Path) -> Path:
    """An image-only PDF of the pages (what a scanner without OCR writes)."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font_path = Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"
    font = ImageFont.truetype(str(font_path), round(11 * DPI / 72))
    pictures = []
    for text in pages:
        page = Image.new("L", (round(8.27 * DPI), round(11.69 * DPI)), 255)
        ImageDraw.Draw(page).multiline_text((110, 110), text, font=font, fill=0, spacing=4)
        pictures.append(page)
    pictures[0].save(target, "PDF", save_all=True, append_images=pictures[1:], resolution=DPI)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    load = os.getloadavg()[0]

    from xmodal_cli.decoder import page_reader
    from xmodal_cli.media.documents import MAX_OCR_PAGES, document_chunks
    from xmodal_cli.models.lite import LiteProfile

    reader = page_reader(LiteProfile("cpu"))
    assert reader is not None
    timed: list[float] = []

    def read(picture: Any) -> list[str]:
        start = time.perf_counter()
        words = reader(picture)
        timed.append(time.perf_counter() - start)
        return words

    pages = pages_of(Path(args.text).read_text("utf-8"), args.pages)
    with tempfile.TemporaryDirectory() as work:
        pdf = scan(pages, Path(work) / "scan.pdf")
        note(f"{args.pages} scanned pages, {pdf.stat().st_size // 1024} KiB; warming up")
        reader(_first_page(pdf))  # load the models outside the figures
        info: dict[str, Any] = {}
        start = time.perf_counter()
        chunks = document_chunks(str(pdf), 120, read_page=read, info=info)
        seconds = time.perf_counter() - start

    read_text: dict[str, list[str]] = {}
    for chunk in chunks:
        read_text.setdefault(chunk.label, []).append(chunk.text)
    shares = []
    for number, source in enumerate(pages[:MAX_OCR_PAGES], 1):
        wanted = set(re.findall(r"[a-z]{4,}", source.lower()))
        got = set(re.findall(r"[a-z]{4,}", " ".join(read_text.get(f"p. {number}", [])).lower()))
        shares.append(len(wanted & got) / max(1, len(wanted)))
    ms = sorted(t * 1000 for t in timed)
    emit(
        {
            "pages": args.pages,
            "per_page_ms": {
                "mean": round(statistics.mean(ms)),
                "median": round(statistics.median(ms)),
                "p90": round(ms[int(0.9 * (len(ms) - 1))]),
            },
            "capped": {
                "seconds": round(seconds, 1),
                "pages_read": info.get("scanned_pages_read"),
                "pages_unread": info.get("scanned_pages_unread"),
                "max_ocr_pages": MAX_OCR_PAGES,
            },
            "words_found": round(statistics.mean(shares), 3),
            "source": args.text,
            **machine(load),
        }
    )


def _first_page(pdf: Path) -> Any:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    try:
        return document[0].render(scale=1280 / 842).to_pil().convert("RGB")
    finally:
        document.close()


if __name__ == "__main__":
    main()
