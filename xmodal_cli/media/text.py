"""Read text files safely (encoding fallback, binary and size guards) and chunk them."""

from __future__ import annotations

import codecs
import html.parser
import os
import re
from dataclasses import dataclass

from xmodal_cli.media import DecodeError, read_failure

MAX_TEXT_BYTES = 8 * 1024 * 1024  # read at most 8 MiB of any one file
MAX_CHUNKS = 2000
CHUNK_WORDS = 120  # MiniLM truncates at 256 word pieces; 120 words stay inside it
OVERLAP_WORDS = 30


@dataclass(frozen=True)
class Chunk:
    """One passage of a text file and where it starts (character offset)."""

    text: str
    start: int


def read_text(path: str) -> str:
    """Return the file's text; raise DecodeError for binary, empty or unreadable files."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES)
    except OSError as exc:
        raise read_failure(exc) from None
    text = _decode(data, truncated=len(data) == MAX_TEXT_BYTES)
    if os.path.splitext(path)[1].lower() in (".html", ".htm", ".xml"):
        text = strip_markup(text)
    if not text.strip():
        raise DecodeError("empty file")
    return text


def _decode(data: bytes, *, truncated: bool) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: same prefix
        return data.decode("utf-32", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    if b"\x00" in data:  # text never holds NUL; a binary (or a sparse, zero-filled) file does
        raise DecodeError("looks like a binary file")
    try:
        # An incremental decoder tolerates a multi-byte character cut by the size cap.
        return codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=not truncated)
    except UnicodeDecodeError:
        # Legacy Windows/Latin text: cp1252 covers most of it; undefined bytes become U+FFFD.
        return data.decode("cp1252", "replace")


class _TextExtractor(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_markup(text: str) -> str:
    """Visible text of an HTML/XML document (scripts and styles dropped)."""
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except Exception:
        return text
    return " ".join(parser.parts)


_WORD = re.compile(r"\S+")


def chunk_text(text: str, words: int = CHUNK_WORDS, overlap: int = OVERLAP_WORDS) -> list[Chunk]:
    """Split into overlapping passages of about `words` words; whitespace is normalised."""
    matches = list(_WORD.finditer(text))
    if not matches:
        return []
    step = max(1, words - overlap)
    chunks = []
    for first in range(0, len(matches), step):
        window = matches[first : first + words]
        chunks.append(Chunk(" ".join(m.group() for m in window), window[0].start()))
        if first + words >= len(matches) or len(chunks) >= MAX_CHUNKS:
            break
    return chunks


def title_words(path: str) -> str:
    """File stem split into words: 'tax_receipt-2023.txt' -> 'tax receipt 2023'."""
    stem = os.path.splitext(os.path.basename(path))[0]
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    return " ".join(re.split(r"[\W_]+", spaced)).strip()
