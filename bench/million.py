"""A million photos: xmodal's search against exact FAISS and rclip's method, side by side.

    python -m bench.million [--items 1000000] [--keep DIR] [--queries 200]

The index holds N "photos", each with a `text` item (384-d) and a `visual` item (1280-d), as
the `lite` profile makes them, written through the store's writer protocol into an index
that records the real `lite` profile (so `xmodal ... --index-dir DIR` searches it).

Vectors resemble real ones: real embeddings jittered into many.
- visual: EfficientNet-Lite0 features of a few hundred augmented views (random square crop,
  flip, brightness/contrast/colour) of the real sample photos (bench/sample_photos.py);
- text: half of the photos carry the ConSE vector of their own augmented view, half a real
  passage (first paragraphs of Python stdlib docstrings, read with `ast`) encoded by MiniLM.
Each item is its base vector plus isotropic gaussian jitter (noise norm 0.25-0.6, i.e. cosine
0.86-0.97 to the base), renormalised; every chunk of photos is reproducible from the seed.

Queries are held out: text = "a photo of a X" for ImageNet labels[1::3] (the product tunes
nprobe on labels[::3]) plus phrases of our own, encoded by MiniLM; visual = EfficientNet
features of other augmented views (never stored). Ground truth = exact top 10 by inner
product over the vectors as stored (the catalog's int8 BLOBs read back as float32).

Paths: every 100th photo lies in /bench/photos/rare (1 %, spread across the id range, for
the filtered query), every 10th (n % 10 == 5) in /bench/photos/old (10 %, removed at the end).

Measured, per space (one query at a time, warm):
- xmodal: a reader, `open_collection(DIR)`, then `collection.vectors.search(space, q, 10)`
  (FAISS on the memory-mapped saved index, IVF candidates re-scored from SQLite); filtered:
  `catalog.matching_items(space, "image", (RARE,), most=N)` + `vectors.search(...,
  allowed=...)` timed together per query (`filtered_*`: the reader remembers the folder's
  selection after the first query; `filtered_first_*` forgets it before each query, as for
  a folder asked for the first time), and search.py's `_search_space`
  with `make_filters(under=[RARE])` (`filtered_product_*`, hits collapsed to files);
- flat: faiss.IndexFlatIP over the stored vectors, 1 thread (as xmodal's own search);
- rclip: every BLOB (with its path) loaded from SQLite into one numpy matrix (`rclip_load_s`,
  paid at every cold start), then `matrix @ q` + argpartition, BLAS on all cores.
And: the writer run's wall time with the seconds spent in IVF builds per space; bytes on
disk (SQLite pages by table from dbstat, items' pages split by space in proportion to their
bytes, plus each FAISS file); `xmodal status --json` layouts; cold `xmodal search` and
`xmodal similar UNINDEXED.jpg` (median of 3 fresh processes after one warm-up); peak RSS of
`xmodal index --rebuild` and of a cold `xmodal search` (a small parent process reads
RUSAGE_CHILDREN); `xmodal remove` of /bench/photos/old then `xmodal check --json`; an
unchanged re-index of a tree of min(N, 1M) empty files recorded as unchanged in a separate
small index dir. With --keep, the removed 10 % are written back at the end so DIR holds all
N photos (new item ids).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import (
    cache_dir,
    cli_env,
    emit,
    machine,
    note,
    run_timed,
    summarise,
    xmodal_command,
)
from xmodal_cli.store import codec

K = 10
SPACES = {"text": 384, "visual": 1280}
CHUNK = 5_000  # photos per transaction (10,000 items)
ROOT = "/bench/photos"
RARE = f"{ROOT}/rare"  # every 100th photo: 1 %
OLD = f"{ROOT}/old"  # n % 10 == 5: 10 %
PHOTO_VIEWS = 960  # augmented views whose features make the stored vectors
PASSAGES = 3000
JITTER = (0.25, 0.6)  # norm of the gaussian noise added to a unit base vector
TREE_MAX = 1_000_000
OWN_PHRASES = (
    "a dog on the beach",
    "my cat asleep on the sofa",
    "sunset over the sea",
    "birthday cake with candles",
    "snow on the mountains",
    "a red sports car",
    "kids playing football in the park",
    "coffee and a croissant",
    "old black and white portrait",
    "fireworks over the city",
    "a bowl of ramen",
    "the view from the airplane window",
    "rain on the window",
    "a wooden boat on a lake",
    "wedding photos in the garden",
    "screenshot of an error message",
    "a plate of spaghetti",
    "horse in a field",
    "the night sky full of stars",
    "a bicycle leaning against a wall",
    "tulips in spring",
    "a crowded market street",
    "an old church tower",
    "whiteboard notes from the meeting",
    "a spider web with dew",
    "grandmother in the kitchen",
    "lightning over the fields",
    "a cup of tea on a wooden table",
    "microscope image of cells",
    "rocket launch at night",
)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _faiss() -> Any:
    import faiss

    return faiss


# -- real embeddings -----------------------------------------------------------------------


def stdlib_passages(limit: int, seed: int) -> list[str]:
    """First paragraphs of docstrings in the Python standard library (parsed, not imported)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for p in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py"))
        if "test" not in p.parts[-2] and "site-packages" not in str(p)
    ]
    random.Random(seed).shuffle(files)
    found: dict[str, None] = {}
    for path in files:
        try:
            tree = ast.parse(path.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            ):
                continue
            doc = ast.get_docstring(node)
            if doc:
                paragraph = " ".join(doc.split("\n\n")[0].split())
                if 40 <= len(paragraph) <= 300:
                    found[paragraph] = None
        if len(found) >= 2 * limit:
            break
    passages = list(found)
    picks = random.Random(seed + 1).sample(range(len(passages)), min(limit, len(passages)))
    return [passages[i] for i in sorted(picks)]


