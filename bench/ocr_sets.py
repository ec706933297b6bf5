"""Real and rendered pictures with text, photos with and without people, and their queries.

Used by bench/ocr_cost.py. Two disjoint sets each, so a setting is chosen on one and
reported on the other:

- text, rendered: pages, invoices, signs and dialog windows drawn with matplotlib's fonts
  (in the wheel) from Debian's licence texts (/usr/share/common-licenses), with made-up
  invoice numbers. Tune: DejaVu fonts, GPL-3 and Apache-2.0; report: STIX and Computer
  Modern fonts, MPL-2.0 and the Artistic licence. Each query names words drawn in its image.
- text, real: Debian's opencv-doc (4.6.0) sample pictures and tutorial screenshots, with
  queries written by a person looking at them (tune: examples/data; report: examples/text
  scene text and html/ screenshots).
- people: photos with faces (skimage, matplotlib, opencv-doc) and without (the sample
  photos, opencv-doc's), with "a portrait", "a group of people" … as queries.

    python -m bench.ocr_sets DEST [--opencv-doc DIR]   # DIR: an unpacked opencv-doc .deb
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import textwrap
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bench.sample_photos import copy_sample_photos

DOC = "usr/share/doc/opencv-doc"
LICENCES = Path("/usr/share/common-licenses")
SPLITS: dict[str, dict[str, Any]] = {
    "tune": {
        "fonts": ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"],
        "bold": "DejaVuSans-Bold.ttf",
        "texts": ["GPL-3", "Apache-2.0"],
        "seed": 1,
    },
    "report": {
        "fonts": ["STIXGeneral.ttf", "cmss10.ttf", "cmr10.ttf"],
        "bold": "STIXGeneralBol.ttf",
        "texts": ["MPL-2.0", "Artistic"],
        "seed": 2,
    },
}
# Real pictures with text: file (relative to the opencv-doc folder) -> queries a person wrote
# from looking at them.
REAL_TEXT = {
    "tune": {
        "examples/data/box.png": ["bastoncini"],
        "examples/data/left.jpg": ["let us c book"],
        "examples/data/right.jpg": ["basic electronics"],
        "examples/data/imageTextN.png": ["technical details are too complex to cover"],
        "examples/data/LinuxLogo.jpg": ["linux"],
        "examples/data/opencv-logo-white.png": ["opencv logo"],
        "examples/data/sudoku.png": ["sudoku"],
    },
    "report": {
        "examples/text/scenetext01.jpg": ["double parking prohibited"],
        "examples/text/scenetext02.jpg": ["sports centre conference centre car parks"],
        "examples/text/scenetext03.jpg": ["copy centre"],
        "examples/text/scenetext05.jpg": ["no parking"],
        "examples/text/scenetext06.jpg": ["galleries"],
        "examples/text/scenetext_word01.jpg": ["china"],
        "examples/text/scenetext_word02.jpg": ["here"],
        "examples/text/scenetext_word03.jpg": ["riser"],
        "examples/text/scenetext_word04.jpg": ["produkt"],
        "opencv4/html/1-window-preferences.png": ["customize perspective"],
        "opencv4/html/10-new-project-created.png": ["java settings add external jars"],
        "opencv4/html/NewProjectVisualStudio.jpg": ["application settings console application"],
        "opencv4/html/PropertyPageExample.jpg": ["property manager unicode support"],
        "opencv4/html/android_sdk_and_avd_manager.png": ["android sdk manager"],
        "opencv4/html/CMake_Configure_Windows.jpg": ["specify the generator for this project"],
        "opencv4/html/WindowsBuildInstall.png": ["cmake targets install"],
    },
}
# Real photos with faces (count of people a person sees) and without; opencv-doc relative,
# or the sample photo's name.
PEOPLE = {
    "tune": {
        "astronaut.png": 1,
        "grace_hopper.jpg": 1,
        "camera.png": 1,
        "examples/data/basketball1.png": 2,
        "examples/data/messi5.jpg": 1,
        "opencv4/html/227943776_1.jpg": 1,
    },
    "report": {
        "opencv4/html/230501201_1.jpg": 1,
        "opencv4/html/Cascade_Classifier_Tutorial_Result_Haar.jpg": 1,
        "opencv4/html/person_multi_det.jpg": 3,
        "opencv4/html/face_swapped.jpg": 2,
        "opencv4/html/julia_facedetect_sample.jpg": 1,
        "opencv4/html/messi_face.jpg": 1,
        "opencv4/html/facereg.jpg": 4,
        "opencv4/html/2.jpg": 30,
    },
}
NO_PEOPLE = [
    f"examples/data/{name}"
    for name in [
        "baboon.jpg",
        "fruits.jpg",
        "home.jpg",
        "building.jpg",
        "butterfly.jpg",
        "squirrel_cls.jpg",
        "starry_night.jpg",
        "chicky_512.png",
        "apple.jpg",
        "graf1.png",
        "aero1.jpg",
        "leuvenA.jpg",
        "smarties.png",
        "orange.jpg",
        "HappyFish.jpg",
        "aloeL.jpg",
        "blox.jpg",
        "stuff.jpg",
    ]
]
VENDORS = ["Harbour Hardware", "Millbrook Bakery", "Northgate Florist", "Kestrel Print Shop"]
SIGNS = ["Platform 4", "Museum Entrance", "Fresh Bread", "Fire Exit", "Bicycle Repair", "Library"]


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return ImageFont.truetype(str(folder / name), size)


def _lines(licence: str) -> list[str]:
    words = (LICENCES / licence).read_text("utf-8", "replace").split()
    return [" ".join(words[i : i + 12]) for i in range(0, len(words) - 12, 12)]


def _phrase(line: str, rng: random.Random) -> str:
    words = [w.strip(".,;:()\"'") for w in line.split()]
    starts = [
        i
        for i in range(len(words) - 3)
        if all(w.isalpha() and len(w) > 1 for w in words[i : i + 3])
        and max(len(w) for w in words[i : i + 3]) >= 5
    ]
    start = rng.choice(starts or [0])
    return " ".join(words[start : start + 3]).lower()


def render_set(split: str, dest: Path, count: int = 24) -> list[dict[str, Any]]:
    """`count` rendered pictures with text in `dest`, and one query row for each."""
    spec = SPLITS[split]
    rng = random.Random(spec["seed"])
    lines = [line for name in spec["texts"] for line in _lines(name)]
    backgrounds = [p for p in copy_sample_photos(dest / ".bg") if p.suffix == ".jpg"]
    rows = []
    for index in range(count):
        kind = ("page", "invoice", "sign", "window")[index % 4]
        font = spec["fonts"][index // 4 % len(spec["fonts"])]
        path = dest / f"{split}-{index:02d}.jpg"
        if kind == "page":
            start = rng.randrange(len(lines) - 30)
            body = lines[start : start + 26]
            im = Image.new("RGB", (1000, 1300), (250, 248, 240))
            draw = ImageDraw.Draw(im)
            for row, line in enumerate(body):
                draw.text((60, 60 + row * 45), line, font=_font(font, 24), fill=(20, 20, 20))
            query = _phrase(body[rng.randrange(3, 23)], rng)
        elif kind == "invoice":
            number = rng.randrange(1000, 9999)
            vendor = rng.choice(VENDORS)
            im = Image.new("RGB", (700, 900), "white")
            draw = ImageDraw.Draw(im)
            draw.text((50, 40), vendor, font=_font(spec["bold"], 34), fill="black")
            draw.text((50, 110), f"INVOICE {number}", font=_font(font, 30), fill="black")
            for row in range(6):
                item = rng.choice(lines).split()[:3]
                price = f"{rng.randrange(1, 300)}.{rng.randrange(100):02d}"
                draw.text((50, 200 + row * 50), " ".join(item), font=_font(font, 24), fill="black")
                draw.text((520, 200 + row * 50), price, font=_font(font, 24), fill="black")
            draw.text((50, 560), "TOTAL DUE", font=_font(spec["bold"], 28), fill="black")
            query = f"invoice {number}"
        elif kind == "sign":
            words = rng.choice(SIGNS)
            im = Image.open(rng.choice(backgrounds)).convert("RGB").resize((1024, 768))
            draw = ImageDraw.Draw(im)
            big = _font(spec["bold"], 72)
            width = draw.textlength(words, font=big)
            box = (512 - width / 2 - 30, 300, 512 + width / 2 + 30, 420)
            draw.rectangle(box, fill=(20, 70, 140))
            draw.text((512 - width / 2, 315), words, font=big, fill="white")
            query = f"{words.lower()} sign"
        else:
            title = " ".join(rng.choice(lines).split()[:2]).strip(".,;:").title() + " Settings"
            im = Image.new("RGB", (1024, 640), (236, 236, 236))
            draw = ImageDraw.Draw(im)
            draw.rectangle((0, 0, 1024, 36), fill=(52, 101, 164))
            draw.text((14, 7), title, font=_font(font, 20), fill="white")
            draw.text(
                (14, 48), "File   Edit   View   Tools   Help", font=_font(font, 16), fill="black"
            )
            message = textwrap.wrap(rng.choice(lines) + " " + rng.choice(lines), 60)
            for row, line in enumerate(message):
                draw.text((60, 140 + row * 28), line, font=_font(font, 18), fill="black")
            draw.rectangle((760, 560, 860, 600), outline="black")
            draw.text((795, 570), "OK", font=_font(font, 18), fill="black")
            query = title.lower()
        im.save(path, quality=90)
        rows.append({"query": query, "path": path.name, "type": "image"})
    shutil.rmtree(dest / ".bg")
    return rows


def build(dest: Path, opencv_doc: Path) -> dict[str, Path]:
    """Per split: a folder with its pictures, photos without text or people as distractors,
    and pairs-text.jsonl / pairs-people.jsonl for `xmodal eval`."""
    root = opencv_doc / DOC
    out = {}
    for split in SPLITS:
        folder = dest / split
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "rendered").mkdir(parents=True)
        rows = [
            {**r, "path": f"rendered/{r['path']}"} for r in render_set(split, folder / "rendered")
        ]
        (folder / "real").mkdir()
        for number, (name, queries) in enumerate(REAL_TEXT[split].items()):
            target = folder / "real" / f"text{number:02d}{Path(name).suffix}"
            shutil.copyfile(root / name, target)  # neutral names: nothing found by name
            rows += [{"query": q, "path": f"real/{target.name}", "type": "image"} for q in queries]
        (folder / "pairs-text.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        out[split] = folder
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--opencv-doc", type=Path, required=True)
    args = parser.parse_args()
    for split, folder in build(args.dest, args.opencv_doc).items():
        print(split, folder)


if __name__ == "__main__":
    main()
