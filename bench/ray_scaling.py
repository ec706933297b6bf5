"""Images/s of `xmodal index` locally versus `--ray` with 1 and 2 workers, and an estimate for
N GPU workers from measured per-image costs.

    flock /tmp/xmodal-bench.lock python -m bench.ray_scaling [--n 200]

The corpus is bench/index_throughput.py's (N JPEGs of 1–3 MP made from the real sample
photos). This process starts a local Ray head (`ray.init`, --cpus CPUs, no dashboard) and
stops it at the end; every index run is the real CLI in a fresh process on a fresh index:
local (`--workers 2` decoding threads), then `--ray HEAD --ray-workers W` for W = 1, 2.
The model cache is warmed first, so the one-time ONNX export is not counted.

Figures (one JSON line on stdout; loadavg says how busy the machine was):
- local / ray_1 / ray_2: images_per_s over the process's wall time (start-up, joining the
  cluster and the workers loading their models included), in_run_images_per_s over the
  indexer's own seconds, driver_cpu_ms_per_image (the CLI process's CPU), and per worker
  busy_s, images_per_s (over its busy time) and load_s.
- overhead_vs_local: 1 - rate / local rate, per Ray run (wall and in-run).
- per_image_ms: decode (decode_file, one thread, the lite profile: JPEG draft + resize,
  hashing, the OCR gate), encode_cpu (encode_items on batches of 32, this CPU), and
  driver (the driver's CPU per image in the 2-worker run, less that of an unchanged
  re-run: start-up, joining and planning).
- estimate: images/s for N GPU workers, each with `decode_cpus` CPUs decoding while its GPU
  encodes. A GPU worker's rate is its CPUs' decode rate (a GPU encodes EfficientNet-Lite0
  and MiniLM far faster than a CPU decodes 1–3 MP JPEGs: encode is assumed hidden, and
  this is the assumption to check on a real cluster); the cluster's rate is
  min(N × worker rate, 1000 / driver ms), since one driver commits everything.

Recipe on a real cluster: `ray start --head` on the machine holding the index (or any node),
`ray start --address HEAD:6379` on each GPU node (with xmodal[ray] and the same xmodal
version installed), then `xmodal index /mnt/archive --ray auto` (or `--ship-bytes` when the
workers cannot mount the archive); `--json` reports each worker's images/s to compare with
the estimate.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import cache_dir, cli_env, emit, machine, note, run_timed, xmodal_command
from bench.index_throughput import ensure_corpus, link_subset


def _run(folder: Path, work: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """One `xmodal index` on a fresh index; its rates and CPU, and an unchanged re-run's CPU."""
    index_dir = Path(tempfile.mkdtemp(prefix="idx-", dir=work))
    args = [*xmodal_command(), "index", str(folder), "--index-dir", str(index_dir), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, done = run_timed([*args, "--json", *extra], env)
    middle = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_timed([*args, *extra], env)  # nothing changed: start-up and planning only
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(index_dir, ignore_errors=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    files = summary["indexed"]
    cpu = middle.ru_utime - before.ru_utime + middle.ru_stime - before.ru_stime
    idle_cpu = after.ru_utime - middle.ru_utime + after.ru_stime - middle.ru_stime
    return {
        "files": files,
        "wall_s": round(wall, 2),
        "in_run_s": summary["seconds"],
        "images_per_s": round(files / wall, 2),
        "in_run_images_per_s": round(files / summary["seconds"], 2),
        "driver_cpu_ms_per_image": round(cpu / files * 1000, 1),
        "driver_extra_cpu_ms_per_image": round(max(0.0, cpu - idle_cpu) / files * 1000, 1),
        "workers": [
            {k: w[k] for k in ("worker", "busy_s", "images_per_s", "load_s", "restarts")}
            for w in summary.get("workers", [])
        ],
    }


def _per_image_ms(photos: list[Path], batch_size: int) -> dict[str, float]:
    """Decode on one thread and CPU encode, per image, with the lite profile."""
    from xmodal_cli.decoder import decode_file
    from xmodal_cli.indexer import encode_items
    from xmodal_cli.models.lite import LiteProfile
    from xmodal_cli.scan import FileRecord

    profile = LiteProfile(device="cpu")
    records = [FileRecord(str(p), "image", p.stat().st_size, 0) for p in photos]
    decode_file(records[0], profile)  # the OCR gate's engine loads once
    started = time.perf_counter()
    decoded = [decode_file(r, profile) for r in records]
    decode = (time.perf_counter() - started) / len(records)
    encode_items(decoded[:1], profile)  # weights load once
    started = time.perf_counter()
    for start in range(0, len(decoded), batch_size):
        encode_items(decoded[start : start + batch_size], profile)
    encode = (time.perf_counter() - started) / len(decoded)
    return {"decode": round(decode * 1000, 1), "encode_cpu": round(encode * 1000, 1)}


def estimate(
    decode_ms: float, driver_ms: float, decode_cpus: int, workers: tuple[int, ...]
) -> dict[str, Any]:
    """Images/s for N GPU workers: min(N × decode_cpus × 1000 / decode_ms, 1000 / driver_ms)."""
    per_worker = decode_cpus * 1000 / decode_ms
    ceiling = 1000 / max(driver_ms, 1e-3)
    return {
        "decode_cpus_per_worker": decode_cpus,
        "images_per_s_per_worker": round(per_worker, 1),
        "driver_ceiling_images_per_s": round(ceiling, 1),
        "workers_to_reach_driver_ceiling": int(-(-ceiling // per_worker)),
        "images_per_s": {str(n): round(min(n * per_worker, ceiling), 1) for n in workers},
        "hours_for_10M_images": {
            str(n): round(10_000_000 / min(n * per_worker, ceiling) / 3600, 1) for n in workers
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="photos to index")
    parser.add_argument("--corpus", default="/tmp/xmodal-bench-photos", help="corpus cache dir")
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs the local Ray head offers")
    parser.add_argument("--decode-cpus", type=int, default=8, help="CPUs per GPU worker")
    args = parser.parse_args()

    import ray

    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    env = cli_env(cache)
    os.environ["XMODAL_CACHE"] = str(cache)  # the Ray workers inherit it from this process
    photos = ensure_corpus(Path(args.corpus).absolute(), args.n, max(1, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-ray-") as tmp:
        work = Path(tmp)
        note(f"warming {cache} with a one-photo index run")
        _run(link_subset(photos[:1], work / "warm"), work, env)
        folder = link_subset(photos, work / "photos")
        note(f"local: xmodal index on {len(photos)} photos")
        local = _run(folder, work, env, "--workers", "2")
        note(f"  {local}")
        ray.init(
            num_cpus=args.cpus,
            object_store_memory=200 * 2**20,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        try:
            head = str(ray.get_runtime_context().gcs_address)
            env = cli_env(cache)  # now with what joining this head needs (RAY_AUTH_MODE)
            runs = {}
            for count in (1, 2):
                note(f"ray: --ray {head} --ray-workers {count}")
                runs[count] = _run(folder, work, env, "--ray", head, "--ray-workers", str(count))
                note(f"  {runs[count]}")
        finally:
            ray.shutdown()
        costs = _per_image_ms(photos[: min(64, len(photos))], 32)
    costs["driver"] = runs[2]["driver_extra_cpu_ms_per_image"]

    def overhead(run: dict[str, Any]) -> dict[str, float]:
        return {
            "wall": round(1 - run["images_per_s"] / local["images_per_s"], 3),
            "in_run": round(1 - run["in_run_images_per_s"] / local["in_run_images_per_s"], 3),
        }

    emit(
        {
            "bench": "ray_scaling",
            **machine(load_at_start),
            "n": local["files"],
            "ray_cpus": args.cpus,
            "local": local,
            "ray_1": runs[1],
            "ray_2": runs[2],
            "overhead_vs_local": {"ray_1": overhead(runs[1]), "ray_2": overhead(runs[2])},
            "per_image_ms": costs,
            "estimate": estimate(
                costs["decode"], costs["driver"], args.decode_cpus, (1, 2, 4, 8, 16, 32)
            ),
        }
    )


if __name__ == "__main__":
    main()
