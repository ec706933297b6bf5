"""What indexing video costs: seconds of video per second, peak memory, and the frame cap.

    flock /tmp/xmodal-bench.lock python -m bench.video_cost [--parts speed,memory,cap]

Every clip is made here from the sample photos and espeak-ng speech (bench/sample_videos.py):
- phone: 20 s of 1920×1080 at 30 fps, H.264 (High, B-frames, a keyframe a second as phones
  write), panning across four photos, a voice over it;
- talk: 10 minutes of 640×360 at 25 fps, a slide a minute, a sentence every 4 s (speech
  about two thirds of the time, so Whisper works through most of it);
- screen: 3 minutes of 1280×720 at 10 fps, a page of text and a diagram in turns, no sound.
speed: each indexed by the real CLI in a fresh process and index (model loading included;
the model cache is warmed first), then all three in one run: video seconds per wall second.
memory: a 1-minute and a 60-minute clip (320×180, 4 fps: cheap to make; a slide every 20 s,
a sentence every 5 minutes over quiet room tone), peak RSS of the indexing process.
cap: a slideshow of all 23 sample photos, 3 s each, read with several per-minute caps: frames
kept, scenes with a frame, recall@1 of each photo finding its own scene among the frames
(visual space), and the seconds spent reading and encoding frames (no soundtrack).
The thresholds in media/video.py were set by eye on the test slideshow (five of the photos);
the cap figures use all 23.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import cache_dir, cli_env, emit, machine, note, xmodal_command
from bench.sample_photos import copy_sample_photos
from bench.sample_videos import Line, Slide, make_video

SENTENCES = [
    "the quarterly numbers look better than last year",
    "let us move on to the next slide about the harbour",
    "our team visited the lighthouse on the coast",
    "questions are welcome at the end of the talk",
]


def _phone(folder: Path, photos: list[Path]) -> Path:
    slides = [Slide(5 * n, 5, photo, pan=True) for n, photo in enumerate(photos[:4])]
    lines = [Line(2, SENTENCES[2]), Line(12, SENTENCES[0])]
    return make_video(
        folder / "phone.mp4", slides, lines, width=1920, height=1080, fps=30, keyint=30,
        preset="veryfast",
    )  # fmt: skip


def _talk(folder: Path, photos: list[Path], minutes: int = 10) -> Path:
    slides = [Slide(60 * n, 60, photos[n % len(photos)]) for n in range(minutes)]
    lines = [Line(4 * n + 1, SENTENCES[n % len(SENTENCES)]) for n in range(minutes * 15)]
    return make_video(
        folder / "talk.mp4", slides, lines, width=640, height=360, fps=25, preset="veryfast"
    )


def _screen(folder: Path, photos: list[Path]) -> Path:
    pages = [p for p in photos if p.name in ("page.png", "logo.png", "color.png")]
    slides = [Slide(30 * n, 30, pages[n % len(pages)]) for n in range(6)]
    return make_video(
        folder / "screen.mkv", slides, width=1280, height=720, fps=10, keyint=300,
        audio=False, preset="veryfast",
    )  # fmt: skip


def _long(folder: Path, photos: list[Path], minutes: int) -> Path:
    slides = [Slide(20 * n, 20, photos[n % len(photos)]) for n in range(minutes * 3)]
    lines = [Line(300 * n + 10, SENTENCES[n % len(SENTENCES)]) for n in range(minutes // 5 + 1)]
    lines = [line for line in lines if line.start < minutes * 60 - 10]
    return make_video(
        folder / f"long_{minutes}min.mp4", slides, lines, width=320, height=180, fps=4,
        preset="veryfast",
    )  # fmt: skip


def _index(paths: list[Path], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `xmodal index PATHS` in a fresh index."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "w = time.perf_counter() - t\n"
        "if r.returncode: sys.exit(r.stderr.decode()[-2000:])\n"
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    with tempfile.TemporaryDirectory() as index:
        cmd = [*xmodal_command(), "index", *map(str, paths), "-q", "--index-dir", index]
        out = subprocess.run(
            [sys.executable, "-c", probe, *cmd], env=env, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(out.stderr)
    wall, peak_kib = out.stdout.split()
    return float(wall), int(peak_kib) / 1024


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def speed(folder: Path, photos: list[Path], env: dict[str, str]) -> dict[str, Any]:
    clips = {"phone": _phone(folder, photos), "talk": _talk(folder, photos)}
    clips["screen"] = _screen(folder, photos)
    out: dict[str, Any] = {}
    for name, path in clips.items():
        note(f"indexing {name}")
        wall, peak = _index([path], env)
        seconds = _duration(path)
        out[name] = {
            "video_s": round(seconds, 1),
            "mib": round(path.stat().st_size / 2**20, 1),
            "wall_s": round(wall, 1),
            "video_s_per_s": round(seconds / wall, 2),
            "peak_rss_mib": round(peak),
        }
    note("indexing the mix in one run")
    wall, _ = _index(list(clips.values()), env)
    total = sum(_duration(p) for p in clips.values())
    out["mix"] = {"video_s": round(total, 1), "wall_s": round(wall, 1)}
    out["mix"]["video_s_per_s"] = round(total / wall, 2)
    return out


def memory(folder: Path, photos: list[Path], env: dict[str, str], minutes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for length in (1, minutes):
        path = _long(folder, photos, length)
        note(f"indexing {path.name}")
        wall, peak = _index([path], env)
        out[f"{length}min"] = {
            "mib": round(path.stat().st_size / 2**20, 1),
            "wall_s": round(wall, 1),
            "peak_rss_mib": round(peak),
        }
        path.unlink()
    values = list(out.values())
    out["rss_growth"] = round(values[1]["peak_rss_mib"] / values[0]["peak_rss_mib"], 2)
    return out


def cap(folder: Path, photos: list[Path], caps: list[int]) -> dict[str, Any]:
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.media.video import read_frames
    from xmodal_cli.models import SPACE_VISUAL
    from xmodal_cli.models.lite import LiteProfile

    profile = LiteProfile(device="cpu")
    slides = [Slide(3 * n, 3, photo) for n, photo in enumerate(photos)]
    path = make_video(folder / "slides.mp4", slides, width=640, height=480, fps=10, audio=False)
    queries = profile.encode_images(np.stack([decode_image(str(p)).pixels for p in photos]))
    wanted = queries.vectors[SPACE_VISUAL]
    out: dict[str, Any] = {"scenes": len(photos)}
    for per_minute in caps:
        started = time.perf_counter()
        _, frames = read_frames(str(path), per_minute=per_minute)
        kept = list(frames)
        vectors = profile.encode_images(np.stack([f.pixels for f in kept])).vectors[SPACE_VISUAL]
        seconds = time.perf_counter() - started
        scene_of = [int(f.seconds // 3) for f in kept]
        nearest = np.argmax(wanted @ vectors.T, axis=1)
        found = sum(scene_of[int(j)] == i for i, j in enumerate(nearest))
        out[f"cap_{per_minute}"] = {
            "frames": len(kept),
            "scenes_with_a_frame": len(set(scene_of)),
            "recall_at_1": round(found / len(photos), 3),
            "seconds": round(seconds, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,memory,cap")
    parser.add_argument("--minutes", type=int, default=60, help="length of the long clip")
    parser.add_argument("--caps", default="2,4,6,12,24")
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    env = cli_env(cache_dir(args.cache))
    parts = set(args.parts.split(","))
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        photos = sorted(copy_sample_photos(folder / "photos"))
        warm = make_video(folder / "warm.mp4", [Slide(0, 4, photos[0])], [Line(1, "hello")])
        _index([warm], env)  # the model cache (ONNX exports) outside the figures
        if "speed" in parts:
            figures["speed"] = speed(folder, photos, env)
        if "memory" in parts:
            figures["memory"] = memory(folder, photos, env, args.minutes)
        if "cap" in parts:
            figures["cap"] = cap(folder, photos, [int(c) for c in args.caps.split(",")])
    figures["machine"] = machine(load)
    emit(figures)


if __name__ == "__main__":
    main()
