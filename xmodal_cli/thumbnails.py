"""Thumbnails for `xmodal serve`, made on demand and cached beside the index.

The cache is the folder `thumbnails/` in the index directory: one JPEG per (path, content)
of an indexed photo, named by a digest, so a changed or moved photo gets a new one and its
old one becomes unreachable. It is derived data, like the FAISS files:

- crash-safe: written to a temp file in the folder and `os.replace`d, so a reader never sees
  half a JPEG and a crash leaves only a dot-file that the next sweep deletes;
- bounded: past `limit` bytes the least recently shown thumbnails go first (a hit touches
  its mtime);
- deleted with its source: `sweep` drops every thumbnail whose (path, content) is no longer
  in the catalog; the server runs it whenever the catalog's generation changes, and every
  writer (index, remove) at the end of its run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from xmodal_cli.store.rows import FileRow

FOLDER = "thumbnails"
PIXELS = 320  # longest side: sharp in a phone-width grid of two columns at 2x density
DEFAULT_LIMIT = 256 * 1024 * 1024
QUALITY = 82


def key_of(row: FileRow) -> str:
    """The cache name of a photo as indexed: its path and the content it had then."""
    seed = f"{row.path}\0{row.hash}\0{row.size}\0{row.mtime_ns}"
    return hashlib.blake2b(seed.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


class ThumbnailCache:
    """JPEG thumbnails in `<index>/thumbnails`, at most about `limit` bytes in all."""

    def __init__(self, index_dir: Path, *, limit: int = DEFAULT_LIMIT) -> None:
        self.folder = index_dir / FOLDER
        self.limit = limit
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, counted on first use

    def get(self, row: FileRow, source: BinaryIO) -> bytes:
        """The JPEG thumbnail of an indexed photo, made from `source` (the photo, opened by
        the caller under its own rules) if not cached; DecodeError if it is no image."""
        target = self.folder / f"{key_of(row)}.jpg"
        with contextlib.suppress(FileNotFoundError):
            data = target.read_bytes()
            os.utime(target)  # a hit: most recently used now
            return data
        data = _render(source)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".thumb-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._account(len(data))
        return data

    def _account(self, added: int) -> None:
        with self._lock:
            if self._total is None:
                self._total = self.size()
            else:
                self._total += added
            if self._total > self.limit:
                self._total = self._evict()

    def size(self) -> int:
        """Bytes the cache holds now."""
        return sum(size for _, _, size in self._entries())

    def _entries(self) -> list[tuple[float, Path, int]]:
        out = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                with contextlib.suppress(FileNotFoundError):
                    st = entry.stat(follow_symlinks=False)
                    out.append((st.st_mtime, Path(entry.path), st.st_size))
        return out

    def _evict(self) -> int:
        """Delete the least recently used until the cache fits in 90% of the limit (so not
        every new thumbnail evicts one); the bytes left."""
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        for _, path, size in entries:
            if total <= self.limit * 0.9:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
        return total

    def sweep(self, rows: Iterable[FileRow]) -> int:
        """Delete thumbnails of photos no longer indexed as they were, and temp files a
        crash left; how many went."""
        if not self.folder.is_dir():
            return 0
        wanted = {f"{key_of(row)}.jpg" for row in rows if row.modality == "image"}
        gone = 0
        for _, path, _ in self._entries():
            if path.name not in wanted:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    gone += 1
        with self._lock:
            self._total = None
        return gone


def sweep_index(index_dir: Path, rows: Iterable[FileRow]) -> int:
    """`ThumbnailCache.sweep` for a writer that has the catalog's rows at hand."""
    return ThumbnailCache(index_dir).sweep(rows)


def _render(source: BinaryIO) -> bytes:
    """A JPEG of at most PIXELS on its longest side, turned upright by its EXIF tag."""
    import io

    from PIL import Image, ImageOps

    from xmodal_cli.media import DecodeError

    try:
        with Image.open(source) as image:
            image.draft("RGB", (PIXELS, PIXELS))  # JPEG: decode at reduced size, much faster
            upright = ImageOps.exif_transpose(image) or image
            upright.thumbnail((PIXELS, PIXELS))
            out = io.BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=QUALITY, optimize=True)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"cannot make a thumbnail: {exc}") from None
