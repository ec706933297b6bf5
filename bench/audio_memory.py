"""Peak memory of indexing one long recording versus a short one: blocks keep it flat.

    python -m bench.audio_memory [--minutes 60]

Two WAVs (16 kHz mono 16-bit; a mix of brown noise and a slow chord, so every window is
analysed and the voice-activity detector runs over all of it) are indexed by the real CLI,
each in a fresh process and a fresh index.

Figures (one JSON line on stdout): for the 1-minute and the long file, the file size, the
wall seconds, and the child's peak RSS in MiB (ru_maxrss, models included), and the growth
factor long/short. Decoding the long file whole would take 4 bytes × 16,000 × seconds of
float32 samples (about 220 MiB for an hour) on top.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import cache_dir, cli_env, emit, machine, note, xmodal_command


def _write(path: Path, minutes: float) -> Path:
    """Write block by block, so the benchmark itself stays small too."""
    import soundfile

    rate = 16_000
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(str(path), "w", rate, 1, subtype="PCM_16") as out:
        for second in range(0, int(minutes * 60), 10):
            t = np.arange(rate * 10) / rate + second
            chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.05
            brown = np.cumsum(rng.standard_normal(len(t)))
            brown = (brown - brown.mean()) / (np.abs(brown).max() + 1e-9) * 0.1
            out.write((chord + brown).astype(np.float32))
    return path


def _measure(path: Path, env: dict[str, str]) -> tuple[float, float]:
    cmd = [*xmodal_command(), "index", str(path), "-q"]
    with tempfile.TemporaryDirectory() as index:
        probe = (
            "import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
            "w = time.perf_counter() - t\n"
            "if r.returncode: sys.exit(r.stderr.decode()[-2000:])\n"
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        args = [*cmd, "--index-dir", index]
        out = subprocess.run(
            [sys.executable, "-c", probe, *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    wall, peak_kib = out.stdout.split()
    return float(wall), int(peak_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    env = cli_env(cache_dir(args.cache))
    with tempfile.TemporaryDirectory() as work:
        short = _write(Path(work) / "one_minute.wav", 1)
        long = _write(Path(work) / "long.wav", args.minutes)
        _measure(short, env)  # warm the model cache (ONNX export) outside the figures
        figures: dict[str, Any] = {}
        for name, path in (("short_1min", short), (f"long_{args.minutes:g}min", long)):
            note(f"indexing {path.name}")
            wall, peak = _measure(path, env)
            figures[name] = {
                "mib_on_disk": round(path.stat().st_size / 2**20, 1),
                "wall_s": round(wall, 1),
                "peak_rss_mib": round(peak),
            }
    values = list(figures.values())
    figures["rss_growth"] = round(values[1]["peak_rss_mib"] / values[0]["peak_rss_mib"], 2)
    figures["machine"] = machine(load)
    emit(figures)


if __name__ == "__main__":
    main()
