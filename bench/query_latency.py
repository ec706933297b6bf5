"""Query latency: a cold `xmodal search` process versus queries inside a warm process.

    python -m bench.query_latency [--runs 5] [--queries 50]

The index holds the real sample photos plus a few dozen short notes, built once with the
real CLI (`xmodal index`).

Figures (one JSON line on stdout):
- cold_search_s: wall time of `xmodal search "a cat" --json --index-dir DIR`, fresh process.
- warm_query_ms: `Collection.search` per query after `open_collection` once and one warm-up
  query (first_query_ms, which loads the ONNX session and FAISS files).
- import_cli_s: `python -c "import xmodal_cli.cli"`; python_startup_s: `python -c pass`.
- heavy imports on the search path, from `python -X importtime -m xmodal_cli search ...`:
  cumulative seconds per package (null = not imported) and heavy_free_search_path, true
  when neither torch nor sentence_transformers is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    cache_dir,
    cli_env,
    emit,
    heavy_imports,
    machine,
    note,
    run_timed,
    summarise,
    xmodal_command,
)

_NOTES = {
    "cat_food.txt": "Buy wet food for the cat; she refuses the dry kind since March.",
    "vet_visit.md": "The vet said our tabby is healthy, just a little overweight.",
    "coffee_beans.txt": "Ethiopian beans, medium roast, grind fine for the espresso machine.",
    "moon_trip.md": "Apollo 11 landed on the moon in 1969; the lunar module was called Eagle.",
    "bike_repair.txt": "Rear brake pads worn out, replace before the weekend ride.",
    "temple_visit.md": "Visited the old pagoda by the lake; the roof tiles were green and gold.",
    "flowers.txt": "Plant tulips and daffodils along the fence in autumn.",
    "horses.md": "Riding lesson on Saturday; the grey horse is calm with beginners.",
    "rocket_launch.txt": "The launch was scrubbed twice because of high winds at the pad.",
    "tax_2023.md": "Collect receipts for the tax return: donations, train tickets, software.",
    "recipe_bread.txt": "Sourdough: 500 g flour, 350 g water, 100 g starter, 10 g salt.",
    "galaxies.md": "Deep field images show thousands of galaxies in a tiny patch of sky.",
    "microscope.txt": "Stain the tissue sample before putting it under the microscope.",
    "coins.md": "Grandfather's coin collection includes a silver dollar from 1921.",
    "camera_gear.txt": "Tripod, wide lens, spare batteries; the old film camera needs a strap.",
    "grass_lawn.md": "Mow the lawn and reseed the bare patches of grass near the gate.",
    "navy_history.txt": "Grace Hopper served in the US Navy and worked on early compilers.",
    "motorbike.md": "Motorcycle service due at 12,000 km: oil, chain, tyres.",
    "brick_wall.txt": "The garden wall needs repointing; several bricks are loose.",
    "astronauts.md": "Training for spacewalks happens underwater in a huge pool.",
}
_QUERIES = [
    "a cat",
    "sleeping kitten",
    "cup of coffee",
    "espresso",
    "rocket launch",
    "space shuttle",
    "astronaut in a spacesuit",
    "galaxies in the night sky",
    "the surface of the moon",
    "a motorbike",
    "vintage coins",
    "a horse",
    "red flowers",
    "old temple by a lake",
    "brick wall",
    "green grass",
    "microscope slide",
    "a man with a camera",
    "tax receipts",
    "bread recipe",
    "navy officer",
    "bicycle brakes",
    "vet appointment for my pet",
    "printed page of text",
    "clock",
]
_HEAVY = ("torch", "sentence_transformers", "transformers", "faiss", "onnxruntime")


def build_index(folder: Path, index_dir: Path, env: dict[str, str]) -> tuple[float, int]:
    from bench.sample_photos import copy_sample_photos

    photos = copy_sample_photos(folder / "photos")
    notes = folder / "notes"
    notes.mkdir()
    for name, text in _NOTES.items():
        (notes / name).write_text(text + "\n")
    args = [*xmodal_command(), "index", str(folder), "--index-dir", str(index_dir), "-q", "--json"]
    seconds, done = run_timed(args, env)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    expected = len(photos) + len(_NOTES)
    if summary["indexed"] != expected:
        note(f"indexed {summary['indexed']} of {expected} files: {summary['skip_reasons']}")
    return seconds, summary["indexed"]


def cold_search(index_dir: Path, env: dict[str, str], runs: int) -> tuple[list[float], str]:
    args = [*xmodal_command(), "search", "a cat", "--json", "--index-dir", str(index_dir)]
    walls, top = [], ""
    for _ in range(runs):
        wall, done = run_timed(args, env)
        rows = json.loads(done.stdout)
        top = Path(rows[0]["path"]).name if rows else ""
        walls.append(wall)
    return walls, top


def warm_search(index_dir: Path, queries: int) -> dict[str, Any]:
    from xmodal_cli.collection import open_collection

    started = time.perf_counter()
    collection = open_collection(index_dir)
    open_ms = (time.perf_counter() - started) * 1000
    with collection:

        def ask(query: str) -> float:
            began = time.perf_counter()
            collection.search(query, limit=10)
            return (time.perf_counter() - began) * 1000

        first_ms = ask("warm up: a photo of something")
        times = [
            ask(_QUERIES[i % len(_QUERIES)] + ("" if i < len(_QUERIES) else f" {i}"))
            for i in range(queries)
        ]
    ordered = sorted(times)
    return {
        "open_collection_ms": round(open_ms, 1),
        "first_query_ms": round(first_ms, 1),
        "warm_query_ms": {
            "median": round(statistics.median(times), 2),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "min": round(ordered[0], 2),
        },
        "torch_in_warm_process": "torch" in sys.modules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold search processes")
    parser.add_argument("--queries", type=int, default=50, help="warm queries")
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    env = cli_env(cache)
    os.environ["XMODAL_CACHE"] = str(cache)  # for the in-process collection
    os.environ.pop("XMODAL_HOME", None)
    work = Path(tempfile.mkdtemp(prefix="xmodal-bench-query-"))
    try:
        index_dir = work / "index"
        build_s, files = build_index(work / "data", index_dir, env)
        note(f"indexed {files} files in {build_s:.1f}s")

        cold, top = cold_search(index_dir, env, args.runs)
        note(f"cold search: {[round(t, 2) for t in cold]} s, top hit {top}")
        import_cli = [sys.executable, "-c", "import xmodal_cli.cli"]
        imports = [run_timed(import_cli, env)[0] for _ in range(5)]
        bare = [run_timed([sys.executable, "-c", "pass"], env)[0] for _ in range(3)]
        _, traced = run_timed(
            [
                sys.executable,
                "-X",
                "importtime",
                "-m",
                "xmodal_cli",
                "search",
                "a cat",
                "--json",
                "--index-dir",
                str(index_dir),
            ],
            env,
        )
        imported = heavy_imports(traced.stderr, _HEAVY)
        warm = warm_search(index_dir, args.queries)
        note(f"warm: {warm}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    emit(
        {
            "bench": "query_latency",
            **machine(load_at_start),
            "indexed_files": files,
            "index_build_s": round(build_s, 1),
            "cold_command": 'xmodal search "a cat" --json --index-dir DIR',
            "cold_search_s": summarise(cold),
            "cold_top_hit": top,
            **warm,
            "warm_queries": args.queries,
            "import_cli_s": round(statistics.median(imports), 3),
            "python_startup_s": round(statistics.median(bare), 3),
            "search_imports_s": {k: (round(v, 3) if v else v) for k, v in imported.items()},
            "torch_imported": imported["torch"] is not None,
            "sentence_transformers_imported": imported["sentence_transformers"] is not None,
            "heavy_free_search_path": imported["torch"] is None
            and imported["sentence_transformers"] is None,
        }
    )


if __name__ == "__main__":
    main()
