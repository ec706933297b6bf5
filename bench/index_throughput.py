"""Indexing throughput on real-size photos: the model alone versus the whole `xmodal index`.

    python -m bench.index_throughput [--n 500] [--corpus DIR] [--no-sweep]

The corpus is N JPEGs of 1–3 MP (quality 90) derived from the real sample photos by
rotation, upscaling, cropping, flipping, colour jitter and a little sensor noise, so every
file differs. It is cached in --corpus and reused (and extended) by later runs.

Figures (one JSON line on stdout). Rates are best-of-k, the usual convention on a machine
shared with other work; loadavg_1m_start/end say how busy it was.
- pure_model_images_per_s: `LiteProfile().encode_images` on pre-decoded uint8 batches at
  224×224 after a warm-up batch (EfficientNet-Lite0 + ConSE + normalisation); the best of
  --model-batches timed batches (the median is reported too), and its CPU ms per image.
- decode_images_per_s_1thread: `decode_image` (JPEG draft + resize + crop) on one thread.
- pipeline_images_per_s: `xmodal index CORPUS --index-dir FRESH -q --json` in a fresh
  process (the real CLI), files over the process's wall time, best of --repeat runs. The
  model cache is warmed first by a one-photo index run, so the one-time ONNX export and
  label embeddings are not counted; process start-up and model loading are (startup_s).
- pipeline_in_run_images_per_s: the same run over the indexer's own `seconds`.
- pipeline_cpu_ms_per_image: the child's user+sys CPU time per photo (start-up included).
- ratio: pipeline_images_per_s / pure_model_images_per_s (ratio_in_run likewise).
- sweep: --workers 1/2/3 × --batch-size 16/32/64 on the first --sweep-n photos; best is the
  highest in-run rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import cache_dir, cli_env, emit, machine, note, run_timed, xmodal_command

CORPUS_VERSION = 1  # bump when the generator changes, so cached corpora are rebuilt
_MANIFEST = "manifest.json"
_SWEEP_KEYS = ("workers", "batch_size", "images_per_s", "in_run_images_per_s", "cpu_ms_per_image")


def _photo_name(i: int) -> str:
    return f"photo_{i:05d}.jpg"


def _load_sources(folder: Path) -> list[Any]:
    from PIL import Image

    images = []
    for path in sorted(folder.iterdir()):
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB") if im.mode not in ("I;16", "I", "F") else None
        if rgb is not None:
            images.append(rgb)
    return images


_SOURCES: list[Any] = []


def _init_worker(folder: str) -> None:
    _SOURCES[:] = _load_sources(Path(folder))


def _make_photo(task: tuple[int, str]) -> int:
    """Write one varied 1–3 MP JPEG; deterministic in its index."""
    from PIL import Image, ImageChops, ImageEnhance

    i, out_dir = task
    rng = random.Random(i)
    src = _SOURCES[i % len(_SOURCES)]
    megapixels = rng.uniform(1.0, 3.0) * 1e6
    aspect = rng.choice([4 / 3, 3 / 2, 16 / 9, 1.0])
    width = round(math.sqrt(megapixels * aspect))
    height = round(megapixels / width)
    if rng.random() < 0.3:
        width, height = height, width  # portrait
    if rng.random() < 0.2:
        src = src.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270]))
    angle = rng.uniform(-10.0, 10.0)
    if abs(angle) > 2:
        # Rotate and crop away the empty corners: zoom so the inscribed square stays filled.
        src = src.rotate(angle, resample=Image.Resampling.BILINEAR)
        zoom = abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))
        w0, h0 = src.size
        cw, ch = round(w0 / zoom), round(h0 / zoom)
        src = src.crop(((w0 - cw) // 2, (h0 - ch) // 2, (w0 + cw) // 2, (h0 + ch) // 2))
    scale = max(width / src.width, height / src.height) * rng.uniform(1.0, 1.3)
    big = src.resize(
        (max(width, round(src.width * scale)), max(height, round(src.height * scale))),
        Image.Resampling.BICUBIC,
    )
    left = rng.randint(0, big.width - width)
    top = rng.randint(0, big.height - height)
    im = big.crop((left, top, left + width, top + height))
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.75, 1.25))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.75, 1.25))
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.6, 1.4))
    # Sensor-like grain: upscaled sample photos are smoother than camera output, and JPEG
    # size (hence read and decode cost) depends on it.
    noise = Image.effect_noise((width, height), rng.uniform(3.0, 8.0)).convert("RGB")
    im = ImageChops.add(im, noise, scale=1.0, offset=-128)
    exif = Image.Exif()
    exif[271] = "BenchCam"
    exif[272] = f"X{i % 7}"
    exif[306] = f"2023:{1 + i % 12:02d}:{1 + i % 28:02d} 12:{i % 60:02d}:00"
    im.save(Path(out_dir) / _photo_name(i), "JPEG", quality=90, exif=exif)
    return i


def ensure_corpus(corpus: Path, n: int, jobs: int) -> list[Path]:
    """The first n photos of the cached corpus, generating whatever is missing."""
    from bench.sample_photos import copy_sample_photos

    corpus.mkdir(parents=True, exist_ok=True)
    manifest = corpus / _MANIFEST
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        meta = {}
    if meta.get("version") != CORPUS_VERSION:
        for old in corpus.glob("photo_*.jpg"):
            old.unlink()
    missing = [i for i in range(n) if not (corpus / _photo_name(i)).exists()]
    if missing:
        note(f"generating {len(missing)} photos in {corpus} ({jobs} processes)")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="xmodal-bench-src-") as src:
            copy_sample_photos(Path(src))
            with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(src,)) as pool:
                for _ in pool.map(_make_photo, [(i, str(corpus)) for i in missing], chunksize=4):
                    pass
        note(f"generated in {time.perf_counter() - started:.1f}s")
    count = max(n, int(meta.get("count", 0)) if meta.get("version") == CORPUS_VERSION else n)
    manifest.write_text(json.dumps({"version": CORPUS_VERSION, "count": count}))
    return [corpus / _photo_name(i) for i in range(n)]


def link_subset(photos: list[Path], into: Path) -> Path:
    """A folder holding exactly `photos` (hard links; copies across file systems)."""
    into.mkdir(parents=True)
    for photo in photos:
        try:
            os.link(photo, into / photo.name)
        except OSError:
            shutil.copyfile(photo, into / photo.name)
    return into


def measure_model(
    photos: list[Path], cache: Path, batch_size: int, batches: int
) -> dict[str, float]:
    """Model images/s (best and median batch), model CPU ms per image, and single-thread
    decode images/s."""
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.models.lite import LiteProfile

    sample = photos[: batch_size * 2]
    started = time.perf_counter()
    pixels = np.stack([decode_image(str(p)).pixels for p in sample])
    decode_rate = len(sample) / (time.perf_counter() - started)
    profile = LiteProfile(cache=cache)
    groups = [pixels[i : i + batch_size] for i in range(0, len(pixels), batch_size)]
    profile.encode_images(groups[0])  # warm-up: loads weights, label vectors, allocators
    rates = []
    cpu_started = time.process_time()
    for b in range(batches):
        began = time.perf_counter()
        count = len(profile.encode_images(groups[b % len(groups)]).captions)
        rates.append(count / (time.perf_counter() - began))
    cpu_ms = (time.process_time() - cpu_started) / (batches * batch_size) * 1000
    return {
        "best": max(rates),
        "median": statistics.median(rates),
        "cpu_ms": cpu_ms,
        "decode": decode_rate,
    }


def index_run(
    folder: Path, work: Path, env: dict[str, str], *, batch_size: int, workers: int, repeat: int = 1
) -> dict[str, Any]:
    """`xmodal index` in a fresh process on a fresh index dir; the fastest of `repeat` runs."""
    runs = [_index_once(folder, work, env, batch_size, workers) for _ in range(repeat)]
    best = max(runs, key=lambda r: r["images_per_s"])
    return {**best, "walls_s": [r["wall_s"] for r in runs]}


def _index_once(
    folder: Path, work: Path, env: dict[str, str], batch_size: int, workers: int
) -> dict[str, Any]:
    index_dir = Path(tempfile.mkdtemp(prefix="idx-", dir=work))
    args = [
        *xmodal_command(),
        "index",
        str(folder),
        "--index-dir",
        str(index_dir),
        "-q",
        "--json",
        "--batch-size",
        str(batch_size),
        "--workers",
        str(workers),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, done = run_timed(args, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(index_dir, ignore_errors=True)
    files = summary["indexed"]
    return {
        "files": files,
        "skipped": summary["skipped"],
        "wall_s": round(wall, 2),
        "in_run_s": summary["seconds"],
        "images_per_s": round(files / wall, 2),
        "in_run_images_per_s": round(files / summary["seconds"], 2),
        "cpu_ms_per_image": round(cpu / files * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="photos to index")
    parser.add_argument("--corpus", default="/tmp/xmodal-bench-photos", help="corpus cache dir")
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--model-batches", type=int, default=8, help="timed model batches")
    parser.add_argument("--repeat", type=int, default=2, help="pipeline runs (best counts)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the workers×batch sweep")
    parser.add_argument("--sweep-n", type=int, default=128, help="photos per sweep run")
    parser.add_argument("--sweep-repeat", type=int, default=1, help="runs per sweep config")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    env = cli_env(cache)
    os.environ["XMODAL_CACHE"] = str(cache)
    photos = ensure_corpus(Path(args.corpus).absolute(), args.n, max(1, os.cpu_count() or 1))
    corpus_bytes = sum(p.stat().st_size for p in photos)

    with tempfile.TemporaryDirectory(prefix="xmodal-bench-index-") as tmp:
        work = Path(tmp)
        note(f"warming {cache} with a one-photo index run")
        warm = link_subset(photos[:1], work / "warm")
        index_run(warm, work, env, batch_size=1, workers=1)

        note(f"pure model rate: {args.model_batches} batches of {args.batch_size}")
        model = measure_model(photos, cache, args.batch_size, args.model_batches)
        note(f"  {model}")

        note(f"pipeline: xmodal index on {len(photos)} photos")
        full = link_subset(photos, work / "full")
        main_run = index_run(
            full, work, env, batch_size=args.batch_size, workers=args.workers, repeat=args.repeat
        )
        note(f"  {main_run}")

        sweep: list[dict[str, Any]] = []
        if not args.no_sweep:
            subset = link_subset(photos[: min(args.sweep_n, len(photos))], work / "subset")
            for workers in (1, 2, 3):
                for batch_size in (16, 32, 64):
                    run = index_run(
                        subset,
                        work,
                        env,
                        batch_size=batch_size,
                        workers=workers,
                        repeat=args.sweep_repeat,
                    )
                    row = {"workers": workers, "batch_size": batch_size, **run}
                    note(f"  sweep {row}")
                    sweep.append(row)

    figures: dict[str, Any] = {
        "bench": "index_throughput",
        **machine(load_at_start),
        "n": main_run["files"],
        "skipped": main_run["skipped"],
        "corpus_mb": round(corpus_bytes / 1e6, 1),
        "mean_megapixels": round(_mean_megapixels(photos[:50]), 2),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "pipeline_mode": "subprocess: xmodal index CORPUS --index-dir FRESH -q --json",
        "pure_model_images_per_s": round(model["best"], 2),
        "pure_model_images_per_s_median": round(model["median"], 2),
        "pure_model_cpu_ms_per_image": round(model["cpu_ms"], 1),
        "decode_images_per_s_1thread": round(model["decode"], 2),
        "pipeline_images_per_s": main_run["images_per_s"],
        "pipeline_in_run_images_per_s": main_run["in_run_images_per_s"],
        "pipeline_walls_s": main_run["walls_s"],
        "pipeline_cpu_ms_per_image": main_run["cpu_ms_per_image"],
        "startup_s": round(main_run["wall_s"] - main_run["in_run_s"], 2),
        "ratio": round(main_run["images_per_s"] / model["best"], 3),
        "ratio_in_run": round(main_run["in_run_images_per_s"] / model["best"], 3),
    }
    if sweep:
        best = max(sweep, key=lambda r: r["in_run_images_per_s"])
        figures["sweep_n"] = best["files"]
        figures["sweep"] = [{k: r[k] for k in _SWEEP_KEYS} for r in sweep]
        figures["best"] = {k: best[k] for k in _SWEEP_KEYS}
    emit(figures)


def _mean_megapixels(photos: list[Path]) -> float:
    from PIL import Image

    sizes = []
    for path in photos:
        with Image.open(path) as im:
            sizes.append(im.width * im.height / 1e6)
    return float(np.mean(sizes))


if __name__ == "__main__":
    main()
