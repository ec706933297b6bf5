"""Decode photos: EXIF orientation, a pixel cap against decompression bombs, centre crop."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError, read_failure
from xmodal_cli.media.photo_formats import open_picture

MAX_PIXELS = 80_000_000  # ~80 MP: larger than any camera photo, far below a bomb
# Only the formats of the extensions the scan takes ("JPEG" also opens phone MPO files).
# PIL sniffs content, not names: without this a ".jpg" that is really EPS is handed to
# Ghostscript where it is installed, and a dozen rarely-used decoders face hostile bytes.
_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF")

_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 36867
_TAG_DATETIME = 306
_TAG_MAKE = 271
_TAG_MODEL = 272
_GPS_IFD = 0x8825


@dataclass
class DecodedImage:
    """A square RGB uint8 array ready for the model, plus metadata worth showing, and the
    whole picture at a small size when asked (what face and text detectors look at)."""

    pixels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    whole: np.ndarray | None = None


def decode_image(path: str, size: int = 224, whole: int = 0) -> DecodedImage:
    """Open, orient and centre-crop an image to `size`×`size`, and with `whole` also keep the
    whole picture, its longer side at most `whole` px, from the same decode (reading the
    file again for it cost 5.7 ms a photo); raise DecodeError if unusable."""
    from PIL import Image, ImageOps

    _quiet_pil_warnings()
    try:
        with open_picture(path, _FORMATS) as im:  # HEIC, AVIF, RAW too (photo_formats.py)
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise DecodeError(f"image too large ({width}×{height} pixels)")
            if width < 1 or height < 1:
                raise DecodeError("image has no pixels")
            info = _exif_info(im)
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far less work per photo.
            im.draft("RGB", (max(size, whole), max(size, whole)))
            im.load()
            loaded = im.size  # after draft(): a JPEG may have been decoded at 1/2 … 1/8
            # In place: a copy of an unrotated image would double the peak memory.
            ImageOps.exif_transpose(im, in_place=True)
            # Inside the try: a failure while converting or scaling is a skip, not a crash.
            pixels = _square_rgb(im, size)
            kept = whole_rgb(im, whole) if whole else None
            # As a person sees it: a portrait phone photo stays portrait after rotation.
            turned = im.size != loaded
            info["width"], info["height"] = (height, width) if turned else (width, height)
    except DecodeError:
        raise
    except (FileNotFoundError, PermissionError) as exc:
        raise read_failure(exc) from None
    except Image.DecompressionBombError:
        raise DecodeError("image too large (decompression bomb guard)") from None
    except Exception as exc:  # PIL raises many types for bad data; all mean "skip this file"
        raise DecodeError(f"not a readable image ({_short(exc)})") from None
    return DecodedImage(pixels=pixels, info=info, whole=kept)


def _quiet_pil_warnings() -> None:
    # PIL warns about odd metadata on stderr; a file is either usable or skipped. A narrow
    # filter, (re)added idempotently per call: warnings.catch_warnings() per call swapped the
    # process-wide filter list from two decode threads at once, which left every warning in
    # the process ignored (and let PIL's through meanwhile). The bomb warning is covered by
    # the MAX_PIXELS check.
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
# Palette/bilevel (PIL resamples them by nearest neighbour, PA not at all) and hue values
# cannot be scaled as they are, so they become RGB first.
_CONVERT_FIRST = ("1", "P", "PA", "HSV")


def _square_rgb(im: Any, size: int) -> np.ndarray:
    """The centre square of `im` as `size`×`size` RGB uint8."""
    # Other modes are scaled first, so no full-size copy is made for the conversion (a 7 KB
    # TIFF claiming 58 MP of RGB took 670 MB), and 16-bit/float images are stretched to
    # 8 bits on 224² values instead of ~1.5 GB of numpy temporaries for 80 MP.
    if im.mode in _CONVERT_FIRST:
        im = _to_rgb(im)
    return np.asarray(_to_rgb(_scaled_square(im, size)), dtype=np.uint8)


def whole_rgb(im: Any, side: int) -> np.ndarray:
    """The whole of a loaded, oriented picture as RGB uint8, its longer side at most `side`."""
    from PIL import Image

    picture = _to_rgb(im) if im.mode in _CONVERT_FIRST else im
    scale = side / max(picture.size)
    if scale < 1:
        width, height = picture.size
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(_to_rgb(picture), dtype=np.uint8)


def _to_rgb(im: Any) -> Any:
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode in _DEEP_MODES:
        arr = np.asarray(im, dtype=np.float64)
        finite = np.isfinite(arr)  # a float TIFF may hold NaN/inf: no light, not a crash
        lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0, 0)
        scaled = (np.where(finite, arr, lo) - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8)).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _scaled_square(im: Any, size: int) -> Any:
    """Crop the centre square, then scale it to `size`×`size`."""
    from PIL import Image

    # Crop first, then scale: scaling the shorter side to `size` first blew a 56×1.4M px
    # strip (a few KB of TIFF) up to 224×5.5M px, 3.7 GB, before cropping it away.
    width, height = im.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    return im.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)


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
    make, model = (str(exif.get(tag) or "").strip() for tag in (_TAG_MAKE, _TAG_MODEL))
    # Many makers repeat their name in the model ("Canon" + "Canon EOS 5D"): say it once.
    camera = model if make and model.lower().startswith(make.lower()) else f"{make} {model}"
    camera = camera.strip()
    if camera:
        info["camera"] = camera
    info.update(_gps(exif))
    return info


def _gps(exif: Any) -> dict[str, float]:
    """{"lat", "lon"} in decimal degrees from the GPS IFD, or {} when absent or nonsense."""
    try:
        gps = exif.get_ifd(_GPS_IFD)
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except Exception:  # missing tags, zero denominators, strings where numbers belong
        return {}
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0.0, 0.0):
        return {}  # 0,0 is what cameras without a fix write
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def _degrees(dms: Any) -> float:
    degrees, minutes, seconds = (float(v) for v in dms)
    return degrees + minutes / 60 + seconds / 3600


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