def sample_sources(work: Path) -> list[Any]:
    """The real sample photos as RGB PIL images."""
    from PIL import Image

    from bench.sample_photos import copy_sample_photos

    sources = []
    for path in copy_sample_photos(work / "sources"):
        with Image.open(path) as opened:
            if opened.mode in ("I;16", "I", "F"):
                continue
            sources.append(opened.convert("RGB"))
    return sources


def augmented_views(sources: list[Any], count: int, seed: int) -> Iterator[Any]:
    """`count` distinct views: random square crop, flip, brightness/contrast/colour."""
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng([seed, 21])
    for i in range(count):
        source = sources[i % len(sources)]
        side = int(min(source.size) * rng.uniform(0.45, 1.0))
        left = int(rng.integers(0, source.width - side + 1))
        top = int(rng.integers(0, source.height - side + 1))
        view = source.crop((left, top, left + side, top + side)).resize(
            (224, 224), Image.Resampling.BICUBIC
        )
        if rng.random() < 0.5:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        view = ImageEnhance.Brightness(view).enhance(rng.uniform(0.7, 1.3))
        view = ImageEnhance.Contrast(view).enhance(rng.uniform(0.7, 1.3))
        view = ImageEnhance.Color(view).enhance(rng.uniform(0.5, 1.5))
        yield view


