"""Generic words ("a bird", "a fish", "a tool") against specific ones on real photos and drawings.

The pool is written from Debian's gcompris-qt-data 3.1-2 (bench/tune_gcompris.py unpacks it):
explore (farm and world animals, monuments), erase (animal photos), categorization (fish,
tools, household things, monuments, energy) and lang (drawn animals and fruit), plus the
sample photos, each saved under a name made from its content (no file or folder name gives
an answer away to lexical search). Each picture is named by its file name or title; which
generic words it answers is written below from those names, before any measurement. Three
PAIRS files:

- generic_tune.jsonl: "an animal", "a bird", "a tool" — the only ones used to choose how
  many hypernyms a class takes and how much they weigh (lite.HYPERNYMS, HYPERNYM_WEIGHT);
- generic_report.jsonl: fish, fruit, insect, reptile, building, monkey (singular and
  plural) — the figures;
- specific.jsonl: each picture's own name ("hedgehog", "a hammer") — must not get worse.

    python -m bench.hypernyms_eval WORK [--grid] [--before-index]
        # writes the pool and the PAIRS files; --grid ranks the pool in-process for each
        # setting (ConSE over cached probabilities); --before-index indexes it as lite did
        # before hypernyms, into WORK/index
    xmodal eval WORK/generic_report.jsonl --index-dir WORK/index     # before
    xmodal index WORK/pool --no-ocr --index-dir WORK/index           # upgrades in place
    xmodal eval WORK/generic_report.jsonl --index-dir WORK/index     # after
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from bench.projection_data import _qml_titles, _words, read_rcc
from bench.sample_photos import copy_sample_photos
from bench.tune_gcompris import unpack

# Generic word -> the names (lower case, as written by _words or the titles) it covers.
BIRDS = "bird chicken duck owl scarlet macaw gosling heron kingfisher northern harrier penguin \
spoonbills swans toucan turkey"
REPTILES = "chameleon chamaeleon crocodile dragon komodo dragon lizard reptile snake turtle"
INSECTS = "bee beetle bug butterfly caterpillar flies mosquito"
FISH = "fish shark"
MONKEYS = "gibbon gorilla long nosed monkey macaque ring-tailed lemur"
FRUIT = "apple apricot coconut fruit kiwi lemon melon orange peach pear plum raspberry \
strawberry"
MAMMALS = "alpaca bear bison bull calf camel camels cat cheetah chelsea cow dog dolphin \
flying fox fox giraffe goat hedgehog hippopotamus horse jaguar kangaroo kitten koala \
meerkats moose mouse narwhal nubian ibex panda pig pika polar bear rabbit red panda \
rhinoceros sheep squirrel whale wolf"
ANIMALS = " ".join(
    (BIRDS, REPTILES, INSECTS, FISH, MONKEYS, MAMMALS, "animal crab frog snail spider")
)
BUILDINGS_FROM = ("explore_monuments", "monuments")  # folders; statues are left out
STATUES = ("christ the redeemer", "statue of liberty", "mount rushmore", "monument", "bayterek")
TUNE = {
    "an animal": ANIMALS,
    "animals": ANIMALS,
    "a bird": BIRDS,
    "birds": BIRDS,
    "a tool": "@tools",
    "tools": "@tools",
}
REPORT = {
    "a fish": FISH,
    "fish": FISH,
    "a fruit": FRUIT,
    "fruit": FRUIT,
    "an insect": INSECTS,
    "insects": INSECTS,
    "a reptile": REPTILES,
    "reptiles": REPTILES,
    "a building": "@buildings",
    "buildings": "@buildings",
    "a monkey": MONKEYS,
    "monkeys": MONKEYS,
}


def write_pool(work: Path) -> dict[str, tuple[str, str]]:
    """The pictures under work/pool; path -> (name, folder kind)."""
    rcc = unpack(work)
    pool = work / "pool"
    names: dict[str, tuple[str, str]] = {}

    pool.mkdir(parents=True, exist_ok=True)
    for stale in pool.iterdir():  # a pool written before (same pictures, same names)
        if stale.is_file():
            stale.unlink()

    def put(folder: str, base: str, raw: bytes, name: str) -> None:
        # Named by content, in one folder: no file or folder name can give the answer away.
        target = pool / f"{hashlib.sha256(raw).hexdigest()[:12]}{Path(base).suffix}"
        target.write_bytes(raw)
        names[str(target)] = (name, folder)

    for activity in ("explore_farm_animals", "explore_world_animals", "explore_monuments"):
        files = read_rcc(rcc / f"{activity}.rcc")
        titles: dict[str, str] = {}
        for key, raw in files.items():
            if "/board/" in key and key.endswith(".qml"):
                titles.update(_qml_titles(raw.decode("utf-8")))
        for key, raw in sorted(files.items()):
            base = key.rsplit("/", 1)[-1]
            if key.endswith(".webp") and base in titles:
                put(activity, base, raw, titles[base].lower())
    for key, raw in sorted(read_rcc(rcc / "erase.rcc").items()):
        if key.endswith(".webp"):
            put("erase", key.rsplit("/", 1)[-1], raw, _words(key.rsplit("/", 1)[-1][:-5]))
    for key, raw in sorted(read_rcc(rcc / "categorization.rcc").items()):
        match = re.search(r"images/([a-z]+)/([^/]+)\.webp$", key)
        if match and match.group(1) in ("fishes", "tools", "others", "monuments", "renewable"):
            word = "fish" if match.group(1) == "fishes" else _words(match.group(2))
            put(match.group(1), match.group(2) + ".webp", raw, word)
    lang_words = set(" ".join((ANIMALS, FRUIT)).split())
    for key, raw in sorted(read_rcc(rcc / "lang.rcc").items()):
        match = re.search(r"words_sample/([^/]+)\.webp$", key)
        if match and _words(match.group(1)) in lang_words:
            put("lang", match.group(1) + ".webp", raw, _words(match.group(1)))
    from bench.text_to_image_eval import QUERIES

    with tempfile.TemporaryDirectory() as tmp:
        for path in copy_sample_photos(Path(tmp)):
            put("samples", path.name, path.read_bytes(), QUERIES.get(path.name, [path.stem])[0])
    return names


def _covers(words: str, name: str, folder: str) -> bool:
    if words == "@tools":
        return folder == "tools"
    if words == "@buildings":
        return folder in BUILDINGS_FROM and name not in STATUES
    padded = f" {words} "
    return f" {name} " in padded


def write_pairs(work: Path, names: dict[str, tuple[str, str]]) -> dict[str, int]:
    """generic_tune/generic_report/specific.jsonl in `work`; query counts."""
    counts = {}
    for file, queries in (("generic_tune", TUNE), ("generic_report", REPORT)):
        rows = [
            {
                "query": q,
                "paths": sorted(p for p, (n, f) in names.items() if _covers(w, n, f)),
                "type": "image",
            }
            for q, w in queries.items()
        ]
        (work / f"{file}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        counts[file] = len(rows)
    by_name: dict[str, list[str]] = {}
    for path, (name, _) in names.items():
        if name != "monument":  # categorization's 'monument1' names no monument
            by_name.setdefault(name, []).append(path)
    rows = [{"query": n, "paths": sorted(p), "type": "image"} for n, p in sorted(by_name.items())]
    (work / "specific.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts["specific"] = len(rows)
    return counts


def grid(work: Path, names: dict[str, tuple[str, str]]) -> dict[str, object]:
    """mAP and R@1 of each setting, in-process: ConSE over the pool's cached probabilities."""
    from bench.harness import cache_dir
    from xmodal_cli.media.image import decode_image
    from xmodal_cli.models import conse, efficientnet, hypernyms, lite, minilm

    paths = sorted(names)
    cached = work / "probs.npz"  # by file content: the classifier runs once per picture
    known = dict(np.load(cached)) if cached.exists() else {}
    keys = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]
    missing = [(k, p) for k, p in zip(keys, paths, strict=True) if k not in known]
    if missing:
        net = efficientnet.OnnxEfficientNet(cache_dir(None), threads=1)
        for key, path in missing:
            known[key] = net.forward(decode_image(path).pixels[None])[0][0]
        np.savez(cached, **known)
    probs = np.stack([known[k] for k in keys]).astype(np.float32)
    text = minilm.OnnxTextEncoder(cache_dir(None), threads=1, int8=True)
    labels = efficientnet.labels()
    out: dict[str, object] = {}
    for file in ("generic_tune", "generic_report", "specific"):
        rows = [json.loads(line) for line in (work / f"{file}.jsonl").read_text().splitlines()]
        queries = text.encode([r["query"] for r in rows])
        for count in (0, 1, 2, 3):
            for weight in (0.25, 0.5, 1.0) if count else (0.0,):
                vectors = hypernyms.label_embeddings(
                    labels, text.encode, work / "cache", variant="int8", count=count, weight=weight
                )
                images = conse.conse_vectors(
                    probs, vectors, top_k=lite.CONSE_TOP_K, temperature=lite.CONSE_TEMPERATURE
                )
                scores = queries @ images.T
                aps, r1 = [], []
                for row, score in zip(rows, scores, strict=True):
                    order = [paths[i] for i in np.argsort(-score)]
                    relevant = set(row["paths"])
                    hits = [i for i, p in enumerate(order, 1) if p in relevant]
                    aps.append(np.mean([(k + 1) / rank for k, rank in enumerate(hits)]))
                    r1.append(float(order[0] in relevant))
                out[f"{file} n={count} w={weight}"] = {
                    "map": round(float(np.mean(aps)), 4),
                    "r1": round(float(np.mean(r1)), 4),
                }
    return out


def index_without_hypernyms(work: Path) -> dict[str, object]:
    """WORK/index of the pool as lite indexed it before hypernyms (n=0, its own ids, no OCR):
    the `before` of the figures; `xmodal index` then upgrades it in place."""
    from xmodal_cli.collection import open_collection
    from xmodal_cli.indexer import IndexOptions
    from xmodal_cli.models import lite

    lite.HYPERNYMS, lite.HYPERNYM_ID = 0, "hypernyms(n=0)"
    profile = lite.LiteProfile("cpu", read_text=False)
    with open_collection(work / "index", create=True, profile=profile) as collection:
        summary = collection.index([work / "pool"], options=IndexOptions(workers=1))
    return {"indexed": summary.indexed, "models": profile.model_ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--before-index", action="store_true", help="index without hypernyms")
    args = parser.parse_args()
    work = args.work.absolute()
    names = write_pool(work)
    figures: dict[str, object] = {"bench": "hypernyms_eval", "pictures": len(names)}
    figures.update(write_pairs(work, names))
    if args.before_index:
        figures["before_index"] = index_without_hypernyms(work)
    if args.grid:
        figures["load_at_start"] = os.getloadavg()[0]
        figures["grid"] = grid(work, names)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
