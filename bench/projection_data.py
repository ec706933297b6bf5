"""Image–text pairs and captioned photo sets for lite's trained projection, all offline.

Training pairs (bench/train_projection.py):
- emoji drawn from Debian's colour-emoji font, each on several random backgrounds, sizes,
  places and tilts (they are drawings, not photos), named by Python's `unicodedata`;
- DeViSE pairs (Frome et al. 2013): EfficientNet-Lite0's own ImageNet class weights, each
  paired with the MiniLM embedding of its class name.

Captioned real photos, for choosing (`tuning`) and for the figures (`held_out`):
- tuning: the sample photos (bench/sample_photos.py, also used to tune ConSE) and GCompris
  categorization's photos of tools, household things and energy plants (file names);
- held out: GCompris's explore activities (farm animals, world animals, monuments, each with a
  title) and categorization's monument photos. None of these plays any part in training or
  choosing; a photo whose pixels are also in the tuning set is dropped from it.
- fresh (a second held-out set, added after the first had been looked at once): GCompris
  "erase" animal photos and "details" monument photos;
- drawings (reported apart, no part in choices): GCompris "lang" word pictures.

GCompris data ships in Qt resource bundles (.rcc); `read_rcc` reads that format.

    apt-get download fonts-noto-color-emoji=2.042-0+deb12u1 gcompris-qt-data=3.1-2
    dpkg -x fonts-noto-color-emoji_*.deb /tmp/debs; dpkg -x gcompris-qt-data_*.deb /tmp/debs
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FONT_PACKAGE = "fonts-noto-color-emoji=2.042-0+deb12u1"
FONT_SHA256 = "e5899ed38b8ed83e08bd3ac5de09791e9d19d288333a796de1d35ad17396f1ec"
GCOMPRIS_PACKAGE = "gcompris-qt-data=3.1-2"
FONT_PATH = "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
RCC_DIR = "usr/share/gcompris-qt/rcc"
EMOJI_PIXELS = 109  # the only size the font's CBDT bitmaps come in
SIZE = 224

# Blocks of pictographs; flags, keycaps, skin tones and hair parts only combine with others.
_EMOJI_BLOCKS = ((0x2600, 0x27BF), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1FAFF))
_SKIP = set(range(0x1F3FB, 0x1F400)) | set(range(0x1F9B0, 0x1F9B4))


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def emoji_names(font: Path) -> list[tuple[str, str]]:
    """(character, lower-case Unicode name) for every single-code-point pictograph in the font."""
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(font), lazy=True).getBestCmap()
    out = []
    for cp in sorted(cmap):
        if cp in _SKIP or not any(lo <= cp <= hi for lo, hi in _EMOJI_BLOCKS):
            continue
        name = unicodedata.name(chr(cp), "")
        if name:
            out.append((chr(cp), name.lower()))
    return out


def render_emoji(font: Path, chars: list[str], variants: int, seed: int) -> np.ndarray:
    """(len(chars) * variants, 224, 224, 3) uint8: each emoji on random backgrounds.

    Variant v of emoji i is row i * variants + v. The random draws depend only on `seed`, so a
    rerun renders the same pixels (given the same Pillow and font).
    """
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    face = ImageFont.truetype(str(font), EMOJI_PIXELS)
    rng = np.random.default_rng(seed)
    out = np.zeros((len(chars) * variants, SIZE, SIZE, 3), dtype=np.uint8)
    for i, char in enumerate(chars):
        glyph = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((8, 8), char, font=face, embedded_color=True)
        box = glyph.getbbox()
        if box is not None:
            glyph = glyph.crop(box)
        for v in range(variants):
            kind = int(rng.integers(3))
            a, b = rng.integers(0, 256, size=(2, 3))
            if kind == 0:  # plain colour
                bg = np.broadcast_to(a, (SIZE, SIZE, 3)).astype(np.float32)
            elif kind == 1:  # gradient between two colours
                t = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[:, None, None]
                bg = np.broadcast_to(a * (1 - t) + b * t, (SIZE, SIZE, 3)).astype(np.float32)
            else:  # blurred noise, like an out-of-focus scene
                noise = rng.integers(0, 256, size=(14, 14, 3), dtype=np.uint8)
                small = Image.fromarray(noise).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
                bg = np.asarray(small.filter(ImageFilter.GaussianBlur(6)), dtype=np.float32)
            canvas = Image.fromarray(bg.astype(np.uint8)).convert("RGBA")
            side = int(rng.integers(96, 213))
            scale = side / max(glyph.size)
            size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
            sprite = glyph.resize(size, Image.Resampling.BICUBIC)
            sprite = sprite.rotate(float(rng.uniform(-20, 20)), expand=True)
            x = int(rng.integers(0, max(1, SIZE - sprite.width + 1)))
            y = int(rng.integers(0, max(1, SIZE - sprite.height + 1)))
            canvas.alpha_composite(sprite, (min(x, SIZE - 1), min(y, SIZE - 1)))
            out[i * variants + v] = np.asarray(canvas.convert("RGB"))
    return out


def read_rcc(path: Path) -> dict[str, bytes]:
    """Every file in a Qt resource bundle (format versions 1-3, zlib-compressed or stored)."""
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    entry = 14 if version < 2 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        start = names + offset + 6  # length, then a 4-byte hash, then UTF-16 text
        return blob[start : start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        base = tree + index * entry
        name_offset, flags = struct.unpack(">IH", blob[base : base + 6])
        name = name_at(name_offset) if index else ""
        if flags & 2:  # directory: count and first child
            count, first = struct.unpack(">II", blob[base + 6 : base + 14])
            inner = f"{prefix}{name}/" if index else ""
            stack.extend((child, inner) for child in range(first, first + count))
            continue
        (offset,) = struct.unpack(">I", blob[base + 10 : base + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        raw = blob[data + offset + 4 : data + offset + 4 + size]
        files[prefix + name] = zlib.decompress(raw[4:]) if flags & 1 else raw
    return files


@dataclass
class PhotoSet:
    """Captioned photos: each query names the photos (indexes) that answer it."""

    name: str
    pixels: list[np.ndarray] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    answers: list[list[int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # kind of subject, per query


def _decode(raw: bytes) -> np.ndarray:
    """Decode bytes the way xmodal decodes a file (orient, centre-crop to 224)."""
    import tempfile

    from xmodal_cli.media.image import decode_image

    with tempfile.NamedTemporaryFile(suffix=".img") as handle:
        handle.write(raw)
        handle.flush()
        return decode_image(handle.name).pixels


def _words(stem: str) -> str:
    """'polar_bear' / 'leaningTowerOfPisa' / 'hammer3' -> 'polar bear' / 'leaning tower of pisa'."""
    stem = re.sub(r"\d+$", "", stem).replace("_", " ").replace("-", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem).lower().strip()


def _qml_titles(qml: str) -> dict[str, str]:
    """photo file name -> title, from an explore activity's board (`"image2"`, `"title"`)."""
    out = {}
    for block in re.findall(r"\{[^{}]*\}", qml):
        image = re.search(r'"image2"\s*:\s*"([^"]+)"', block)
        title = re.search(r'"title"\s*:\s*qsTr\("([^"]+)"\)', block)
        if image and title:
            out[image.group(1).rsplit("/", 1)[-1]] = title.group(1)
    return out