def encode_views(profile: Any, views: list[Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per space, the lite profile's vectors of each view; and its ConSE captions."""
    out: dict[str, list[np.ndarray]] = {"text": [], "visual": []}
    captions: list[str] = []
    for start in range(0, len(views), 32):
        pixels = np.stack([np.asarray(v, dtype=np.uint8) for v in views[start : start + 32]])
        encoded = profile.encode_images(pixels)
        for space in out:
            out[space].append(encoded.vectors[space])
        captions += encoded.captions
    return {space: _unit(np.vstack(parts)) for space, parts in out.items()}, captions


def encode_texts(profile: Any, texts: list[str]) -> np.ndarray:
    return _unit(
        np.vstack([profile.encode_texts(texts[s : s + 64]) for s in range(0, len(texts), 64)])
    )


def held_out_text_queries(count: int, seed: int) -> list[str]:
    """Our phrases + "a photo of a X" for labels[1::3]; none among the product's tuning set."""
    from xmodal_cli.models import typical_queries

    data = Path(__file__).parents[1] / "xmodal_cli" / "models" / "data"
    labels = (data / "imagenet_labels.txt").read_text("utf-8").splitlines()
    tuned = set(typical_queries())
    candidates = [f"a photo of a {lab.split(',')[0]}" for lab in labels[1::3]]
    candidates = [q for q in dict.fromkeys(candidates) if q not in tuned]
    rng = np.random.default_rng([seed, 31])
    own = [q for q in OWN_PHRASES if q not in tuned]
    wanted = max(0, count - len(own))
    picks = rng.choice(len(candidates), size=min(wanted, len(candidates)), replace=False)
    return own[:count] + [candidates[i] for i in sorted(picks)]


class Pools:
    """Real base vectors, and the reproducible jittered vectors of photo n."""

    def __init__(self, seed: int, text: np.ndarray, visual: np.ndarray, captions: list[str]):
        self.seed = seed
        self.views = len(visual)
        self.text = text  # the views' ConSE vectors first, then the passages
        self.visual = visual
        self.captions = captions

    def chunk(self, number: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Photos number*CHUNK ... +count: (text, visual, view index)."""
        rng = np.random.default_rng([self.seed, 41, number])
        view = rng.integers(0, self.views, count)
        passage = self.views + rng.integers(0, len(self.text) - self.views, count)
        text_base = np.where(rng.random(count) < 0.5, view, passage)
        return self._jitter(rng, self.text[text_base]), self._jitter(rng, self.visual[view]), view

    @staticmethod
    def _jitter(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
        n, dim = base.shape
        noise = rng.standard_normal((n, dim), dtype=np.float32)
        noise *= (rng.uniform(*JITTER, n) / np.sqrt(dim)).astype(np.float32)[:, None]
        return _unit(base + noise)


def build_pools(work: Path, cache: Path, queries: int, seed: int) -> tuple[Pools, dict[str, Any]]:
    """Encode the real passages, views and held-out queries; (pools, queries and facts)."""
    from xmodal_cli.models.lite import LiteProfile

    profile = LiteProfile(device="cpu", cache=cache)
    started = time.perf_counter()
    passages = stdlib_passages(PASSAGES, seed)
    passage_vectors = encode_texts(profile, passages)
    note(f"{len(passages)} stdlib passages encoded in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    sources = sample_sources(work)
    views = list(augmented_views(sources, PHOTO_VIEWS + queries + 1, seed))
    stored, captions = encode_views(profile, views[:PHOTO_VIEWS])
    query_views, _ = encode_views(profile, views[PHOTO_VIEWS : PHOTO_VIEWS + queries])
    unindexed = work / "unindexed.jpg"  # a real photo for `xmodal similar`, never stored
    views[-1].save(unindexed, quality=90)
    note(
        f"{len(views)} views of {len(sources)} photos encoded"
        f" in {time.perf_counter() - started:.0f} s"
    )
    texts = held_out_text_queries(queries, seed)
    pools = Pools(seed, np.vstack([stored["text"], passage_vectors]), stored["visual"], captions)
    held_out = {
        "text": encode_texts(profile, texts),
        "visual": query_views["visual"],
        "unindexed": unindexed,
        "facts": {
            "passages": len(passages),
            "sample_photos": len(sources),
            "stored_views": PHOTO_VIEWS,
            "text_queries": len(texts),
            "text_query_examples": texts[:3] + texts[-2:],
            "visual_queries": len(query_views["visual"]),
            "jitter_noise_norm": list(JITTER),
        },
    }
    return pools, held_out


# -- the index -----------------------------------------------------------------------------


def photo_path(n: int) -> str:
    if n % 100 == 0:
        return f"{RARE}/img_{n:07d}.jpg"
    if n % 10 == 5:
        return f"{OLD}/roll{n // 10_000:03d}/img_{n:07d}.jpg"
    return f"{ROOT}/roll{n // 10_000:03d}/img_{n:07d}.jpg"


def write_photos(
    directory: Path, pools: Pools, items: int, keep: Callable[[int], bool] = lambda n: True
) -> dict[str, Any]:
    """Photos 0..items-1 (those `keep` accepts) through the writer protocol, timed."""
    from xmodal_cli.collection import open_collection
    from xmodal_cli.store.rows import NewItem

    builds: list[dict[str, Any]] = []
    saves: list[float] = []
    started = time.perf_counter()
    with open_collection(directory, write=True, create=True, model="lite") as col:
        store = col.vectors
        build, save = store._build, store._save

        def timed_build(space: str) -> Any:
            began = time.perf_counter()
            built = build(space)
            layout = built.layout
            builds.append(
                {
                    "space": space,
                    "items": built.ntotal,
                    "kind": layout.kind,
                    "nlist": layout.nlist,
                    "nprobe": layout.nprobe,
                    "s": round(time.perf_counter() - began, 1),
                }
            )
            return built

        def timed_save() -> None:
            began = time.perf_counter()
            save()
            saves.append(time.perf_counter() - began)

        setattr(store, "_build", timed_build)  # noqa: B010  # this run's store only
        setattr(store, "_save", timed_save)  # noqa: B010
        with store.writing():
            for number, start in enumerate(range(0, items, CHUNK)):
                count = min(CHUNK, items - start)
                text, visual, view = pools.chunk(number, count)
                with store.transaction() as tx:
                    for i in range(count):
                        n = start + i
                        if not keep(n):
                            continue
                        caption = pools.captions[view[i]]
                        file_id = tx.add_file(
                            photo_path(n), "image", 150_000 + n % 9973, 10**18 + n, f"h{n}", {}
                        )
                        tx.add_items(
                            file_id,
                            [
                                NewItem("text", 0, caption, text[i]),
                                NewItem("visual", 0, caption, visual[i]),
                            ],
                        )
                if number % 20 == 19:
                    note(f"  {start + count} photos, {time.perf_counter() - started:.0f} s")
    return {
        "s": round(time.perf_counter() - started, 1),
        "builds": [b for b in builds if b["kind"] == "ivf"],
        "saves": len(saves),
        "save_s": round(sum(saves), 1),
    }


def disk_usage(directory: Path, items: int) -> dict[str, Any]:
    """Bytes per item per space (its share of SQLite's item pages + its FAISS file), and all."""
    conn = sqlite3.connect(f"file:{directory / 'catalog.db'}?mode=ro", uri=True)
    try:
        pages = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        rows = conn.execute(
            "SELECT space, COUNT(*), SUM(length(vector)) + SUM(IFNULL(length(snippet), 0)) "
            "FROM items GROUP BY space"
        ).fetchall()
    finally:
        conn.close()
    table = pages.get("items", 0)
    indexes = pages.get("items_file_space", 0) + pages.get("items_space", 0)
    total_rows = sum(r[1] for r in rows) or 1
    total_bytes = sum(r[2] + 16 * r[1] for r in rows) or 1
    out: dict[str, Any] = {}
    for space, count, payload in rows:
        if space not in SPACES:
            continue
        sql = table * (payload + 16 * count) / total_bytes + indexes * count / total_rows
        faiss_bytes = (directory / f"{space}.faiss").stat().st_size
        out[space] = {
            "bytes_per_item": round((sql + faiss_bytes) / count, 1),
            "sqlite_bytes_per_item": round(sql / count, 1),
            "faiss_bytes_per_item": round(faiss_bytes / count, 1),
        }
    everything = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    out["index_bytes"] = everything
    out["index_bytes_per_photo"] = round(everything / items, 1)
    out["sqlite_pages_mib"] = {name: round(size / 2**20, 1) for name, size in pages.items()}
    return out


# -- measuring -----------------------------------------------------------------------------


def percentiles(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
    }


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f[:K]) & set(t.tolist())) for f, t in zip(found, truth, strict=False))
    return round(hits / (K * len(found)), 4) if found else 0.0


def timed_queries(
    search: Callable[[np.ndarray], list[int]], queries: np.ndarray, warmup: int = 3
) -> tuple[list[float], list[list[int]]]:
    for query in queries[:warmup]:
        search(query)
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query))
        times.append((time.perf_counter() - started) * 1000)
    return times, found


