"""Open the photos phones and cameras save: HEIC/HEIF, AVIF and camera RAW.

`open_picture` is the one way media/image.py and media/glance.py open a picture. Ordinary
formats open as before. HEIC/HEIF go through `pillow-heif` (its opener is registered once,
on the first such file, so other runs never import it); AVIF is Pillow's own; both are
decoded once per file and thread (see `_decoded_once`). A RAW file is
read through LibRaw (`rawpy`): the camera's embedded JPEG preview when it is big enough for
the models (most cameras embed one the size of the photo), otherwise a half-size
demosaic, both turned as the camera says. The caller's guards (pixel cap, EXIF turn, the
one-line skip reason) apply to all of them alike.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from xmodal_cli.media import DecodeError, open_regular

HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
AVIF_EXTENSIONS = frozenset({".avif"})
RAW_EXTENSIONS = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
        ".rw2", ".raf", ".pef", ".srw", ".rwl", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq",
    }
)  # fmt: skip
MAX_RAW_BYTES = 512 * 1024 * 1024  # LibRaw reads the whole file into memory
MIN_PREVIEW_SIDE = 448  # an embedded preview smaller than this (a thumbnail) is not used
_ORIENTATION = 0x0112
_LIBRAW_FLIP_TO_EXIF = {3: 3, 5: 8, 6: 6}  # LibRaw's sizes.flip → EXIF orientation

_registered = threading.Lock()
_heif_ready = False


def register_heif() -> None:
    """Teach Pillow HEIF (once per process, thread-safe)."""
    global _heif_ready
    with _registered:
        if not _heif_ready:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_ready = True


@contextmanager
def open_picture(path: str, formats: tuple[str, ...]) -> Iterator[Any]:
    """A PIL image of the picture at `path`, opened lazily (call load()), taking `formats`
    plus the ones its extension names; raise DecodeError for a RAW file without a picture."""
    from PIL import Image

    ext = os.path.splitext(path)[1].lower()
    if ext in RAW_EXTENSIONS:
        data, flip = _raw_picture(path)
        with Image.open(io.BytesIO(data), formats=("JPEG", "TIFF", "PPM")) as im:
            exif = im.getexif()  # LibRaw writes the camera's make, model and time here
            if flip in _LIBRAW_FLIP_TO_EXIF and not exif.get(_ORIENTATION):
                exif[_ORIENTATION] = _LIBRAW_FLIP_TO_EXIF[flip]  # exif_transpose turns it
            _drop_epoch(exif)
            yield im
        return
    if ext in HEIF_EXTENSIONS:
        register_heif()
        yield _decoded_once(path, (*formats, "HEIF", "AVIF"))
        return
    if ext in AVIF_EXTENSIONS:
        yield _decoded_once(path, (*formats, "AVIF", "HEIF") if _heif_ready else (*formats, "AVIF"))
        return
    with open_regular(path) as handle, Image.open(handle, formats=formats) as im:
        yield im


_recent = threading.local()  # per decode thread: the last HEIF/AVIF picture, decoded in full


def _decoded_once(path: str, formats: tuple[str, ...]) -> Any:
    """A copy of the whole picture, decoded once per file and thread. HEIC and AVIF have no
    reduced decode like JPEG's, and one photo is opened up to three times in a row (the
    classifier's square, then the people and text passes of models/sight.py): a 12 MP HEIC
    costs ~0.45 s each time, a copy of the decoded picture a few milliseconds."""
    from PIL import Image

    from xmodal_cli.media.image import MAX_PIXELS

    with open_regular(path) as handle:
        st = os.fstat(handle.fileno())
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        last = getattr(_recent, "picture", None)
        if last is not None and last[0] == key:
            return last[1].copy()
        _recent.picture = None  # the previous picture is not kept while this one decodes
        with Image.open(handle, formats=formats) as im:
            width, height = im.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise DecodeError(f"image too large ({width}×{height} pixels)")
            im.load()
            picture = im.copy()  # the file's image closes with it; the copy stays
    _recent.picture = (key, picture)
    return picture.copy()  # callers turn it in place


def _drop_epoch(exif: Any) -> None:
    """LibRaw says 1970-01-01 00:00:00 when the camera recorded no time: no time at all."""
    for tags, tag in ((exif, 306), (exif.get_ifd(0x8769), 36867)):
        if str(tags.get(tag, "")).startswith("1970:01:01 00:00:00"):
            del tags[tag]


def _raw_picture(path: str) -> tuple[bytes, int]:
    """JPEG or PPM bytes of a RAW photo and LibRaw's orientation code."""
    import numpy as np
    import rawpy

    from xmodal_cli.media.image import MAX_PIXELS

    with open_regular(path) as handle:
        data = handle.read(MAX_RAW_BYTES + 1)
    if len(data) > MAX_RAW_BYTES:
        raise DecodeError(f"RAW file larger than {MAX_RAW_BYTES // 2**20} MiB")
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            flip = int(raw.sizes.flip)
            preview = _preview(raw)
            if preview is not None:
                return preview, flip
            width, height = int(raw.sizes.width), int(raw.sizes.height)
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise DecodeError(f"RAW image too large ({width}×{height} pixels)")
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except DecodeError:
        raise
    except MemoryError:
        raise DecodeError("RAW image too large to develop") from None
    except Exception as exc:  # LibRaw raises its own types (and ValueError, OSError)
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DecodeError(f"not a readable RAW photo ({text[:120]})") from None
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    # LibRaw applied the turn to the developed picture already.
    return b"P6 %d %d 255\n" % (width, height) + rgb.tobytes(), 0


def _preview(raw: Any) -> bytes | None:
    """The embedded JPEG preview, when there is one at least MIN_PREVIEW_SIDE px across."""
    import rawpy
    from PIL import Image

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None
    if thumb.format != rawpy.ThumbFormat.JPEG:
        return None
    try:
        with Image.open(io.BytesIO(thumb.data), formats=("JPEG",)) as im:
            if min(im.size) < MIN_PREVIEW_SIDE:
                return None
    except Exception:
        return None
    return bytes(thumb.data)
