"""How well `xmodal dupes` finds planted copies of real photos and leaves different ones apart.

    python -m bench.dupes_precision [--keep DIR]

The corpus: the real sample photos (bench/sample_photos.py) plus skimage's
motorcycle_left.png, each with planted copies: a byte-for-byte copy, resized to half,
recompressed as JPEG quality 40, cropped 6% on every side, rotated 3° (cropped to hide the
corners), rotated 90°, and a burst-like frame (the view shifted by 8% of the width). Real
different-but-similar photos stay in as negatives: the three textures (brick, grass,
gravel), the microscopy images (cell, ihc, retina), the motorcycle's two stereo views (two
cameras, one scene: counted as a burst pair), and the left and right halves of three
photos (same light, same camera, different picture), which replace their whole originals.

Figures (one JSON line on stdout), indexed with the real offline `lite` profile:
- per threshold: pairwise precision and recall (a pair is predicted when both files are in
  one group, true when both come from one original), and recall per kind of copy;
- at the default threshold, the false pairs and the missed copies by name;
- the same at the default thresholds for recordings (LibriVox readings and music loops, each
  re-encoded as Ogg and trimmed 10% at each end as FLAC; the other clips are the different
  ones) and notes (tests/documents.py, each also saved as HTML).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.harness import emit, note
from bench.sample_photos import copy_sample_photos

HALVED = ("china.jpg", "coffee.png", "astronaut.png")  # replaced by their two halves
THRESHOLDS = (0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94)


def _plant(folder: Path) -> dict[Path, str]:
    """Write the corpus; each path -> its family (the original it comes from)."""
    import skimage
    from PIL import Image

    originals = folder / "originals"
    copies = folder / "copies"
    copies.mkdir(parents=True)
    photos = copy_sample_photos(originals)
    photos.append(
        Path(shutil.copy(Path(skimage.__file__).parent / "data" / "motorcycle_left.png", originals))
    )
    family: dict[Path, str] = {}
    for path in photos:
        if path.name in HALVED:
            with Image.open(path) as im:
                rgb = im.convert("RGB")
            w, h = rgb.size
            for side, box in (
                ("left", (0, 0, w * 45 // 100, h)),
                ("right", (w * 55 // 100, 0, w, h)),
            ):
                half = originals / f"{path.stem}_{side}.png"
                rgb.crop(box).save(half)
                family[half] = half.stem
            path.unlink()
            continue
        family[path] = "motorcycle" if path.stem.startswith("motorcycle") else path.stem
    for path in [p for p in family if p.name not in ("motorcycle_left.png",)]:
        for kind, image in _copies(path).items():
            suffix = path.suffix if kind == "exact" else ".jpg"
            target = copies / f"{path.stem}.{kind}{suffix}"
            if kind == "exact":
                shutil.copyfile(path, target)
            else:
                image.save(target, "JPEG", quality=40 if kind == "recompressed" else 90)
            family[target] = family[path]
    return family


def _plant_others(folder: Path) -> tuple[dict[Path, str], dict[Path, str]]:
    """Real recordings (LibriVox readings; generated music loops) with a re-encoded (Ogg) and
    a trimmed (10% off each end, FLAC) copy; notes with an HTML copy. Path -> family."""
    import soundfile

    from bench import sample_sounds as sounds
    from tests.documents import NOTES

    folder.mkdir(parents=True)
    recordings: dict[Path, str] = {}
    clips = [sounds.librivox_clip(c) for c in sounds.LIBRIVOX_CLIPS]
    loops = []
    for i in range(3):
        loops.append(
            sounds.write(folder / f"music{i}.wav", sounds.music(12.0, 100 + 20 * i, seed=i))
        )
    for source in [*clips, *loops]:
        data, rate = soundfile.read(str(source), dtype="float32")
        stem = source.stem[-4:] if source in clips else source.stem
        original = folder / f"{stem}.wav"
        if source in clips:
            shutil.copyfile(source, original)
        soundfile.write(str(folder / f"{stem}.reencoded.ogg"), data, rate)
        cut = len(data) // 10
        soundfile.write(str(folder / f"{stem}.trimmed.flac"), data[cut:-cut], rate)
        for path in (original, folder / f"{stem}.reencoded.ogg", folder / f"{stem}.trimmed.flac"):
            recordings[path] = stem
    notes: dict[Path, str] = {}
    for name, text in NOTES.items():
        stem = Path(name).stem
        (folder / name).write_text(text)
        copy = folder / f"{stem}.copy.html"
        copy.write_text(f"<html><body><h1>{stem}</h1><p>{text}</p></body></html>")
        notes[folder / name] = notes[copy] = stem
    return recordings, notes


def _copies(path: Path) -> dict[str, Any]:
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    tilted = rgb.rotate(3, resample=Image.Resampling.BICUBIC)
    dx, dy = w // 15, h // 15
    return {
        "exact": None,
        "resized": rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS),
        "recompressed": rgb,
        "cropped": rgb.crop((w * 6 // 100, h * 6 // 100, w * 94 // 100, h * 94 // 100)),
        "tilted": tilted.crop((dx, dy, w - dx, h - dy)),
        "rotated90": rgb.transpose(Image.Transpose.ROTATE_90),
        "burst": rgb.crop((w * 8 // 100, 0, w, h)),
    }


def _kind(path: Path) -> str:
    parts = path.name.split(".")
    return parts[1] if len(parts) == 3 else "original"


def _score(groups: list[Any], family: dict[Path, str]) -> dict[str, Any]:
    # An exact copy is listed in its exact group, whose keeper stands for it in a near group:
    # what a person sees as one set of copies is the groups joined through shared files.
    joined: list[set[Path]] = []
    for group in groups:
        paths = {Path(m.path) for m in group.files}
        touching = [j for j in joined if j & paths]
        for j in touching:
            paths |= j
            joined.remove(j)
        joined.append(paths)
    predicted = set()
    for paths in joined:
        predicted |= {frozenset(pair) for pair in itertools.combinations(sorted(paths), 2)}
    members: dict[str, list[Path]] = defaultdict(list)
    for path, name in family.items():
        members[name].append(path)
    truth = {frozenset(p) for paths in members.values() for p in itertools.combinations(paths, 2)}
    hits = predicted & truth
    grouped_with_original: dict[str, list[bool]] = defaultdict(list)
    for path, name in family.items():
        kind = _kind(path)
        if kind != "original" and name != "motorcycle":
            original = next(p for p in members[name] if _kind(p) == "original")
            grouped_with_original[kind].append(frozenset((path, original)) in predicted)
    return {
        "precision": round(len(hits) / max(len(predicted), 1), 3),
        "recall": round(len(hits) / max(len(truth), 1), 3),
        "pairs": len(predicted),
        "recall_by_copy": {
            k: round(sum(v) / len(v), 2) for k, v in sorted(grouped_with_original.items())
        },
        "false_pairs": sorted(
            " ~ ".join(sorted(p.name for p in pair)) for pair in predicted - truth
        ),
        "missed": sorted(
            p.name
            for p in family
            if _kind(p) not in ("original",) and not any(p in pair for pair in hits)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the corpus and index here and keep them")
    args = parser.parse_args()
    from xmodal_cli.collection import open_collection
    from xmodal_cli.dupes import THRESHOLDS as DEFAULTS
    from xmodal_cli.indexer import IndexOptions, SilentReporter, index_paths
    from xmodal_cli.models.lite import LiteProfile

    with tempfile.TemporaryDirectory() as work:
        root = args.keep or Path(work)
        family = _plant(root / "photos")
        recordings, notes = _plant_others(root / "other")
        note(f"{len(family)} photos, {len(set(family.values()))} originals; indexing")
        profile = LiteProfile(device="cpu")
        with open_collection(root / "index", create=True, profile=profile) as col:
            index_paths(
                [root / "photos", root / "other"],
                vectors=col.vectors,
                profile=profile,
                options=IndexOptions(),
                reporter=SilentReporter(),
            )
            sweep = {}
            for cut in THRESHOLDS:
                found = _score(col.dupes(types=["image"], threshold=cut), family)
                sweep[str(cut)] = {
                    k: found[k]
                    for k in ("precision", "recall", "pairs", "recall_by_copy", "false_pairs")
                }
            default = _score(col.dupes(types=["image"]), family)
            exact = [g for g in col.dupes(types=["image"]) if g.kind == "exact"]
            others = {
                kind: {
                    k: v
                    for k, v in _score(col.dupes(types=[kind]), truth).items()
                    if k in ("precision", "recall", "pairs", "recall_by_copy", "false_pairs")
                }
                for kind, truth in (("audio", recordings), ("text", notes))
            }
    emit(
        {
            "photos": len(family),
            "originals": len(set(family.values())),
            "default_threshold": DEFAULTS["image"],
            "at_default": default,
            "exact_groups": len(exact),
            "sweep": sweep,
            "recordings": len(recordings),
            "notes": len(notes),
            "thresholds": DEFAULTS,
            **others,
        }
    )


if __name__ == "__main__":
    main()
