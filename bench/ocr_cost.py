"""What reading text in images and finding people cost and bring (issue 12, items 1-2).

    python -m bench.ocr_cost --opencv-doc DIR [--work DIR] [--n 200] [--tree DIR]

DIR: Debian's opencv-doc 4.6.0 unpacked (`apt-get download opencv-doc; dpkg-deb -x …`).
Figures (one JSON line):
- recall, per split (tune, report) of bench/ocr_sets.py: `xmodal eval` R@1/R@5/MRR of the
  text-in-image queries, on an index built with `--no-ocr`, then the same index after
  `xmodal index --ocr` (which re-encodes it in place through upgrade.py).
- people, per split: `xmodal eval` of "a portrait", "a group of people" … over photos with
  and without faces, and the people passage's false alarms on photos without people.
- photos: `xmodal index` photos/s on --n real-size JPEGs of bench/index_throughput.py's
  corpus (ordinary photos, a few with text), with and without --no-ocr, best of --repeat.
- per_image_ms: in one thread, the stages of models/sight.py: the photo's decode, what
  keeping its whole picture at 320 px adds to it (`whole`), reading the file again for that
  instead (`glance`, what earlier releases did), the face detector, the OCR gate, and
  reading (only on pictures the gate passes).
--tree DIR runs the CLI from another checkout (e.g. `git archive HEAD`) for "before" figures
of the people and photo queries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import cache_dir, cli_env, emit, machine, note, run_timed, xmodal_command
from bench.index_throughput import ensure_corpus, link_subset
from bench.ocr_sets import DOC, NO_PEOPLE, PEOPLE, build
from bench.sample_photos import copy_sample_photos
from bench.text_to_image_eval import QUERIES as PHOTO_QUERIES

PEOPLE_QUERIES = {
    "a portrait": lambda n: n == 1,
    "a photo of a person": lambda n: n == 1,
    "a close-up of a face": lambda n: n == 1,
    "two people": lambda n: n == 2,
    "a group of people": lambda n: n >= 3,
    "people": lambda n: n >= 1,
}


def evaluate(xmodal: list[str], env: dict[str, str], pairs: Path, index: Path) -> dict[str, Any]:
    _, done = run_timed([*xmodal, "eval", str(pairs), "--json", "--index-dir", str(index)], env)
    every = json.loads(done.stdout)
    figures = every.get("image", every.get("all", every))
    return {
        k: figures[k] for k in ("queries", "recall@1", "recall@5", "mrr", "map") if k in figures
    }


def index(xmodal: list[str], env: dict[str, str], *args: str) -> dict[str, Any]:
    """`xmodal index` in a child: its summary, wall seconds and CPU seconds (user + system:
    on a shared machine the CPU per photo moves far less with the load than the wall time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, done = run_timed([*xmodal, "index", *args, "-q", "--json"], env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {**summary, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def people_set(split: str, folder: Path, doc: Path) -> Path:
    """Photos with faces and without in `folder`, and the pairs file for them beside it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    samples = {p.name: p for p in copy_sample_photos(folder.parent / ".samples")}
    counts = {}
    for number, (name, faces) in enumerate(PEOPLE[split].items()):
        source = samples.get(name) or doc / DOC / name
        target = folder / f"people{number:02d}{source.suffix}"
        shutil.copyfile(source, target)
        counts[target.name] = faces
    half = NO_PEOPLE[::2] if split == "tune" else NO_PEOPLE[1::2]
    for number, name in enumerate(half):
        shutil.copyfile(doc / DOC / name, folder / f"other{number:02d}{Path(name).suffix}")
    shutil.rmtree(folder.parent / ".samples")
    rows = [
        {
            "query": query,
            "paths": [f"{folder.name}/{n}" for n, c in counts.items() if wanted(c)],
            "type": "image",
        }
        for query, wanted in PEOPLE_QUERIES.items()
        if any(wanted(c) for c in counts.values())
    ]
    pairs = folder.parent / f"pairs-{folder.name}.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return pairs


def photo_pairs(photos: Path) -> Path:
    """bench/text_to_image_eval.py's 52 queries for the sample photos: must not get worse."""
    rows = [
        {"query": query, "path": f"{photos.name}/{name}", "type": "image"}
        for name, queries in PHOTO_QUERIES.items()
        if (photos / name).exists()
        for query in queries
    ]
    pairs = photos.parent / "pairs-photos.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return pairs


def ordinary(photos: list[Path]) -> list[Path]:
    """The corpus photos not made from a sample picture of text (page.png, logo.png)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        names = [p.name for p in copy_sample_photos(Path(tmp))]
    # bench/index_throughput.py cycles through the sources by name (all open as RGB).
    texty = {i for i, n in enumerate(sorted(names)) if n in ("page.png", "logo.png")}
    return [p for p in photos if int(p.stem.split("_")[1]) % len(names) not in texty]


def stage_costs(pictures: list[Path]) -> dict[str, Any]:
    """Milliseconds per picture for each stage of models/sight.py, one thread. `whole`: what
    keeping the whole picture at 320 px adds to the photo's own decode (decode_image's
    `whole`, what the indexer does); `glance`: reading the file again for it instead."""
    from xmodal_cli.media.glance import glance
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.models import ocr, people, sight

    words = sight.ImageWords(read_text=True, passage_words=120)
    assert words.reader is not None
    stages = ("decode", "whole", "glance", "faces", "gate", "read")
    times: dict[str, list[float]] = {k: [] for k in stages}
    passed = 0
    words.passages(str(pictures[0]))  # load the engines
    for path in pictures:
        began = time.perf_counter()
        decode_image(str(path))
        times["decode"].append(time.perf_counter() - began)
        began = time.perf_counter()
        small = decode_image(str(path), whole=sight.GLANCE_SIDE).whole
        times["whole"].append(time.perf_counter() - began - times["decode"][-1])
        began = time.perf_counter()
        glance(str(path), people.FACE_SIDE)
        times["glance"].append(time.perf_counter() - began)
        assert small is not None and words.faces is not None
        began = time.perf_counter()
        words.faces.find(small)
        times["faces"].append(time.perf_counter() - began)
        began = time.perf_counter()
        worth = words._worth_reading(sight._looker(str(path), small), small)
        times["gate"].append(time.perf_counter() - began)
        if worth:
            passed += 1
            began = time.perf_counter()
            words.reader.read(glance(str(path), ocr.READ_SIDE))
            times["read"].append(time.perf_counter() - began)
    out: dict[str, Any] = {k: round(statistics.mean(v) * 1000, 1) for k, v in times.items() if v}
    return {**out, "pictures": len(pictures), "gate_passed": passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opencv-doc", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/xmodal-bench-ocr"))
    parser.add_argument("--n", type=int, default=200, help="ordinary photos for photos/s")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--corpus", default="/tmp/xmodal-bench-photos")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--tree", type=Path, help="run the CLI from this checkout instead")
    parser.add_argument("--skip-photos", action="store_true", help="no photos/s runs")
    parser.add_argument("--skip-text", action="store_true", help="no text-in-image recall")
    parser.add_argument("--only-photos", action="store_true", help="photos/s alone")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    env = cli_env(cache_dir(args.cache))
    xmodal = xmodal_command()
    if args.tree:  # the release before: no --ocr flags, no people passages
        # From inside the tree: `-m` puts the working folder first on sys.path.
        xmodal = ["env", "-C", str(args.tree.absolute()), sys.executable, "-m", "xmodal_cli"]
    work = args.work.absolute()
    shutil.rmtree(work, ignore_errors=True)
    figures: dict[str, Any] = {"recall": {}, "people": {}}
    skip = args.tree or args.skip_text or args.only_photos
    sets = {} if skip else build(work / "sets", args.opencv_doc)
    splits: tuple[str, ...] = ("tune", "report")
    distractors = copy_sample_photos(work / "photos")
    for split, folder in sets.items():
        idx = str(work / f"index-{split}")
        note(f"{split}: text in images, --no-ocr then --ocr")
        index(xmodal, env, str(folder), str(work / "photos"), "--index-dir", idx, "--no-ocr")
        before = evaluate(xmodal, env, folder / "pairs-text.jsonl", Path(idx))
        upgraded = index(xmodal, env, str(folder), "--index-dir", idx, "--ocr")
        after = evaluate(xmodal, env, folder / "pairs-text.jsonl", Path(idx))
        figures["recall"][split] = {
            "no_ocr": before,
            "ocr": after,
            "upgraded_in_place": upgraded["upgraded"],
        }
    if not args.only_photos:
        note("people, and the sample photos' own queries")
        idx = work / "index-photos"
        index(xmodal, env, str(work / "photos"), "--index-dir", str(idx))
        figures["photo_queries"] = evaluate(xmodal, env, photo_pairs(work / "photos"), idx)
    else:
        splits = ()
    for split in splits:
        folder = work / "people" / split
        pairs = people_set(split, folder, args.opencv_doc)
        idx = work / f"index-people-{split}"
        index(xmodal, env, str(folder), "--index-dir", str(idx))
        figures["people"][split] = evaluate(xmodal, env, pairs, idx)
        query = ["search", "a photo of a person", "--json", "-n", "100"]
        _, done = run_timed([*xmodal, *query, "--index-dir", str(idx)], env)
        said = [h for h in json.loads(done.stdout) if h["position"] == -1]
        figures["people"][split]["people_passages"] = len(said)
        figures["people"][split]["false_alarms_on_photos_without_people"] = sum(
            Path(h["path"]).name.startswith("other") for h in said
        )
    if not args.tree:
        if sets:
            texty = sorted(p for p in (work / "sets").rglob("*") if p.suffix in (".jpg", ".png"))
            figures["per_image_ms_text"] = stage_costs(texty)
        figures["per_image_ms_photos"] = stage_costs(distractors)
    if not args.skip_photos:
        photos = ensure_corpus(Path(args.corpus), args.n, jobs=2)
        figures["photos"] = {}
        for corpus, chosen in (("ordinary", ordinary(photos)), ("mixed", photos)):
            folder = link_subset(chosen, work / f"corpus-{corpus}")
            rates = {}
            for label, flags in (("no_ocr", ["--no-ocr"]), ("ocr", ["--ocr"])):
                runs = []
                for attempt in range(args.repeat):
                    idx = work / f"index-rate-{label}-{attempt}"
                    runs.append(
                        index(xmodal, env, str(folder), "--index-dir", str(idx), *flags)
                        if not args.tree
                        else index(xmodal, env, str(folder), "--index-dir", str(idx))
                    )
                    shutil.rmtree(idx)
                best = min(runs, key=lambda r: r["wall_s"])
                rates[label] = {
                    "cpu_ms_per_photo": round(min(r["cpu_s"] for r in runs) / len(chosen) * 1e3, 1),
                    "photos_per_s": round(best["indexed"] / best["wall_s"], 2),
                    "in_run_photos_per_s": round(best["indexed"] / best["seconds"], 2),
                    "walls_s": [r["wall_s"] for r in runs],
                }
                if args.tree:
                    break
            if "ocr" in rates:
                rates["ratio"] = round(
                    rates["ocr"]["photos_per_s"] / rates["no_ocr"]["photos_per_s"], 3
                )
                rates["cpu_ratio"] = round(
                    rates["no_ocr"]["cpu_ms_per_photo"] / rates["ocr"]["cpu_ms_per_photo"], 3
                )
            figures["photos"][corpus] = {"n": len(chosen), **rates}
    emit({**figures, **machine(load)})


if __name__ == "__main__":
    main()
