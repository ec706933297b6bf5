"""Peak memory of `xmodal index` on a small and a large tree: does RSS grow with file count?

    python -m bench.peak_rss [--small 1000] [--large 10000] [--image-share 0.1]

Each tree mixes short text notes (varied sentences, two to four short paragraphs, nested
folders of 100) with small photos (64×64 to 256×256 PNG/JPEG crops of the real sample
photos, --image-share of the files). Both trees are built fresh under a temp dir. Then the
real CLI, `xmodal index TREE --index-dir FRESH -q --json`, runs once per tree in a fresh
process, with the default batch size and workers; the model cache (XMODAL_CACHE, default
/tmp/xc-bench) is warmed first by a one-note run so the one-time ONNX export is not counted.

Peak RSS is measured by a fresh spawned helper process that runs the CLI and then reads
`getrusage(RUSAGE_CHILDREN).ru_maxrss`: the helper's only child is that one CLI run, so the
figure is that run's own peak (KiB on Linux), never a maximum over earlier runs.

Figures (one JSON line on stdout): per tree, files on disk, files indexed, items added, peak
RSS in MiB, wall seconds, the indexer's own seconds and files/s (over wall time); then
rss_ratio_large_small and files_ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.harness import cache_dir, cli_env, emit, machine, note, run_timed, xmodal_command

_SUBJECTS = (
    "The garden",
    "Our landlord",
    "My sister",
    "The new bicycle",
    "The quarterly budget",
    "The train to Lyon",
    "Grandma's recipe",
    "The insurance company",
    "The kitchen tap",
    "The project review",
    "Tomorrow's meeting",
    "The old camera",
    "The dentist",
    "The football club",
    "Our neighbour's cat",
    "The book club",
)
_VERBS = (
    "needs",
    "was moved to",
    "should mention",
    "reminded me about",
    "is waiting for",
    "depends on",
    "has nothing to do with",
    "finally arrived with",
    "keeps asking about",
    "will be cheaper than",
)
_OBJECTS = (
    "the spare keys",
    "a receipt for the repair",
    "fresh basil and tomatoes",
    "the photos from the beach",
    "an appointment next Tuesday",
    "the tax forms for last year",
    "a new battery and a charger",
    "the invoice from March",
    "two tickets for the concert",
    "the draft of chapter three",
    "a warmer winter coat",
    "the list of birthday gifts",
    "the broken window latch",
    "a cheaper flight to Lisbon",
)
_TAILS = (
    "",
    " before the weekend",
    " if the weather holds",
    " according to the email",
    " as we discussed in June",
    " but nobody remembers why",
    " at around half past eight",
    " once the bank transfer clears",
)
_TOPICS = (
    "garden",
    "budget",
    "travel",
    "recipe",
    "meeting",
    "repairs",
    "taxes",
    "birthday",
    "reading",
    "health",
    "car",
    "school",
)


def _note_text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(2, 4)):
        sentences = [
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
            f"{rng.choice(_TAILS)}."
            for _ in range(rng.randint(1, 3))
        ]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs) + "\n"


def _load_sources() -> list[Any]:
    from PIL import Image

    from bench.sample_photos import copy_sample_photos

    images = []
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-src-") as src:
        for path in copy_sample_photos(Path(src)):
            with Image.open(path) as im:
                im.load()
                if im.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
                    images.append(im.convert("RGB"))
    return images


def _write_image(sources: list[Any], rng: random.Random, target: Path) -> None:
    from PIL import Image

    src = sources[rng.randrange(len(sources))]
    side = min(src.width, src.height)
    crop = rng.randint(max(32, side // 3), side)
    left = rng.randint(0, src.width - crop)
    top = rng.randint(0, src.height - crop)
    width, height = rng.randint(64, 256), rng.randint(64, 256)
    im = src.crop((left, top, left + crop, top + crop)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if target.suffix == ".png":
        im.save(target, "PNG")
    else:
        im.save(target, "JPEG", quality=rng.randint(70, 95))


def build_tree(root: Path, files: int, image_share: float, sources: list[Any]) -> dict[str, int]:
    """`files` files under `root` in folders of 100: notes and every 1/image_share-th a photo."""
    rng = random.Random(files)
    every = max(1, round(1 / image_share)) if image_share > 0 else 0
    counts = {"texts": 0, "images": 0, "bytes": 0}
    for i in range(files):
        folder = root / f"box{i // 1000:02d}" / f"set{(i // 100) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        if every and i % every == every - 1:
            path = folder / f"photo_{i:05d}{rng.choice(('.png', '.jpg'))}"
            _write_image(sources, rng, path)
            counts["images"] += 1
        else:
            path = folder / f"{rng.choice(_TOPICS)}_note_{i:05d}.txt"
            path.write_text(_note_text(rng), encoding="utf-8")
            counts["texts"] += 1
        counts["bytes"] += path.stat().st_size
    return counts


def _measure(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Runs in a fresh helper process: one CLI child, then that child's peak RSS."""
    wall, done = run_timed(args, env)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": wall,
        "maxrss_kib": usage.ru_maxrss,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": done.stdout,
    }


def index_peak(tree: Path, index_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """`xmodal index` on a fresh index dir, measured from a freshly spawned helper."""
    args = [*xmodal_command(), "index", str(tree), "--index-dir", str(index_dir), "-q", "--json"]
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as helper:
        measured = helper.submit(_measure, args, env).result()
    summary = json.loads(measured["stdout"].strip().splitlines()[-1])
    files = summary["indexed"]
    return {
        "files_indexed": files,
        "skipped": summary["skipped"],
        "items_added": summary["items_added"],
        "peak_rss_mib": round(measured["maxrss_kib"] / 1024, 1),
        "wall_s": round(measured["wall_s"], 2),
        "in_run_s": summary["seconds"],
        "cpu_s": round(measured["cpu_s"], 1),
        "files_per_s": round(files / measured["wall_s"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="files in the small tree")
    parser.add_argument("--large", type=int, default=10000, help="files in the large tree")
    parser.add_argument("--image-share", type=float, default=0.1, help="fraction of photos")
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (for analysis)")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    env = cli_env(cache)
    work = Path(tempfile.mkdtemp(prefix="xmodal-bench-rss-"))
    try:
        sources = _load_sources()
        note(f"{len(sources)} sample photos; warming {cache} with a one-note index run")
        warm = work / "warm"
        warm.mkdir()
        (warm / "hello.txt").write_text("A short note to load the models once.\n")
        run_timed(
            [*xmodal_command(), "index", str(warm), "--index-dir", str(work / "wi"), "-q"], env
        )

        runs: dict[str, dict[str, Any]] = {}
        for label, count in (("small", args.small), ("large", args.large)):
            tree = work / f"tree-{label}"
            built = build_tree(tree, count, args.image_share, sources)
            note(f"{label}: {built}; indexing")
            result = index_peak(tree, work / f"idx-{label}", env)
            runs[label] = {"files": count, **built, **result}
            note(f"  {runs[label]}")
    finally:
        if args.keep:
            note(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    small, large = runs["small"], runs["large"]
    emit(
        {
            "bench": "peak_rss",
            **machine(load_at_start),
            "mode": "subprocess: xmodal index TREE --index-dir FRESH -q --json (defaults)",
            "rss_source": "getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh spawned helper",
            "image_share": args.image_share,
            "small": small,
            "large": large,
            "files_ratio": round(large["files"] / small["files"], 2),
            "rss_ratio_large_small": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        }
    )


if __name__ == "__main__":
    main()
