"""The lite profile's INT8 MiniLM against float: passages/s, cosine, text->image rankings.

    python -m bench.int8_quality [--rounds 5]

Figures (one JSON line): passages/s of each variant on 120-word passages in batches of 32
(best and median of --rounds), the cosine of INT8 to float vectors on real queries, notes and
the ImageNet class prompts ConSE uses, and text->image R@1/R@5/MRR on the 23 sample photos
(bench/text_to_image_eval.py's queries, each encoded alone like `xmodal search` does). The
INT8 net is weight-only quantised: no image or text here was used to make it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.harness import cache_dir, emit, machine, note


def _passages(count: int) -> list[str]:
    from tests.documents import NOTES

    words = " ".join(NOTES.values()).split()
    return [" ".join(words[(i * 17) % len(words) :][:120]) for i in range(count)]


def _rates(
    encode: Callable[[list[str]], np.ndarray], passages: list[str], rounds: int
) -> dict[str, float]:
    encode(passages[:32])  # warm-up
    rates = []
    for _ in range(rounds):
        began = time.perf_counter()
        encode(passages)
        rates.append(len(passages) / (time.perf_counter() - began))
    return {"best": round(max(rates), 1), "median": round(statistics.median(rates), 1)}


def main() -> None:
    from bench.sample_photos import copy_sample_photos
    from bench.text_to_image_eval import QUERIES, recall
    from tests.documents import NOTES
    from tests.documents import QUERIES as NOTE_QUERIES
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.models import conse, efficientnet, lite, minilm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    encoders = {
        "float": minilm.OnnxTextEncoder(cache),
        "int8": minilm.OnnxTextEncoder(cache, int8=True),
    }
    passages = _passages(64)
    speed = {name: _rates(enc.encode, passages, args.rounds) for name, enc in encoders.items()}
    note(f"passages/s {speed}")

    texts = [q for qs in QUERIES.values() for q in qs] + list(NOTE_QUERIES) + list(NOTES.values())
    labels = efficientnet.labels()
    vectors = {name: enc.encode(texts) for name, enc in encoders.items()}
    label_vectors = {
        name: conse.label_embeddings(labels, enc.encode, cache, variant=name)
        for name, enc in encoders.items()
    }
    text_cos = (vectors["float"] * vectors["int8"]).sum(axis=1)
    label_cos = (label_vectors["float"] * label_vectors["int8"]).sum(axis=1)

    with tempfile.TemporaryDirectory() as tmp:
        photos = copy_sample_photos(Path(tmp))
        names = [p.name for p in photos]
        pixels = np.stack([decode_image(str(p)).pixels for p in photos])
    probs, _ = efficientnet.OnnxEfficientNet(cache).forward(pixels)
    pairs = [(q, names.index(n)) for n, qs in QUERIES.items() if n in names for q in qs]
    targets = np.array([t for _, t in pairs])
    rankings = {}
    for name, enc in encoders.items():
        images = conse.conse_vectors(
            probs, label_vectors[name], top_k=lite.CONSE_TOP_K, temperature=lite.CONSE_TEMPERATURE
        )
        queries = np.concatenate([enc.encode([q]) for q, _ in pairs])
        rankings[name] = recall(queries @ images.T, targets)
    emit(
        {
            "bench": "int8_quality",
            **machine(load_at_start),
            "passages_per_s": speed,
            "speedup_best": round(speed["int8"]["best"] / speed["float"]["best"], 2),
            "text_cosine_min": round(float(text_cos.min()), 4),
            "text_cosine_mean": round(float(text_cos.mean()), 4),
            "label_cosine_min": round(float(label_cos.min()), 4),
            "label_cosine_mean": round(float(label_cos.mean()), 4),
            "text_to_image": {"queries": len(pairs), **rankings},
        }
    )


if __name__ == "__main__":
    main()