def _add(photo_set: PhotoSet, query: str, pixels: np.ndarray, kind: str) -> None:
    """Add a photo, grouping photos with the same query (hammer1..9 all answer 'hammer')."""
    photo_set.pixels.append(pixels)
    index = len(photo_set.pixels) - 1
    if query in photo_set.queries:
        photo_set.answers[photo_set.queries.index(query)].append(index)
    else:
        photo_set.queries.append(query)
        photo_set.answers.append([index])
        photo_set.kinds.append(kind)


def _categorization(debs: Path, folders: dict[str, str]) -> list[tuple[str, np.ndarray, str]]:
    """(query, pixels, kind) for the categorization activity's photos in `folders`."""
    names = {"solar": "solar panels", "dam": "a dam", "windmill": "a wind turbine"}
    files = read_rcc(debs / RCC_DIR / "categorization.rcc")
    out = []
    for key in sorted(files):
        match = re.search(r"images/([a-z]+)/([^/]+)\.webp$", key)
        if not match or match.group(1) not in folders or match.group(2) == match.group(1):
            continue
        word = _words(match.group(2))
        if not word.startswith("monument"):  # 'monument1' names no monument
            out.append((names.get(word, word), _decode(files[key]), folders[match.group(1)]))
    return out


def tuning_set(debs: Path) -> PhotoSet:
    """Real photos for every choice: the sample photos (one query per caption variant) and
    GCompris categorization's photos of tools, household things and energy plants."""
    import tempfile

    from bench.sample_photos import copy_sample_photos
    from bench.text_to_image_eval import OBJECT_PHOTOS, QUERIES
    from xmodal_cli.media.image import decode_image

    out = PhotoSet("tuning")
    with tempfile.TemporaryDirectory() as tmp:
        for path in copy_sample_photos(Path(tmp)):
            out.pixels.append(decode_image(str(path)).pixels)
            kind = "sample objects" if path.name in OBJECT_PHOTOS else "sample other"
            for query in QUERIES.get(path.name, []):
                out.queries.append(query)
                out.answers.append([len(out.pixels) - 1])
                out.kinds.append(kind)
    folders = {"tools": "tools & household", "others": "tools & household", "renewable": "energy"}
    for query, pixels, kind in _categorization(debs, folders):
        _add(out, query, pixels, kind)
    return out