class Stored:
    """rclip's start-up: every vector BLOB of a space (and its path) into one numpy matrix."""

    def __init__(self, directory: Path, space: str) -> None:
        dim = SPACES[space]
        started = time.perf_counter()
        conn = sqlite3.connect(f"file:{directory / 'catalog.db'}?mode=ro", uri=True)
        try:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM items WHERE space = ?", (space,)
            ).fetchone()
            self.matrix = np.empty((count, dim), np.float32)
            self.ids = np.empty(count, np.int64)
            self.paths: list[str] = []
            cursor = conn.execute(
                "SELECT items.id, files.path, items.vector FROM items "
                "JOIN files ON files.id = items.file_id WHERE items.space = ? ORDER BY items.id",
                (space,),
            )
            row = 0
            while rows := cursor.fetchmany(50_000):
                self.matrix[row : row + len(rows)] = codec.matrix([r[2] for r in rows], dim)
                self.ids[row : row + len(rows)] = [r[0] for r in rows]
                self.paths += [r[1] for r in rows]
                row += len(rows)
        finally:
            conn.close()
        self.load_s = time.perf_counter() - started
        self.rare = np.flatnonzero([p.startswith(RARE + "/") for p in self.paths])

    def exact_top(self, queries: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Item ids of the exact top 10 per query (among `rows` if given), best first."""
        matrix = self.matrix if rows is None else self.matrix[rows]
        ids = self.ids if rows is None else self.ids[rows]
        scores = queries @ matrix.T if len(matrix) <= 200_000 else None
        if scores is None:
            parts_rows, parts_scores = [], []
            for start in range(0, len(matrix), 200_000):
                block = queries @ matrix[start : start + 200_000].T
                top = np.argpartition(-block, K - 1, axis=1)[:, :K]
                parts_rows.append(top + start)
                parts_scores.append(np.take_along_axis(block, top, axis=1))
            best, best_scores = np.hstack(parts_rows), np.hstack(parts_scores)
        else:
            best = np.argpartition(-scores, K - 1, axis=1)[:, :K]
            best_scores = np.take_along_axis(scores, best, axis=1)
        order = np.argsort(-best_scores, axis=1)
        return ids[np.take_along_axis(best, order, axis=1)]

    def rclip_search(self, query: np.ndarray) -> list[int]:
        sims = self.matrix @ query
        top = np.argpartition(-sims, K - 1)[:K]
        return self.ids[top[np.argsort(-sims[top])]].tolist()


def measure_baselines(
    directory: Path, space: str, queries: np.ndarray, slow: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, dict[int, str]]:
    """Ground truth (all, rare), rclip's method and exact FAISS flat for one space."""
    from threadpoolctl import threadpool_limits

    faiss = _faiss()
    stored = Stored(directory, space)
    note(f"{space}: rclip load {stored.load_s:.1f} s ({len(stored.ids)} vectors)")
    started = time.perf_counter()
    truth = stored.exact_top(queries)
    rare_truth = stored.exact_top(queries, stored.rare)
    truth_s = time.perf_counter() - started
    few = queries[:slow]
    rclip_times, rclip_found = timed_queries(stored.rclip_search, few, warmup=1)
    flat = faiss.IndexFlatIP(SPACES[space])
    flat.add(stored.matrix)
    ids = stored.ids

    def flat_search(query: np.ndarray) -> list[int]:
        _, rows = flat.search(query.reshape(1, -1), K)
        return [int(ids[r]) for r in rows[0] if r >= 0]

    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        flat_times, flat_found = timed_queries(flat_search, few, warmup=1)
    flat.reset()  # frees its copy of the vectors
    wanted = {int(i) for i in truth.ravel()} | {int(i) for i in rare_truth.ravel()}
    paths = {int(i): stored.paths[r] for r, i in enumerate(stored.ids.tolist()) if i in wanted}
    out = {
        "rclip_load_s": round(stored.load_s, 2),
        "rclip_p50_ms": percentiles(rclip_times)["p50_ms"],
        "rclip_recall_at_10": recall(rclip_found, truth),
        "flat_p50_ms": percentiles(flat_times)["p50_ms"],
        "flat_recall_at_10": recall(flat_found, truth),
        "baseline_queries": len(few),
        "ground_truth_s": round(truth_s, 1),
        "rare_items": len(stored.rare),
    }
    return out, truth, rare_truth, paths


def measure_xmodal(
    directory: Path,
    space: str,
    queries: np.ndarray,
    truth: np.ndarray,
    rare_truth: np.ndarray,
    paths: dict[int, str],
    filtered_queries: int,
) -> dict[str, Any]:
    """xmodal's own path: a reader collection, unfiltered and with the 1 % folder filter."""
    from xmodal_cli.collection import open_collection
    from xmodal_cli.search import _search_space, make_filters

    with open_collection(directory) as col:
        store, catalog = col.vectors, col.catalog
        size = store.size(space)

        def plain(query: np.ndarray) -> list[int]:
            return store.search(space, query, K)[1].tolist()

        def filtered(query: np.ndarray) -> list[int]:
            allowed = catalog.matching_items(space, "image", (RARE,), most=size)
            return store.search(space, query, K, allowed=allowed)[1].tolist()

        def filtered_first(query: np.ndarray) -> list[int]:
            catalog.forget_selections()  # as if this folder were asked for the first time
            return filtered(query)

        filters = make_filters(under=[Path(RARE)])

        def product(query: np.ndarray) -> list[str]:
            hits = _search_space(store, space, query, "image", filters, K)
            return [hit.path for hit in hits]

        times, found = timed_queries(plain, queries)
        few = queries[:filtered_queries]
        f_times, f_found = timed_queries(filtered, few, warmup=1)
        first_times, _ = timed_queries(filtered_first, few, warmup=1)
        product(queries[0])
        p_times, p_hits = [], []
        for query in few:
            started = time.perf_counter()
            p_hits.append(product(query))
            p_times.append((time.perf_counter() - started) * 1000)
    rare_paths = [{paths[int(i)] for i in row} for row in rare_truth[: len(few)]]
    product_hits = sum(len(set(h) & t) for h, t in zip(p_hits, rare_paths, strict=True))
    filtered_figures = percentiles(f_times)
    first_figures = percentiles(first_times)
    product_figures = percentiles(p_times)
    return {
        **percentiles(times),
        "recall_at_10": recall(found, truth),
        "filtered_p50_ms": filtered_figures["p50_ms"],
        "filtered_p99_ms": filtered_figures["p99_ms"],
        "filtered_recall_at_10": recall(f_found, rare_truth),
        "filtered_first_p50_ms": first_figures["p50_ms"],
        "filtered_first_p99_ms": first_figures["p99_ms"],
        "filtered_product_p50_ms": product_figures["p50_ms"],
        "filtered_product_p99_ms": product_figures["p99_ms"],
        "filtered_product_recall_at_10": round(product_hits / (K * len(few)), 4),
        "queries": len(queries),
        "filtered_queries": len(few),
    }


# A small parent for the measured process: Linux counts the RSS of the process a child was
# forked from in the child's ru_maxrss, so forking from this (large) bench would inflate it.
_TIMED_CHILD = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(f"{wall} {peak} {code}")
"""


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB, stdout) of one fresh process, timed by a small parent."""
    with tempfile.TemporaryDirectory() as tmp:
        figures, out, err = Path(tmp) / "figures", Path(tmp) / "out", Path(tmp) / "err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run(
                [sys.executable, "-c", _TIMED_CHILD, str(figures), *command],
                env=env,
                stdout=stdout,
                stderr=stderr,
                check=True,
            )
        wall, peak, code = figures.read_text().split()
        if int(code):
            raise SystemExit(f"failed: {' '.join(command)}\n{err.read_text()[-3000:]}")
        return float(wall), int(peak) / 1024, out.read_text()


