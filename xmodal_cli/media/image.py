"""Decode photos: EXIF orientation, a pixel cap against decompression bombs, centre crop."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError, read_failure

MAX_PIXELS = 80_000_000  # ~80 MP: larger than any camera photo, far below a bomb

_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 36867
_TAG_DATETIME = 306
_TAG_MAKE = 271
_TAG_MODEL = 272


@dataclass
class DecodedImage:
    """A square RGB uint8 array ready for the model, plus metadata worth showing."""

    pixels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def decode_image(path: str, size: int = 224) -> DecodedImage:
    """Open, orient and centre-crop an image to `size`×`size`; raise DecodeError if unusable."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # PIL warns about odd metadata on stderr; a file is either usable or skipped.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise DecodeError(f"image too large ({width}×{height} pixels)")
                if width < 1 or height < 1:
                    raise DecodeError("image has no pixels")
                info = _exif_info(im)
                # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far less work per photo.
                im.draft("RGB", (size, size))
                im.load()
                oriented = ImageOps.exif_transpose(im)
                rgb = _to_rgb(oriented)
                # As a person sees it: a portrait phone photo stays portrait after rotation.
                turned = oriented.size != im.size
                info["width"], info["height"] = (height, width) if turned else (width, height)
    except DecodeError:
        raise
    except (FileNotFoundError, PermissionError) as exc:
        raise read_failure(exc) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DecodeError("image too large (decompression bomb guard)") from None
    except Exception as exc:  # PIL raises many types for bad data; all mean "skip this file"
        raise DecodeError(f"not a readable image ({_short(exc)})") from None
    return DecodedImage(pixels=_square(rgb, size), info=info)


def _to_rgb(im: Any) -> Any:
    from PIL import Image

    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


def _square(im: Any, size: int) -> np.ndarray:
    """Resize the shorter side to `size`, then crop the centre square."""
    from PIL import Image

    width, height = im.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    im = im.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.uint8)


def _exif_info(im: Any) -> dict[str, Any]:
    try:
        exif = im.getexif()
    except Exception:
        return {}
    if not exif:
        return {}
    info: dict[str, Any] = {}
    taken = exif.get_ifd(_EXIF_IFD).get(_TAG_DATETIME_ORIGINAL) or exif.get(_TAG_DATETIME)
    if isinstance(taken, str) and taken.strip():
        info["taken"] = taken.strip().replace(":", "-", 2)
    camera = " ".join(
        str(v).strip() for v in (exif.get(_TAG_MAKE), exif.get(_TAG_MODEL)) if v
    ).strip()
    if camera:
        info["camera"] = camera
    return info


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
