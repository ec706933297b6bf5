"""The whole picture, oriented and scaled to fit a box: what face and text detectors look at.

`decode_image` gives the classifier a centre square at 224 px; a face at the edge of a group
photo or the words along a screenshot's side are outside it, and text is unreadable at that
size. This reads the same file again, whole, under the same guards (formats, pixel cap),
asking a JPEG for a reduced decode so a 12 MP photo costs a few milliseconds.
"""

from __future__ import annotations

import numpy as np

from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import _FORMATS, MAX_PIXELS, _quiet_pil_warnings, _to_rgb
from xmodal_cli.media.photo_formats import open_picture


def glance(path: str, side: int) -> np.ndarray:
    """RGB uint8 (h, w, 3) of the whole image, its longer side at most `side` px; raise
    DecodeError if it cannot be read (the caller decoded it once already, so this is rare)."""
    from PIL import Image, ImageOps

    _quiet_pil_warnings()
    try:
        with open_picture(path, _FORMATS) as im:
            width, height = im.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise DecodeError("image too large or empty")
            im.draft("RGB", (side, side))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            picture: Image.Image = _to_rgb(im) if im.mode in ("1", "P", "PA", "HSV") else im
            scale = side / max(picture.size)
            if scale < 1:
                width, height = picture.size
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            return np.asarray(_to_rgb(picture), dtype=np.uint8)
    except DecodeError:
        raise
    except Exception as exc:  # PIL raises many types for bad data
        raise DecodeError(f"not a readable image ({type(exc).__name__})") from None