def cold_runs(command: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """One warm-up (page cache, ONNX export on first use), then `runs` timed processes."""
    _, _, printed = measured(command, env)
    hits = json.loads(printed)
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak, _ = measured(command, env)
        walls.append(wall)
        peaks.append(peak)
    return {
        **summarise(walls),
        "peak_rss_mib": round(max(peaks)),
        "hits": len(hits),
        "top": hits[0]["path"] if hits else None,
    }


def status_indexes(directory: Path, env: dict[str, str]) -> dict[str, Any]:
    _, done = run_timed([*xmodal_command(), "status", "--json", "--index-dir", str(directory)], env)
    found: dict[str, Any] = json.loads(done.stdout)["indexes"]
    return found


def unchanged_reindex(work: Path, files: int, cache: Path, env: dict[str, str]) -> dict[str, Any]:
    """`xmodal index TREE` over `files` empty .jpg files the catalog already records."""
    from xmodal_cli.collection import open_collection
    from xmodal_cli.planner import content_hash

    tree, index_dir = work / "tree", work / "tree-index"
    started = time.perf_counter()
    for start in range(0, files, 1000):
        folder = tree / f"d{start // 1000:04d}"
        folder.mkdir(parents=True)
        for i in range(start, min(files, start + 1000)):
            os.close(os.open(folder / f"f{i:07d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    created_s = time.perf_counter() - started
    note(f"tree of {files} files in {created_s:.0f} s")
    started = time.perf_counter()
    with open_collection(index_dir, write=True, create=True, model="lite") as col:
        digest = None  # every file is empty: one content, one hash
        with col.vectors.writing(), col.vectors.transaction() as tx:
            for folder in sorted(tree.iterdir()):
                for entry in os.scandir(folder):
                    st = entry.stat()
                    digest = digest or content_hash(entry.path, st.st_size)
                    tx.add_file(entry.path, "image", st.st_size, st.st_mtime_ns, digest, {})
    recorded_s = time.perf_counter() - started
    command = [*xmodal_command(), "index", str(tree), "--index-dir", str(index_dir), "-q", "--json"]
    walls, inside = [], []
    for _ in range(2):
        wall, done = run_timed(command, env)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        if summary["unchanged"] != files or summary["indexed"] or summary["removed"]:
            raise SystemExit(f"the tree was not seen as unchanged: {summary}")
        walls.append(wall)
        inside.append(summary["seconds"])
    started = time.perf_counter()
    shutil.rmtree(tree)
    shutil.rmtree(index_dir)
    return {
        "files": files,
        "wall_s": summarise(walls),
        "indexer_s": summarise(inside),
        "create_tree_s": round(created_s, 1),
        "record_s": round(recorded_s, 1),
        "delete_tree_s": round(time.perf_counter() - started, 1),
        "command": "xmodal index TREE --index-dir DIR2 -q --json (DIR2: a separate index)",
    }


def remove_and_check(directory: Path, env: dict[str, str]) -> dict[str, Any]:
    command = [*xmodal_command(), "remove", OLD, "--index-dir", str(directory), "-q"]
    remove_s, _ = run_timed(command, env)
    check = [*xmodal_command(), "check", "--json", "--index-dir", str(directory)]
    check_s, done = run_timed(check, env, check=False)
    report = json.loads(done.stdout)
    return {
        "remove_s": round(remove_s, 2),
        "check_s": round(check_s, 2),
        "check_ok": report["ok"],
        "check_problems": report["problems"],
        "checked": report["checked"],
    }


# -- the run -------------------------------------------------------------------------------


def run_queries(
    args: argparse.Namespace, directory: Path, work: Path, cache: Path
) -> dict[str, Any]:
    """--queries-only: the query figures and cold starts on an index an earlier run kept
    (with --keep it ends holding all its photos again), nothing written."""
    env = cli_env(cache)
    _, held_out = build_pools(work, cache, args.queries, args.seed)
    spaces = query_figures(args, directory, held_out, {"builds": []}, env)
    search_cmd = [*xmodal_command(), "search", "a dog on the beach", "--json"]
    similar_cmd = [*xmodal_command(), "similar", str(held_out["unindexed"]), "--json"]
    cold_search = cold_runs([*search_cmd, "--index-dir", str(directory)], env, args.runs)
    cold_similar = cold_runs([*similar_cmd, "--index-dir", str(directory)], env, args.runs)
    note(f"cold search {cold_search}, similar {cold_similar}")
    return {
        "items": args.items,
        "queries_only": str(directory),
        "spaces": spaces,
        "cold_search_s": cold_search["median"],
        "cold_similar_s": cold_similar["median"],
        "search_peak_rss_mib": cold_search["peak_rss_mib"],
    }


def query_figures(
    args: argparse.Namespace,
    directory: Path,
    held_out: dict[str, Any],
    written: dict[str, Any],
    env: dict[str, str],
) -> dict[str, Any]:
    """Per space: xmodal's queries beside exact flat search and the rclip method."""
    indexes = status_indexes(directory, env)
    disk = disk_usage(directory, args.items)
    spaces: dict[str, Any] = {}
    for space in SPACES:
        queries = held_out[space]
        baselines, truth, rare_truth, paths = measure_baselines(
            directory, space, queries, args.slow_queries
        )
        ours = measure_xmodal(
            directory, space, queries, truth, rare_truth, paths, args.filtered_queries
        )
        built = [b for b in written["builds"] if b["space"] == space]
        spaces[space] = {
            **ours,
            **baselines,
            "speedup_vs_rclip": round(baselines["rclip_p50_ms"] / ours["p50_ms"], 1),
            "speedup_vs_flat": round(baselines["flat_p50_ms"] / ours["p50_ms"], 1),
            "speedup_vs_rclip_cold": round(
                (baselines["rclip_load_s"] * 1000 + baselines["rclip_p50_ms"]) / ours["p50_ms"]
            ),
            "build_s": round(sum(b["s"] for b in built), 1),
            "ivf_builds": built,
            **disk[space],
            "index": indexes.get(space),
        }
        note(f"{space}: {spaces[space]}")
    return spaces


def run(args: argparse.Namespace, directory: Path, work: Path, cache: Path) -> dict[str, Any]:
    env = cli_env(cache)
    pools, held_out = build_pools(work, cache, args.queries, args.seed)
    note(f"writing {args.items} photos into {directory}")
    written = write_photos(directory, pools, args.items)
    note(f"written in {written['s']} s: {written}")
    disk = disk_usage(directory, args.items)
    spaces = query_figures(args, directory, held_out, written, env)
    search_cmd = [*xmodal_command(), "search", "a dog on the beach", "--json"]
    search_cmd += ["--index-dir", str(directory)]
    similar_cmd = [*xmodal_command(), "similar", str(held_out["unindexed"]), "--json"]
    similar_cmd += ["--index-dir", str(directory)]
    cold_search = cold_runs(search_cmd, env, args.runs)
    cold_similar = cold_runs(similar_cmd, env, args.runs)
    note(f"cold search {cold_search}, similar {cold_similar}")
    rebuild_cmd = [*xmodal_command(), "index", "--rebuild", "--index-dir", str(directory), "-q"]
    rebuild_s, rebuild_rss, _ = measured(rebuild_cmd, env)
    note(f"rebuild {rebuild_s:.0f} s, peak {rebuild_rss:.0f} MiB")
    rebuilt_indexes = status_indexes(directory, env)
    removed = remove_and_check(directory, env)
    note(f"remove: {removed}")
    tree = unchanged_reindex(work, min(args.items, TREE_MAX), cache, env)
    note(f"unchanged re-index: {tree}")
    restored = None
    if args.keep is not None:
        restored = write_photos(directory, pools, args.items, keep=lambda n: n % 10 == 5)
        note(f"wrote the removed 10 % back: {restored}")
    return {
        "items": args.items,
        "photos": args.items,
        "spaces": spaces,
        "cold_search_s": cold_search["median"],
        "cold_similar_s": cold_similar["median"],
        "index_bytes_per_photo": disk["index_bytes_per_photo"],
        "index_bytes": disk["index_bytes"],
        "index_peak_rss_mib": round(rebuild_rss),
        "search_peak_rss_mib": cold_search["peak_rss_mib"],
        "unchanged_reindex_s": tree["wall_s"]["median"],
        "remove_10pct_s": removed["remove_s"],
        "remove_check_ok": removed["check_ok"],
        "build_s": written["s"],
        "build": {k: v for k, v in written.items() if k != "builds"},
        "rebuild_s": round(rebuild_s, 1),
        "rebuilt_indexes": rebuilt_indexes,
        "cold_search": cold_search,
        "cold_similar": cold_similar,
        "remove": removed,
        "unchanged_reindex": tree,
        "restored_after_remove": restored,
        "sqlite_pages_mib": disk["sqlite_pages_mib"],
        "queries": held_out["facts"],
        "threads": {
            "xmodal": "1 (its own search pins FAISS to 1)",
            "flat": 1,
            "rclip": "numpy BLAS default",
        },
        "how": {
            "xmodal": "open_collection(DIR).vectors.search(space, q, 10)",
            "filtered": "catalog.matching_items(space, 'image', (RARE,), most=N) + "
            "vectors.search(space, q, 10, allowed=...) per query",
            "filtered_product": "search._search_space(store, space, q, 'image', "
            "make_filters(under=[RARE]), 10)",
            "cold": "median of 3 fresh processes after 1 warm-up",
        },
        "index_dir": str(directory) if args.keep is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="photos (items per space)")
    parser.add_argument("--keep", type=Path, default=None, help="leave the index in this folder")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries per space")
    parser.add_argument("--slow-queries", type=int, default=20, help="for flat and rclip")
    parser.add_argument("--filtered-queries", type=int, default=10, help="with the 1 %% filter")
    parser.add_argument("--runs", type=int, default=3, help="cold processes per command")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", default=None, help="XMODAL_CACHE (default /tmp/xc-bench)")
    parser.add_argument(
        "--queries-only",
        type=Path,
        default=None,
        metavar="DIR",
        help="only the query figures and cold starts, on DIR kept by an earlier --keep run "
        "with the same --items and --seed",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    load = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    os.environ["XMODAL_CACHE"] = str(cache)
    os.environ.pop("XMODAL_HOME", None)
    work = Path(tempfile.mkdtemp(prefix="xmodal-million-"))
    directory = (args.queries_only or args.keep or work / "index").absolute()
    if args.queries_only is None and (directory / "catalog.db").exists():
        raise SystemExit(f"{directory} already holds an index: give an empty or new folder")
    try:
        measure = run if args.queries_only is None else run_queries
        out = measure(args, directory, work, cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["total_s"] = round(time.perf_counter() - began, 1)
    emit({"bench": "million", **machine(load), **out})


if __name__ == "__main__":
    main()
