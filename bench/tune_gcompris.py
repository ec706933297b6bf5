"""`xmodal tune` on real captioned photos: held-out R@1/R@5 without and with the adapter.

Data: Debian's `gcompris-qt-data` (3.1-2), whose Qt resource bundles hold real photos with
what they show: the explore activities (animals, farm animals, world music, monuments: a
title and a paragraph each) and categorization (tools, fish, monuments, renewable energy…:
the photo's name and its category). They are extracted into a collection with the sample
photos of bench/sample_photos.py (uncaptioned: the unrelated set), and the gcompris photos
are split, seeded, into a train part (tune's PAIRS; tune splits it again for early
stopping) and a held-out part that tune never sees. Prints one JSON line:

    python -m bench.tune_gcompris [WORKDIR]

Needs `apt-get download gcompris-qt-data` (run for you if the .deb is not in WORKDIR;
no root: it is unpacked with `dpkg -x`). Figures are `xmodal eval --type image` R@1/R@5
on the held-out captions and on the sample photos' captions, with `--no-tune` and without.
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


def gcompris_photos(rcc: Path, dest: Path) -> dict[str, str]:
    """Write the captioned photos to `dest`; photo path -> caption."""
    captions: dict[str, str] = {}
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
                    captions[str(target)] = f"{title}. {text}"
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
        captions[str(target)] = f"{words}, {category}"
    return captions


def grouped(captions: dict[str, str]) -> list[dict[str, object]]:
    """One query per distinct caption, with every photo it describes."""
    by_text: dict[str, list[str]] = {}
    for path, text in captions.items():
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


def main(work: Path) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    corpus, index = work / "corpus", work / "index"
    captions = gcompris_photos(unpack(work), corpus / "gcompris")
    samples = copy_sample_photos(corpus / "samples")
    files = sorted(captions)
    random.Random(SEED).shuffle(files)
    held = set(files[: round(len(files) * HELD_OUT)])
    write = lambda name, rows: (work / name).write_text("".join(json.dumps(r) + "\n" for r in rows))  # noqa: E731
    write("train.jsonl", grouped({p: c for p, c in captions.items() if p not in held}))
    write("held_out.jsonl", grouped({p: c for p, c in captions.items() if p in held}))
    truth = {**SKIMAGE, **SKLEARN, **MATPLOTLIB}
    write(
        "unrelated.jsonl",
        [{"query": truth[p.name], "path": str(p), "type": "image"} for p in samples],
    )
    if not index.exists():
        done = xmodal("index", str(corpus), "--quiet", "--index-dir", str(index))
        if done.returncode:
            raise SystemExit(done.stderr)
    xmodal("tune", "--reset", "--quiet", "--index-dir", str(index))
    before = {n: eval_figures(work / f"{n}.jsonl", index) for n in ("held_out", "unrelated")}
    started = time.perf_counter()
    tuned = xmodal(
        "tune", str(work / "train.jsonl"), "--json", "--quiet", "--index-dir", str(index)
    )
    seconds = time.perf_counter() - started
    report = json.loads(tuned.stdout) if tuned.stdout.strip() else {"error": tuned.stderr}
    after = {n: eval_figures(work / f"{n}.jsonl", index) for n in ("held_out", "unrelated")}
    untuned = {n: eval_figures(work / f"{n}.jsonl", index, "--no-tune") for n in ("held_out",)}
    return {
        "bench": "tune_gcompris",
        "photos": len(captions),
        "held_out_photos": len(held),
        "unrelated_photos": len(samples),
        "tune_exit": tuned.returncode,
        "tune_seconds_wall": round(seconds, 1),
        "tune": report,
        "held_out_before": before["held_out"],
        "held_out_after": after["held_out"],
        "held_out_no_tune": untuned["held_out"],
        "unrelated_before": before["unrelated"],
        "unrelated_after": after["unrelated"],
        "delta_held_out_r1": round(
            after["held_out"]["recall@1"] - before["held_out"]["recall@1"], 4
        ),
        "delta_unrelated_r1": round(
            after["unrelated"]["recall@1"] - before["unrelated"]["recall@1"], 4
        ),
        "torch_threads": 1,
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xmodal-tune-bench")
    print(json.dumps(main(folder)))