def held_out_set(debs: Path, exclude: PhotoSet) -> PhotoSet:
    """GCompris's explore activities and categorization's monuments, minus any photo whose
    pixels are in `exclude`."""
    seen = {hashlib.sha256(p.tobytes()).digest() for p in exclude.pixels}
    out = PhotoSet("held_out")
    explore = {
        "explore_farm_animals": "farm animals",
        "explore_world_animals": "world animals",
        "explore_monuments": "monuments",
    }
    photos = []
    for activity, kind in explore.items():
        files = read_rcc(debs / RCC_DIR / f"{activity}.rcc")
        titles: dict[str, str] = {}
        for key, raw in files.items():
            if "/board/" in key and key.endswith(".qml"):
                titles.update(_qml_titles(raw.decode("utf-8")))
        for key in sorted(files):
            base = key.rsplit("/", 1)[-1]
            if key.endswith(".webp") and base in titles:
                photos.append((titles[base].lower(), _decode(files[key]), kind))
    photos += _categorization(debs, {"monuments": "monuments"})
    for query, pixels, kind in photos:
        if hashlib.sha256(pixels.tobytes()).digest() not in seen:
            _add(out, query, pixels, kind)
    return out


# Words in the "lang" activity that name a colour, a number or a family relation: a picture
# can only illustrate those loosely, so they would measure the illustrator, not the model.
_ABSTRACT = re.compile(
    r"^(black|blue|brown|gray|green|mauve|orange-color|pink|red|white|yellow|color|zero|one|two|"
    r"three|four|five|six|seven|eight|nine|ten|eleven|twelve|sixteen|brother|sister|son|dad|"
    r"mother|grandmother|friend|family)$"
)
_LANG_KINDS = {
    "drawn animals": "animal bear bee beetle bird bug bull butterfly camel cat chicken cow dog "
    "dolphin dragon duck fish flies fox frog giraffe gorilla hedgehog hippopotamus horse "
    "kangaroo lizard mosquito mouse owl panda pig rabbit reptile rhinoceros shark sheep snail "
    "snake spider turkey turtle whale wolf",
    "drawn food": "apple apricot coconut fruit kiwi lemon melon orange peach pear plum raspberry "
    "strawberry",
}


def drawings_set(debs: Path) -> PhotoSet:
    """GCompris 'lang' word pictures (coloured drawings, a file name is the word): reported
    apart, never used for choices, since they are drawings like the emoji, not photos."""
    out = PhotoSet("drawings")
    files = read_rcc(debs / RCC_DIR / "lang.rcc")
    for key in sorted(files):
        match = re.search(r"words_sample/([^/]+)\.webp$", key)
        if not match or _ABSTRACT.match(match.group(1)):
            continue
        word = _words(match.group(1))
        kind = next((k for k, ws in _LANG_KINDS.items() if word in ws.split()), "drawn people")
        article = "an" if word[0] in "aeiou" else "a"
        query = word if kind == "drawn people" else f"{article} {word}"
        _add(out, query, _decode(files[key]), kind)
    return out


# Captions for the "details" activity's photos, written from their file names (the paintings
# among them are left out: their file names do not say what they show).
_DETAILS = {
    "Chenonceau": "château de chenonceau",
    "EgeskovSlotSpejling": "egeskov castle reflected in its moat",
    "EilanDonanCastle": "eilean donan castle",
    "FanoeWindmill": "a windmill",
    "GizahPyramids": "the pyramids of giza",
    "Louvre_2007_02_24_c": "the louvre museum",
    "NDP": "notre-dame de paris",
    "Nagoya": "nagoya castle",
    "Neuschwanstein": "neuschwanstein castle",
    "OperaSidney": "sydney opera house",
    "TajMahal": "taj mahal",
    "TourEiffel": "eiffel tower",
    "TowerBridgeLondon": "tower bridge in london",
}


def fresh_set(debs: Path, exclude: list[PhotoSet]) -> PhotoSet:
    """A second held-out set, added after the first had been looked at once: GCompris "erase"
    animal photos (file names) and "details" monument photos (captions above)."""
    seen = {hashlib.sha256(p.tobytes()).digest() for s in exclude for p in s.pixels}
    out = PhotoSet("fresh")
    files = read_rcc(debs / RCC_DIR / "erase.rcc")
    photos = [
        (_words(key.rsplit("/", 1)[-1][:-5]), files[key], "animals (erase)")
        for key in sorted(files)
        if key.endswith(".webp")
    ]
    files = read_rcc(debs / RCC_DIR / "details.rcc")
    for stem, caption in _DETAILS.items():
        key = next(k for k in files if k.endswith(f"/{stem}_background.webp"))
        photos.append((caption, files[key], "monuments (details)"))
    for query, raw, kind in photos:
        pixels = _decode(raw)
        if hashlib.sha256(pixels.tobytes()).digest() not in seen:
            _add(out, query, pixels, kind)
    return out
