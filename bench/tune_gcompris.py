"""`xmodal tune` on real captioned photos: held-out R@1/R@5 without and with the adapter.

Data: Debian's `gcompris-qt-data` (3.1-2), whose Qt resource bundles hold real photos with
what they show: the explore activities (animals, farm animals, world music, monuments: a
title and a paragraph each) and categorization (tools, fish, monuments, renewable energy…:
the photo's name and its category). They are extracted into a collection with the sample
photos of bench/sample_photos.py (uncaptioned: the unrelated set). Each explore photo has
several phrasings: its title and each sentence of its paragraph (of 3+ words).

Split, seeded, before tune sees anything:
- unseen photos: 30 % of the gcompris photos, with all their phrasings, never given to tune;
- new phrasings: of each other explore photo, one phrasing never given to tune;
- train.jsonl (tune's PAIRS): every other phrasing of the remaining photos.
tune then runs twice on train.jsonl, splitting it again for its own early stopping and
keep-or-refuse check: `--split caption` (the default) and `--split file` (the old protocol).
Figures are `xmodal eval --type image` R@1/R@5 on new_phrasings (the target: a user's new
words for photos they described; new_phrasings_not_names: those whose photo's file name
does not hold them, which the lexical search would find by name), unseen_photos (photos
tune never saw) and unrelated (the sample photos' captions), before and after each.
Prints one JSON line:

    python -m bench.tune_gcompris [WORKDIR [SEED]]

The index is kept in WORKDIR; another SEED only draws another split (0 is the one reported).

Needs `apt-get download gcompris-qt-data` (run for you if the .deb is not in WORKDIR;
no root: it is unpacked with `dpkg -x`).
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

from bench.sample_photos import MATPLOTLIB, SKIMAGE, SKLEARN, copy_sample_photos

PACKAGE = "gcompris-qt-data"
EXPLORE = (
    "explore_world_animals",
    "explore_farm_animals",
    "explore_world_music",
    "explore_monuments",
)
HELD_OUT = 0.3
SEED = 0


def read_rcc(path: Path) -> dict[str, bytes]:
    """Files in a Qt binary resource bundle (.rcc, format 1–3): path -> bytes."""
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node = 14 if version == 1 else 22
    out: dict[str, bytes] = {}

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        return blob[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        at = tree + index * node
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        here = name(name_offset) if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            for child in range(count):
                walk(first + child, f"{prefix}{here}/")
            return
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        raw = blob[data + offset + 4 : data + offset + 4 + size]
        out[prefix + here] = zlib.decompress(raw[4:]) if flags & 1 else raw

    walk(0, "")
    return out


def unpack(work: Path) -> Path:
    """The package's rcc folder, downloading and unpacking the .deb if needed."""
    root = work / "gcompris"
    rcc = root / "usr/share/gcompris-qt/rcc"
    if rcc.is_dir():
        return rcc
    debs = glob.glob(str(work / f"{PACKAGE}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=work, check=True)
        debs = glob.glob(str(work / f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg", "-x", debs[0], str(root)], check=True)
    return rcc


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph that have at least three words."""
    return [t.strip() for t in re.split(r"(?<=[.!?])\s+", text) if len(t.split()) >= 3]


def gcompris_photos(rcc: Path, dest: Path) -> dict[str, list[str]]:
    """Write the captioned photos to `dest`; photo path -> its phrasings."""
    captions: dict[str, list[str]] = {}
    for activity in EXPLORE:
        files = read_rcc(rcc / f"{activity}.rcc")
        for key, raw in files.items():
            if "/board/" not in key or not key.endswith(".qml"):
                continue
            for title, text, image in re.findall(
                r'"title":\s*qsTr\("(.*?)"\),\s*"text":\s*qsTr\("(.*?)"\),.*?"image2":\s*"qrc:(\S+?)"',
                raw.decode("utf-8"),
                re.S,
            ):
                if image in files:
                    target = dest / activity / os.path.basename(image)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(files[image])
                    captions[str(target)] = [title, *sentences(text)]
    files = read_rcc(rcc / "categorization.rcc")
    for key, raw in files.items():
        category = key.split("/")[-2]
        if not key.endswith(".webp") or category in ("numbers", "alphabets"):
            continue
        stem = re.sub(r"\d+$", "", Path(key).stem)
        words = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem).replace("_", " ").lower()
        target = dest / "categorization" / category / os.path.basename(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        captions[str(target)] = [f"{words}, {category}"]
    return captions


def split(captions: dict[str, list[str]], seed: int = SEED) -> dict[str, list[tuple[str, str]]]:
    """(phrasing, photo) pairs of train, new_phrasings and unseen_photos (seeded)."""
    rng = random.Random(seed)
    files = sorted(captions)
    rng.shuffle(files)
    unseen = set(files[: round(len(files) * HELD_OUT)])
    out: dict[str, list[tuple[str, str]]] = {"train": [], "new_phrasings": [], "unseen_photos": []}
    for path in sorted(captions):
        texts = captions[path]
        if path in unseen:
            out["unseen_photos"] += [(t, path) for t in texts]
            continue
        held = rng.randrange(len(texts)) if len(texts) > 1 else -1
        for i, text in enumerate(texts):
            out["new_phrasings" if i == held else "train"].append((text, path))
    return out


def grouped(pairs: list[tuple[str, str]]) -> list[dict[str, object]]:
    """One query per distinct phrasing, with every photo it describes."""
    by_text: dict[str, list[str]] = {}
    for text, path in pairs:
        by_text.setdefault(text, []).append(path)
    return [{"query": q, "paths": sorted(p), "type": "image"} for q, p in sorted(by_text.items())]


def xmodal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmodal_cli", *args], capture_output=True, text=True, check=False
    )


def eval_figures(pairs: Path, index: Path, *extra: str) -> dict[str, float]:
    done = xmodal(
        "eval", str(pairs), "--type", "image", "--json", "--index-dir", str(index), *extra
    )
    figures = json.loads(done.stdout)["all"]
    return {k: figures[k] for k in ("n", "recall@1", "recall@5", "mrr")}


SETS = ("new_phrasings", "new_phrasings_not_names", "unseen_photos", "unrelated")


def named(query: str, paths: list[str]) -> bool:
    """Whether a photo's file name holds the query (whole words): the lexical search finds it
    by name, a lookup no adapter can change (`eval` does not hold image names out)."""
    from xmodal_cli.evaluation import _words
    from xmodal_cli.media.text import title_words

    words = _words(query)
    return bool(words) and any(words in _words(title_words(p)) for p in paths)


def tune_run(work: Path, index: Path, how: str) -> dict[str, object]:
    """Tune on train.jsonl with `--split how`; every set's figures before and after."""
    xmodal("tune", "--reset", "--quiet", "--index-dir", str(index))
    before = {n: eval_figures(work / f"{n}.jsonl", index) for n in SETS}
    started = time.perf_counter()
    tuned = xmodal(
        "tune", str(work / "train.jsonl"), "--split", how, "--json", "--quiet",
        "--index-dir", str(index),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    report = json.loads(tuned.stdout) if tuned.stdout.strip() else {"error": tuned.stderr}
    after = {n: eval_figures(work / f"{n}.jsonl", index) for n in SETS}
    untuned = eval_figures(work / "new_phrasings.jsonl", index, "--no-tune")
    return {
        "tune_exit": tuned.returncode,
        "tune_seconds_wall": round(seconds, 1),
        "tune": report,
        "before": before,
        "after": after,
        "new_phrasings_no_tune": untuned,
        "delta_r1": {n: round(after[n]["recall@1"] - before[n]["recall@1"], 4) for n in SETS},
        "delta_r5": {n: round(after[n]["recall@5"] - before[n]["recall@5"], 4) for n in SETS},
    }


def main(work: Path, seed: int = SEED) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    corpus, index = work / "corpus", work / "index"
    captions = gcompris_photos(unpack(work), corpus / "gcompris")
    samples = copy_sample_photos(corpus / "samples")
    parts = split(captions, seed)
    write = lambda name, rows: (work / name).write_text("".join(json.dumps(r) + "\n" for r in rows))  # noqa: E731
    for name, pairs in parts.items():
        write(f"{name}.jsonl", grouped(pairs))
    new = grouped(parts["new_phrasings"])
    write("new_phrasings_not_names.jsonl", [r for r in new if not named(r["query"], r["paths"])])  # type: ignore[arg-type]
    truth = {**SKIMAGE, **SKLEARN, **MATPLOTLIB}
    write(
        "unrelated.jsonl",
        [{"query": truth[p.name], "path": str(p), "type": "image"} for p in samples],
    )
    if not index.exists():
        done = xmodal("index", str(corpus), "--quiet", "--index-dir", str(index))
        if done.returncode:
            raise SystemExit(done.stderr)
    runs = {how: tune_run(work, index, how) for how in ("caption", "file")}
    xmodal("tune", "--reset", "--quiet", "--index-dir", str(index))
    return {
        "bench": "tune_gcompris",
        "seed": seed,
        "photos": len(captions),
        "unrelated_photos": len(samples),
        "pairs": {n: len(grouped(p)) for n, p in parts.items()},
        "runs": runs,
        "torch_threads": 1,
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xmodal-tune-bench")
    print(json.dumps(main(folder, int(sys.argv[2]) if len(sys.argv) > 2 else SEED)))
