"""Read PDF, Word (.docx), OpenDocument (.odt) and EPUB files into labelled text.

Each format gives sections that say where they are: a PDF page ("p. 3"), an EPUB chapter
("ch. 2"), a Word or OpenDocument heading ("§ Results"). Each section is chunked like a
note (media/text.py) and its passages carry its label, so a search result points at the
page.

A PDF page with (almost) no text layer is a scanned page: it is rendered at PAGE_SIDE px and
handed to `read_page` (the profile's words-in-images reader; None with `index --no-ocr`),
whose words become that page's passages. At most MAX_OCR_PAGES pages of one document are
read so (1-6 s a page on one core, by how much text it holds): a scanned book is found by
its first pages, and the file's info counts the pages read and those left unread.

Bad input is skipped with a one-line reason, as for the other decoders: encrypted, truncated,
zero-length or corrupt files, zip bombs (declared sizes are capped before anything is
unpacked) and PDFs without a text layer where nothing was read (the reason says why).
PDFium is not thread-safe, so every call into it holds one process-wide lock; the reader
runs outside it.
"""

from __future__ import annotations

import os
import re
import threading
import zipfile
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xmodal_cli.media import DecodeError, open_regular, read_failure
from xmodal_cli.media.text import MAX_CHUNKS, MAX_TEXT_BYTES, chunk_text, strip_markup

DOCUMENT_EXTENSIONS = frozenset({".pdf", ".docx", ".odt", ".epub"})
MAX_PAGES = 5000  # pages (or chapters) read from one document
MAX_UNPACKED = 64 * 1024 * 1024  # bytes one XML member of a zip may declare
MAX_UNPACKED_TOTAL = 512 * 1024 * 1024  # bytes all members may declare (they are all read)
LABEL_CHARS = 40  # a heading used as a label is cut to this
MIN_LAYER_WORDS = 3  # a PDF page whose text layer has fewer words is read as a picture
MAX_OCR_PAGES = 30  # pages of one document read as pictures (~6 s each); the rest are counted
PAGE_SIDE = 1280  # px, longer side a scanned page is rendered at (models/ocr.py's READ_SIDE)

if TYPE_CHECKING:
    from PIL.Image import Image

_PDFIUM = threading.Lock()
PageReader = Callable[["Image"], list[str]]  # a rendered page → passages of the words read


@dataclass(frozen=True)
class Section:
    """Text from one place in a document and the label that names the place."""

    label: str
    text: str


@dataclass(frozen=True)
class LabelledChunk:
    """One passage of a document and where it is ("p. 3", "ch. 2", "§ Intro"; "" for none)."""

    label: str
    text: str


