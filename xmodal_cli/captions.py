"""Captions people already wrote beside their media, as (query, file) pairs for `xmodal tune`.

Sources, strongest first: a sidecar text file (`photo.txt`, `photo.jpg.txt`, `.caption`);
XMP `dc:description` and `dc:subject` (a `.xmp` sidecar, or the packet embedded in the
file); a Google Takeout `.json` beside the photo (its `description`); EXIF ImageDescription
and UserComment; audio tags (title, description, comment). Weakest, only when asked: the
file's and its folder's names (`--from-names`), minus camera counters like `IMG_0042`.

Each caption becomes a pair typed by the media's own type (image or audio), so a sidecar
`photo.txt` that the index also holds as a text file never competes in the ranking it
describes: tune ranks only files of the caption's type.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from xmodal_cli.evaluation import Pair
from xmodal_cli.media.audio import read_tags
from xmodal_cli.media.text import title_words

MOST_CHARS = 500  # of one caption: the text encoder reads ~256 tokens anyway
_XMP_SCAN = 4 << 20  # bytes of a media file searched for an embedded XMP packet
_SIDECAR_BYTES = 64 << 10
_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_EXIF_IFD = 0x8769
_IMAGE_DESCRIPTION = 0x010E
_USER_COMMENT = 0x9286
# Words that cameras and phones write on their own; a caption made only of them says nothing.
_CAMERA_WORDS = frozenset(
    [
        "img",
        "image",
        "dsc",
        "dscn",
        "dscf",
        "pxl",
        "photo",
        "picture",
        "pic",
        "vid",
        "mvimg",
        "screenshot",
        "pano",
        "burst",
        "sam",
        "olympus",
        "digital",
        "camera",
        "sony",
        "nikon",
        "canon",
        "default",
        "untitled",
        "copy",
        "edited",
        "scan",
        "jpg",
        "jpeg",
        "png",
        "heic",
        "mov",
        "mp4",
        "wav",
        "mp3",
        "m4a",
        "recording",
        "audio",
        "voice",
        "memo",
        "new",
        "track",
    ]
)


@dataclass(frozen=True)
class Caption:
    """Words describing one media file, and where they were found."""

    path: str
    text: str
    source: str  # sidecar, xmp, takeout, exif, tags, name


def caption_pairs(files: Iterable[tuple[str, str]], *, names: bool = False) -> list[Pair]:
    """Pairs from the captions of (path, type) files; with `names`, from names as well."""
    pairs = []
    for path, modality in files:
        for caption in captions_of(path, modality, names=names):
            pairs.append(Pair(caption.text, (path,), modality))
    return pairs


def captions_of(path: str, modality: str, *, names: bool = False) -> list[Caption]:
    """Every distinct caption of one image, recording or video (none for other types)."""
    found: list[Caption] = []
    if modality in ("image", "audio", "video"):
        found += [Caption(path, t, "sidecar") for t in sidecar_text(path)]
        found += [Caption(path, t, "xmp") for t in xmp_captions(path)]
        found += [Caption(path, t, "takeout") for t in takeout_description(path)]
    if modality == "image":
        found += [Caption(path, t, "exif") for t in exif_captions(path)]
    if modality in ("audio", "video"):  # MP4 and Matroska carry titles and comments too
        tags = read_tags(path)
        found += [
            Caption(path, tags[k], "tags")
            for k in ("title", "description", "comment")
            if tags.get(k)
        ]
    if names:
        found += [Caption(path, t, "name") for t in name_captions(path)]
    seen: set[str] = set()
    unique = []
    for caption in found:
        text = " ".join(caption.text.split())[:MOST_CHARS]
        if text and text.casefold() not in seen and _says_something(text):
            seen.add(text.casefold())
            unique.append(Caption(caption.path, text, caption.source))
    return unique


def sidecar_text(path: str) -> list[str]:
    """`photo.txt`, `photo.caption`, `photo.jpg.txt` or `photo.jpg.caption`, if present."""
    stem = os.path.splitext(path)[0]
    out = []
    for candidate in (f"{path}.txt", f"{path}.caption", f"{stem}.txt", f"{stem}.caption"):
        text = _read_small(candidate)
        if text is not None:
            out.append(text.decode("utf-8", "replace").strip())
    return out


def xmp_captions(path: str) -> list[str]:
    """dc:description and dc:subject (joined) from a `.xmp` sidecar and the embedded packet."""
    packets = [_read_small(f"{os.path.splitext(path)[0]}.xmp"), _read_small(f"{path}.xmp")]
    packets.append(_embedded_xmp(path))
    out = []
    for packet in packets:
        if packet:
            out += _parse_xmp(packet)
    return out


def takeout_description(path: str) -> list[str]:
    """The `description` Google Takeout writes to `photo.jpg.json` (or the newer
    `photo.jpg.supplemental-metadata.json`)."""
    for candidate in (f"{path}.json", f"{path}.supplemental-metadata.json"):
        raw = _read_small(candidate)
        if raw is None:
            continue
        try:
            meta = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("description"), str):
            return [meta["description"].strip()]
    return []


def exif_captions(path: str) -> list[str]:
    """EXIF ImageDescription and UserComment (its 8-byte character-code prefix decoded)."""
    from PIL import Image

    if path.lower().endswith(".png") and not _has_png_exif(path):
        return []  # Pillow would decode the whole image to look for it (10 ms a photo)
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            description = exif.get(_IMAGE_DESCRIPTION)
            comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:  # a caption is a bonus: an unreadable header gives none
        return []
    out = []
    if isinstance(description, bytes):
        description = description.decode("utf-8", "replace")
    if isinstance(description, str) and description.strip("\x00 "):
        out.append(description.strip("\x00 "))
    if isinstance(comment, bytes):
        comment = _user_comment(comment)
    if isinstance(comment, str) and comment.strip("\x00 "):
        out.append(comment.strip("\x00 "))
    return out


def name_captions(path: str) -> list[str]:
    """The file's name and its folder's, as words (`--from-names`)."""
    folder = os.path.basename(os.path.dirname(path))
    return [title_words(path), " ".join(re.split(r"[\W_]+", folder)).strip()]


def _has_png_exif(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"eXIf" in handle.read()
    except OSError:
        return False


def _user_comment(raw: bytes) -> str:
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        # Byte order is the file's; a BOM-less big-endian comment decodes as UTF-16-BE.
        return body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "replace")
    return body.decode("utf-8", "replace")


def _says_something(text: str) -> bool:
    """Not just a camera's default words and counters ('IMG_0042', 'OLYMPUS DIGITAL CAMERA')."""
    words = [w for w in re.split(r"[\W_\d]+", text.casefold()) if len(w) >= 3]
    return any(w not in _CAMERA_WORDS for w in words)


def _read_small(path: str) -> bytes | None:
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > _SIDECAR_BYTES:
            return None
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _embedded_xmp(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(_XMP_SCAN)
    except OSError:
        return None
    start = head.find(b"<x:xmpmeta")
    end = head.find(b"</x:xmpmeta>", start)
    return head[start : end + len(b"</x:xmpmeta>")] if start >= 0 and end > start else None


def _parse_xmp(packet: bytes) -> list[str]:
    if b"<!ENTITY" in packet:  # no entity expansion from files we did not write
        return []
    try:
        root = ET.fromstring(packet)
    except ET.ParseError:
        return []
    out = []
    for description in root.iterfind(".//dc:description", _NS):
        items = description.findall(".//rdf:li", _NS)
        default = [li for li in items if li.get(f"{{{_XML_NS}}}lang") == "x-default"]
        chosen = (default or items)[:1]
        text = chosen[0].text if chosen else description.text
        if text and text.strip():
            out.append(text.strip())
    for subject in root.iterfind(".//dc:subject", _NS):
        words = [li.text.strip() for li in subject.findall(".//rdf:li", _NS) if li.text]
        if words:
            out.append(", ".join(words))
    return out


_XML_NS = "http://www.w3.org/XML/1998/namespace"
