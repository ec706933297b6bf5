"""Read text files safely (encoding fallback, binary and size guards) and chunk them."""

from __future__ import annotations

import codecs
import html
import itertools
import os
import re
from dataclasses import dataclass

from xmodal_cli.media import DecodeError, open_regular, read_failure

MAX_TEXT_BYTES = 8 * 1024 * 1024  # read at most 8 MiB of any one file
MAX_CHUNKS = 2000
CHUNK_WORDS = 120  # MiniLM truncates at 256 word pieces; 120 words stay inside it


@dataclass(frozen=True)
class Chunk:
    """One passage of a text file and where it starts (character offset)."""

    text: str
    start: int


def read_text(path: str, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Return the file's text (its first `max_bytes`); raise DecodeError for binary, empty or
    unreadable files."""
    try:
        with open_regular(path) as handle:
            data = handle.read(max_bytes)
    except OSError as exc:
        raise read_failure(exc) from None
    text = _decode(data, truncated=len(data) == max_bytes)
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


# Markup is stripped with a linear scan, not html.parser: HTMLParser is quadratic on
# unclosed tags (CPython gh-135462; 60 KB of "<a " took 35 s here, 8 MiB would take days),
# and a hostile .html must not hang a worker. A tag cannot contain "<", so each scan for
# its end stops at the next "<" and the whole pass stays linear.
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_TAG_NAME = re.compile(r"<\s*([A-Za-z][^\s/>]*)")
_RAW_END = {
    "script": re.compile(r"</\s*script[^<>]*>", re.IGNORECASE),
    "style": re.compile(r"</\s*style[^<>]*>", re.IGNORECASE),
}


def strip_markup(text: str) -> str:
    """Visible text of an HTML/XML document (scripts, styles and comments dropped)."""
    parts: list[str] = []
    segment = search = 0  # the text run being collected; where to look for the next "<"
    while True:
        start = text.find("<", search)
        if start < 0:
            parts.append(text[segment:])
            break
        if text.startswith("<!--", start):
            parts.append(text[segment:start])
            end = text.find("-->", start + 4)
            if end < 0:
                break  # an unclosed comment hides the rest, as in a browser
            segment = search = end + 3
            continue
        tag = _TAG.match(text, start)
        if tag is None:  # a bare "<" ("a < b") is text
            search = start + 1
            continue
        parts.append(text[segment:start])
        segment = search = tag.end()
        name = _TAG_NAME.match(tag.group())
        raw_end = _RAW_END.get(name.group(1).lower()) if name else None
        if raw_end is not None:  # script/style content is code, not text: skip to its end tag
            close = raw_end.search(text, segment)
            if close is None:
                break
            segment = search = close.end()
    return " ".join(html.unescape(part) for part in parts if part)


_WORD = re.compile(r"\S+")


def overlap_words(words: int) -> int:
    """How many words consecutive passages of `words` words share: a quarter of one."""
    return words // 4


def chunk_text(
    text: str,
    words: int = CHUNK_WORDS,
    overlap: int | None = None,
    *,
    max_chunks: int = MAX_CHUNKS,
) -> list[Chunk]:
    """Split into at most `max_chunks` passages of about `words` words overlapping by
    `overlap` (default: `overlap_words(words)`); whitespace is normalised."""
    step = max(1, words - (overlap_words(words) if overlap is None else overlap))
    # Only the words the capped chunks can use: an 8 MiB file of short words is 4M match
    # objects (540 MB, 6 s) if all are listed, and all but the first ~180k are dropped.
    matches = list(itertools.islice(_WORD.finditer(text), (max_chunks - 1) * step + words))
    if not matches:
        return []
    chunks = []
    for first in range(0, len(matches), step):
        window = matches[first : first + words]
        chunks.append(Chunk(" ".join(m.group() for m in window), window[0].start()))
        if first + words >= len(matches) or len(chunks) >= max_chunks:
            break
    return chunks


def title_words(path: str) -> str:
    """File stem split into words: 'tax_receipt-2023.txt' -> 'tax receipt 2023'."""
    stem = os.path.splitext(os.path.basename(path))[0]
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    return " ".join(re.split(r"[\W_]+", spaced)).strip()