def is_document(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in DOCUMENT_EXTENSIONS


def document_chunks(
    path: str,
    words: int,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    read_page: PageReader | None = None,
    info: dict[str, Any] | None = None,
) -> list[LabelledChunk]:
    """The document's passages with their labels; raise DecodeError if it has no text.

    Each section is chunked on its own, so a passage never straddles two pages and its
    label is exact (a short page gives a short passage). `info`, when given, receives the
    counts of scanned pages read and left unread."""
    out: list[LabelledChunk] = []
    sections = read_document(path, cancelled=cancelled, read_page=read_page, info=info)
    for section in sections:
        for chunk in chunk_text(section.text, words, max_chunks=MAX_CHUNKS - len(out)):
            out.append(LabelledChunk(section.label, chunk.text))
        if len(out) >= MAX_CHUNKS:
            break
    if not out:
        raise DecodeError("document has no text")
    return out


def read_document(
    path: str,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    max_pages: int = MAX_PAGES,
    read_page: PageReader | None = None,
    info: dict[str, Any] | None = None,
) -> list[Section]:
    """The document's non-empty sections in reading order; raise DecodeError if unusable."""
    ext = os.path.splitext(path)[1].lower()
    scans = _Scans(read_page)
    reader = {".pdf": scans.pdf, ".docx": _docx, ".odt": _odt, ".epub": _epub}.get(ext)
    if reader is None:
        raise DecodeError(f"not a document format ({ext or 'no extension'})")
    try:
        with open_regular(path) as handle:
            if not handle.read(4):
                raise DecodeError("empty file")
            handle.seek(0)
            sections = _capped(reader(handle, path, cancelled), max_pages)
    except DecodeError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise read_failure(exc) from None
    except RecursionError:
        raise DecodeError(f"not a readable {_NAMES[ext]} (nested too deeply)") from None
    except MemoryError:
        raise DecodeError(f"not a readable {_NAMES[ext]} (too large to unpack)") from None
    except Exception as exc:  # the parsers raise many types for bad data: all mean "skip"
        raise DecodeError(f"not a readable {_NAMES[ext]} ({_short(exc)})") from None
    if info is not None and scans.read + scans.unread:
        info.update(scanned_pages_read=scans.read, scanned_pages_unread=scans.unread)
    if not sections:
        if ext != ".pdf":
            raise DecodeError("document has no text")
        if read_page is None:
            raise DecodeError("PDF has no text layer (a scanned document?)")
        raise DecodeError(f"PDF has no text layer and no words were read on {scans.read} pages")
    return sections


_NAMES = {".pdf": "PDF", ".docx": "Word document", ".odt": "OpenDocument", ".epub": "EPUB"}


def _capped(sections: Generator[Section, None, None], max_pages: int) -> list[Section]:
    """Non-empty sections until `max_pages` of them or MAX_TEXT_BYTES characters."""
    out: list[Section] = []
    total = 0
    with closing(sections):  # a reader stopped early closes its document while the file is open
        for section in sections:
            text = " ".join(section.text.split())
            if not text:
                continue
            out.append(Section(section.label, text[: MAX_TEXT_BYTES - total]))
            total += len(out[-1].text)
            if len(out) >= max_pages or total >= MAX_TEXT_BYTES:
                break
    return out


class _Scans:
    """Reads scanned pages through `read_page` up to MAX_OCR_PAGES, counting the others."""

    def __init__(self, read_page: PageReader | None) -> None:
        self.read_page = read_page
        self.read = 0
        self.unread = 0

    def wants(self, text: str) -> bool:
        """Whether a page with this text layer should be rendered and read."""
        if self.read_page is None or len(_LAYER_WORDS.findall(text)) >= MIN_LAYER_WORDS:
            return False
        if self.read >= MAX_OCR_PAGES:
            self.unread += 1
            return False
        return True

    def words(self, picture: Image, layer: str) -> str:
        """The words read on a rendered page, or its layer's few words if they say more."""
        assert self.read_page is not None
        self.read += 1
        read = "\n".join(self.read_page(picture))
        return read if len(read.split()) > len(layer.split()) else layer

    def pdf(
        self, handle: Any, path: str, cancelled: Callable[[], bool]
    ) -> Generator[Section, None, None]:
        return _pdf(handle, cancelled, self)


_LAYER_WORDS = re.compile(r"\w{2,}")


def _pdf(
    handle: Any, cancelled: Callable[[], bool], scans: _Scans
) -> Generator[Section, None, None]:
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(handle)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise DecodeError("encrypted PDF (needs a password)") from None
            raise DecodeError(f"not a readable PDF ({_short(exc)})") from None
    try:
        with _PDFIUM:
            pages = len(document)
        for number in range(min(pages, MAX_PAGES)):
            if cancelled():
                raise DecodeError("cancelled")
            picture = None
            with _PDFIUM:
                page = document[number]
                try:
                    textpage = page.get_textpage()
                    try:
                        text = textpage.get_text_bounded()
                    finally:
                        textpage.close()
                    if scans.wants(text):
                        picture = _render(page)
                finally:
                    page.close()
            if picture is not None:  # read outside the lock: other threads' PDFs go on
                text = scans.words(picture, text)
            yield Section(f"p. {number + 1}", text.replace("\r\n", "\n"))
    finally:
        with _PDFIUM:
            document.close()


def _render(page: Any) -> Image:
    """The page as an RGB picture, its longer side PAGE_SIDE px (any page size, bounded)."""
    width, height = page.get_size()
    scale = PAGE_SIDE / max(width, height, 1.0)
    picture: Image = page.render(scale=scale).to_pil().convert("RGB")
    return picture


def _unzipped(handle: Any, ext: str) -> list[str]:
    """The archive's member names, having refused a zip bomb (by the sizes it declares: the
    zip reader never unpacks more than a member declares), an encrypted document and an
    old binary file under a new name."""
    head = handle.read(8)
    handle.seek(0)
    if head == _OLE:  # Office wraps a password-protected .docx in an OLE file, as .doc was
        raise DecodeError(f"encrypted or old binary {_NAMES[ext]} (save it again as {ext})")
    with zipfile.ZipFile(handle) as archive:
        members = archive.infolist()
        total = sum(info.file_size for info in members)
        markup = [i for i in members if i.filename.lower().endswith(_MARKUP)]
        if total > MAX_UNPACKED_TOTAL or any(i.file_size > MAX_UNPACKED for i in markup):
            raise DecodeError(f"{_NAMES[ext]} would unpack to {total} bytes (a zip bomb?)")
        names = archive.namelist()
        manifest = "META-INF/manifest.xml"
        if ext == ".odt" and manifest in names and b"encryption-data" in archive.read(manifest):
            raise DecodeError("encrypted OpenDocument (needs a password)")
        if ext == ".epub" and "META-INF/encryption.xml" in names:
            raise DecodeError("encrypted EPUB (DRM)")
    handle.seek(0)
    return names


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MARKUP = (".xml", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".rels")


def _docx(handle: Any, path: str, cancelled: Callable[[], bool]) -> Generator[Section, None, None]:
    import docx
    from docx.document import Document as DocumentType
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _unzipped(handle, ".docx")
    document: DocumentType = docx.Document(handle)
    label, lines = "", list[str]()
    for block in document.iter_inner_content():
        if cancelled():
            raise DecodeError("cancelled")
        if isinstance(block, Paragraph):
            style = (block.style.name if block.style is not None else "") or ""
            if style.startswith(("Heading", "Title")) and block.text.strip():
                yield Section(label, "\n".join(lines))
                label, lines = _heading(block.text), []
            lines.append(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                lines.append(" ".join(cell.text for cell in row.cells))
    yield Section(label, "\n".join(lines))


def _odt(handle: Any, path: str, cancelled: Callable[[], bool]) -> Generator[Section, None, None]:
    from odf import teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    _unzipped(handle, ".odt")
    document = load(handle)
    label, lines = "", list[str]()
    stack = list(reversed(document.text.childNodes))
    while stack:  # document order, without recursion (a deeply nested file must not crash)
        node = stack.pop()
        if cancelled():
            raise DecodeError("cancelled")
        kind = getattr(node, "qname", None)
        if kind == (TEXTNS, "h"):
            heading = teletype.extractText(node)
            if heading.strip():
                yield Section(label, "\n".join(lines))
                label, lines = _heading(heading), []
            lines.append(heading)
        elif kind == (TEXTNS, "p"):
            lines.append(teletype.extractText(node))
        else:
            stack.extend(reversed(getattr(node, "childNodes", [])))
    yield Section(label, "\n".join(lines))


def _epub(handle: Any, path: str, cancelled: Callable[[], bool]) -> Generator[Section, None, None]:
    import ebooklib
    from ebooklib import epub

    _unzipped(handle, ".epub")
    book = epub.read_epub(path, options={"ignore_ncx": True})
    documents = {
        item.get_id(): item
        for item in book.get_items_of_type(ebooklib.ITEM_DOCUMENT)
        if not isinstance(item, epub.EpubNav)  # the table of contents is not a chapter
    }
    order = [documents.pop(ref[0]) for ref in book.spine if ref[0] in documents]
    chapter = 0
    for item in order + list(documents.values()):
        if cancelled():
            raise DecodeError("cancelled")
        text = strip_markup(item.get_content().decode("utf-8", "replace"))
        if _WORDS.search(text):
            chapter += 1
            yield Section(f"ch. {chapter}", text)


_WORDS = re.compile(r"\w")


def _heading(text: str) -> str:
    text = " ".join(text.split())
    return "§ " + (text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
