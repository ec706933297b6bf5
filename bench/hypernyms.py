"""WordNet 3.0 from Debian's `wordnet-base` (pinned): ImageNet classes → their hypernyms.

The 1,000 ImageNet classes are WordNet noun synsets, in the order of their ids (n + the
8-digit offset in data.noun). The labels xmodal ships carry each synset's lemmas, so every
label is matched to the synset with the same lemmas, the offsets rising with the class
index (that settles the few labels several synsets share). Writes
xmodal_cli/models/data/imagenet_hypernyms.txt: one line per class, in class order, the
first names of its ancestors from the nearest up, `|`-separated. Kept are the ancestors
that are everyday words, chosen by two rules fixed before any measurement: the synset sits
above at most MAX_COVER of the 1,000 classes (drops entity, object, whole, artifact,
organism…), and its first lemma has at least one sense-tagged use in WordNet's own
SemCor counts (index.noun's tagsense_cnt; drops chordate, placental, diapsid, canine…).

    python -m bench.hypernyms [WORKDIR]    # apt-get download + dpkg -x into WORKDIR if needed;
                                           # rewrites the data file; prints one JSON line

The same reader gives the English sentences bench/multilingual_map.py learns its map from.
"""

from __future__ import annotations

import glob
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "wordnet-base=1:3.0-37"
DEB_SHA256 = "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752"
DATA_NOUN = "usr/share/wordnet/data.noun"
DATA = Path(__file__).parent.parent / "xmodal_cli/models/data"
OUTPUT = DATA / "imagenet_hypernyms.txt"
INDEX_NOUN = "usr/share/wordnet/index.noun"
MAX_COVER = 400


@dataclass(frozen=True)
class Synset:
    offset: int
    words: tuple[str, ...]  # lemmas, underscores as spaces, in WordNet's order
    parents: tuple[int, ...]  # hypernyms (@) and instance hypernyms (@i)
    gloss: str


def unpack(work: Path) -> Path:
    """The folder `wordnet-base` is unpacked in, downloading (pinned, hash checked) if needed."""
    root = work / "wn"
    if (root / DATA_NOUN).is_file():
        return root
    work.mkdir(parents=True, exist_ok=True)
    debs = glob.glob(str(work / "wordnet-base_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=work, check=True)
        debs = glob.glob(str(work / "wordnet-base_*.deb"))
    digest = hashlib.sha256(Path(debs[0]).read_bytes()).hexdigest()
    if digest != DEB_SHA256:
        raise SystemExit(f"{debs[0]}: sha256 {digest}, expected {DEB_SHA256}")
    subprocess.run(["dpkg", "-x", debs[0], str(root)], check=True)
    return root


def read_nouns(root: Path) -> dict[int, Synset]:
    """Every noun synset of data.noun (format: wndb(5WN))."""
    out = {}
    for line in (root / DATA_NOUN).read_text("utf-8", errors="replace").splitlines():
        if line.startswith("  "):
            continue  # the licence header
        head, _, gloss = line.partition(" | ")
        parts = head.split()
        count = int(parts[3], 16)
        words = tuple(parts[4 + 2 * i].replace("_", " ") for i in range(count))
        at = 4 + 2 * count
        pointers = int(parts[at])
        parents = tuple(
            int(parts[at + 1 + 4 * i + 1])
            for i in range(pointers)
            if parts[at + 1 + 4 * i] in ("@", "@i")
        )
        offset = int(parts[0])
        out[offset] = Synset(offset, words, parents, gloss.strip())
    return out


def _key(words: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(w.lower().replace("'", "").replace("-", " ").strip() for w in words)


def match_labels(labels: list[str], nouns: dict[int, Synset]) -> list[int]:
    """The synset offset of each label: same lemma set, offsets rising with the class index."""
    by_words: dict[tuple[str, ...], list[int]] = {}
    by_first: dict[str, list[int]] = {}
    for synset in nouns.values():
        by_words.setdefault(tuple(sorted(_key(synset.words))), []).append(synset.offset)
        for word in _key(synset.words):
            by_first.setdefault(word, []).append(synset.offset)
    out, last = [], -1
    for label in labels:
        names = _key([n for n in label.split(",") if n.strip()])
        exact = by_words.get(tuple(sorted(names)), [])
        # labels edited by hand (a name added or dropped): any synset holding the first name
        candidates = sorted(o for o in (exact or by_first.get(names[0], [])) if o > last)
        if not candidates:
            raise SystemExit(f"no WordNet synset after {last} for {label!r}")
        last = candidates[0]
        out.append(last)
    return out


def ancestors(offset: int, nouns: dict[int, Synset]) -> list[int]:
    """Every hypernym of a synset, nearest first (breadth-first), each once."""
    seen: list[int] = []
    frontier = list(nouns[offset].parents)
    while frontier:
        following: list[int] = []
        for parent in frontier:
            if parent not in seen:
                seen.append(parent)
                following.extend(nouns[parent].parents)
        frontier = following
    return seen


def tagged_words(root: Path) -> set[str]:
    """Nouns with at least one sense-tagged use (tagsense_cnt > 0 in index.noun)."""
    out = set()
    for line in (root / INDEX_NOUN).read_text("utf-8").splitlines():
        if line.startswith(" "):
            continue
        parts = line.split()
        synsets = int(parts[2])
        if int(parts[-synsets - 1]) > 0:
            out.add(parts[0].replace("_", " "))
    return out


def hypernym_words(
    offsets: list[int], nouns: dict[int, Synset], tagged: set[str]
) -> list[list[str]]:
    """Per class, the first names of its kept ancestors, nearest first, without repeats."""
    chains = [ancestors(offset, nouns) for offset in offsets]
    cover: dict[int, int] = {}
    for chain in chains:
        for parent in chain:
            cover[parent] = cover.get(parent, 0) + 1
    out = []
    for offset, chain in zip(offsets, chains, strict=True):
        own = {w.lower() for w in nouns[offset].words}
        words: list[str] = []
        for parent in chain:
            name = nouns[parent].words[0]
            everyday = cover[parent] <= MAX_COVER and name.lower() in tagged
            if everyday and name.lower() not in own and name not in words:
                words.append(name)
        out.append(words)
    return out


def main(work: Path) -> dict[str, object]:
    root = unpack(work)
    nouns = read_nouns(root)
    labels = (DATA / "imagenet_labels.txt").read_text("utf-8").splitlines()
    offsets = match_labels(labels, nouns)
    lines = ["|".join(words) for words in hypernym_words(offsets, nouns, tagged_words(root))]
    OUTPUT.write_text("\n".join(lines) + "\n", "utf-8")
    kept = [line.split("|") for line in lines if line]
    return {
        "bench": "hypernyms",
        "package": PACKAGE,
        "classes": len(offsets),
        "classes_with_words": len(kept),
        "distinct_words": len({w for words in kept for w in words}),
        "words_per_class": round(sum(map(len, kept)) / max(len(lines), 1), 2),
        "output": str(OUTPUT.relative_to(DATA.parent.parent.parent)),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xmodal-wordnet"))))
