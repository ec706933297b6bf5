"""Re-index an unchanged tree of 10,000 small files: the cost of "nothing to do".

    python -m bench.reindex_unchanged [--texts 9000] [--images 1000] [--build fake|real]

The tree holds tiny text notes (one sentence each) in nested folders and 32×32 PNGs cut
from the real sample photos. The index is built once, by default through the Python API
with a fast fake profile that claims to be "lite" (same spaces and model ids, random unit
vectors), so the real CLI accepts it; `--build real` uses `xmodal index` with the real models
instead. Then `xmodal index TREE --index-dir DIR -q --json` runs --runs times in a fresh
process each on the unchanged tree.

Figures (one JSON line on stdout): files, wall seconds (min/median/max), the indexer's own
seconds (planning: walk + stat + catalog lookup), start-up (wall minus indexer), the wall
time of `xmodal status` on the same index for comparison, and which heavy packages the
no-op run imports (from `python -X importtime`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

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

_VOCABULARY = (
    "the a budget meeting notes garden recipe invoice travel plan train station tomorrow "
    "morning cat dog sofa window rain sunset beach mountain receipt tax insurance doctor "
    "appointment birthday gift list groceries milk bread coffee project deadline review "
    "draft chapter idea holiday photos camera lens battery charger bicycle repair"
)
_HEAVY = ("torch", "transformers", "sentence_transformers", "faiss", "onnxruntime")


class FastFakeLite:
    """Satisfies the Profile protocol as "lite" (same spaces and model ids), with random
    unit vectors instead of models, so a 10,000-file index builds in seconds."""

    name = "lite"

    def __init__(self, cache: Path) -> None:
        from xmodal_cli.models.lite import LiteProfile

        real = LiteProfile(cache=cache)  # loads nothing: weights are lazy
        self.spaces = dict(real.spaces)
        self.model_ids = dict(real.model_ids)
        self.variant = real.variant
        self.image_size = real.image_size
        self.text_space = real.text_space
        self.passage_words = real.passage_words
        self.like_spaces = dict(real.like_spaces)
        self.sound_rate = real.sound_rate
        self.sound_window = real.sound_window
        self._image_spaces = (real.text_space, "visual")
        self._rng = np.random.default_rng(0)

    def _unit(self, n: int, dim: int) -> np.ndarray:
        vectors = self._rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        from xmodal_cli.models import SPACE_TEXT

        return self._unit(len(texts), self.spaces[SPACE_TEXT])

    def encode_images(self, pixels: np.ndarray) -> Any:
        from xmodal_cli.models import ImageEncoding

        n = len(pixels)
        return ImageEncoding(
            vectors={space: self._unit(n, self.spaces[space]) for space in self._image_spaces},
            captions=["fake"] * n,
        )

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        return {self.text_space: self.encode_texts([text])[0]}

    def query_spaces(self, modality: str) -> tuple[str, ...]:
        return (self.text_space,)

    def encode_sounds(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    def transcribe(self, samples: np.ndarray, cancelled: object = None) -> Any:
        from xmodal_cli.models.whisper import Transcript

        return Transcript([], 0.0)


def build_tree(root: Path, texts: int, images: int) -> int:
    """Write `texts` one-sentence notes and `images` 32×32 PNGs; returns the file count."""
    from PIL import Image, ImageEnhance

    from bench.sample_photos import copy_sample_photos

    rng = random.Random(7)
    words_pool = _VOCABULARY.split()
    for i in range(texts):
        folder = root / "notes" / f"y{2015 + i % 9}" / f"m{i // 9 % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        words = rng.choices(words_pool, k=rng.randint(6, 14))
        sentence = " ".join(words).capitalize() + ".\n"
        (folder / f"note_{i:05d}{'.md' if i % 4 == 0 else '.txt'}").write_text(sentence)
    sources: list[Image.Image] = []
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-src-") as tmp:
        for path in copy_sample_photos(Path(tmp)):
            with Image.open(path) as opened:
                if opened.mode in ("I;16", "I", "F"):
                    continue
                sources.append(opened.convert("RGB"))
    for i in range(images):
        source = sources[i % len(sources)]
        side = rng.randint(min(source.size) // 4, min(source.size))
        left = rng.randint(0, source.width - side)
        top = rng.randint(0, source.height - side)
        im = source.crop((left, top, left + side, top + side)).resize((32, 32))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))
        folder = root / "photos" / f"roll{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        im.save(folder / f"img_{i:05d}.png")
    return texts + images


def build_index_fake(tree: Path, index_dir: Path, cache: Path) -> dict[str, Any]:
    from xmodal_cli.collection import open_collection
    from xmodal_cli.indexer import IndexOptions

    profile = FastFakeLite(cache)
    with open_collection(index_dir, write=True, create=True, profile=profile) as collection:
        summary = collection.index([tree], options=IndexOptions(workers=2))
    return summary.as_dict()


def build_index_real(tree: Path, index_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    args = [*xmodal_command(), "index", str(tree), "--index-dir", str(index_dir), "-q", "--json"]
    _, done = run_timed(args, env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=9000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build", choices=("fake", "real"), default="fake")
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    parser.add_argument("--keep", action="store_true", help="keep the tree and index")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    env = cli_env(cache)
    work = Path(tempfile.mkdtemp(prefix="xmodal-bench-reindex-"))
    tree, index_dir = work / "tree", work / "index"
    try:
        started = time.perf_counter()
        files = build_tree(tree, args.texts, args.images)
        note(f"tree of {files} files in {time.perf_counter() - started:.1f}s at {tree}")
        started = time.perf_counter()
        if args.build == "fake":
            built = build_index_fake(tree, index_dir, cache)
        else:
            built = build_index_real(tree, index_dir, env)
        build_s = time.perf_counter() - started
        note(f"first index ({args.build}) in {build_s:.1f}s: {built}")
        if built["indexed"] != files:
            raise SystemExit(f"first index covered {built['indexed']} of {files} files")

        command = [*xmodal_command(), "index", str(tree), "--index-dir", str(index_dir)]
        walls, in_run = [], []
        for run in range(args.runs):
            wall, done = run_timed([*command, "-q", "--json"], env)
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            if summary["unchanged"] != files or summary["indexed"] or summary["removed"]:
                raise SystemExit(f"tree was not seen as unchanged: {summary}")
            walls.append(wall)
            in_run.append(summary["seconds"])
            note(f"run {run + 1}: {wall:.2f}s wall, {summary['seconds']:.2f}s in the indexer")

        status_walls = [
            run_timed([*xmodal_command(), "status", "--index-dir", str(index_dir)], env)[0]
            for _ in range(3)
        ]
        _, traced = run_timed(
            [sys.executable, "-X", "importtime", "-m", "xmodal_cli", *command[1:], "-q"], env
        )
        imported = heavy_imports(traced.stderr, _HEAVY)
    finally:
        if args.keep:
            note(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    emit(
        {
            "bench": "reindex_unchanged",
            **machine(load_at_start),
            "command": "xmodal index TREE --index-dir DIR -q --json",
            "files": files,
            "texts": args.texts,
            "images": args.images,
            "first_index": args.build,
            "first_index_s": round(build_s, 1),
            "runs": args.runs,
            "wall_s": summarise(walls),
            "indexer_s_median": round(statistics.median(in_run), 3),
            "startup_s_median": round(statistics.median(walls) - statistics.median(in_run), 3),
            "status_wall_s_median": round(statistics.median(status_walls), 3),
            "heavy_imports_s": {k: (round(v, 3) if v else v) for k, v in imported.items()},
            "torch_imported": imported["torch"] is not None,
        }
    )


if __name__ == "__main__":
    main()
