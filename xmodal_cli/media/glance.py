"""The whole picture, oriented and scaled to fit a box: what face and text detectors look at.

`decode_image` gives the classifier a centre square at 224 px; a face at the edge of a group
photo or the words along a screenshot's side are outside it, and text is unreadable at that
size. `decode_image(whole=...)` keeps the whole picture at the detectors' first size from
the same decode; this reads the file again at a larger size (text to read), under the same
guards (formats, pixel cap), asking a JPEG for a reduced decode.
"""

from __future__ import annotations

import numpy as np

from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import _FORMATS, MAX_PIXELS, _quiet_pil_warnings, whole_rgb
from xmodal_cli.media.photo_formats import open_picture


def glance(path: str, side: int) -> np.ndarray:
    """RGB uint8 (h, w, 3) of the whole image, its longer side at most `side` px; raise
    DecodeError if it cannot be read (the caller decoded it once already, so this is rare)."""
    from PIL import ImageOps

    _quiet_pil_warnings()
    try:
        with open_picture(path, _FORMATS) as im:
            width, height = im.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise DecodeError("image too large or empty")
            im.draft("RGB", (side, side))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            return whole_rgb(im, side)
    except DecodeError:
        raise
    except Exception as exc:  # PIL raises many types for bad data
        raise DecodeError(f"not a readable image ({type(exc).__name__})") from None
