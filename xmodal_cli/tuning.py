"""`xmodal tune`: learn query adapters (adapter.py) from the user's own pairs.

For each (space, type) that the pairs' files call for: the stored item vectors of that type
are the candidates, each pair's query is encoded (with word-dropped views for training),
the pairs are split into train and held-out parts, seeded, and training.train_map fits
residual low-rank maps from five seeds (averaged: bagging steadies a map learnt from a few
hundred captions), each stopping early on the held-out MRR (smoother than Recall@1 on a
few dozen captions), while holding half the generic searches (below) in place: a KL term
keeps what they find (training.py's anchors), so the map learns to bend the user's words
and not the everyday ones next to them, and the gate can open lower. The split is by
caption by default: the held-out part is captions of files that keep another caption in training
(one text stays on one side), so it asks what a user asks: new words for photos they
described; where no file has two captions it falls back to the file split. Or by file
(`split="file"`: the held-out part asks only for photos the adapter was never shown — the
stricter test, which lite's ConSE vectors do not pass: a map on the query side cannot
teach them what an unseen photo shows).

The map is then gated (adapter.py): it applies only to queries nearer the training
captions than any everyday thing (the Unicode names of emoji, `everyday_names`), from the
lowest margin `gate` at which at most `generic_change` of generic searches (the 1,000
ImageNet class names, a vocabulary of everyday things apart from the emoji names; with
anchors, the 500 that were not anchors) get another first result than without the adapter.
A map is kept only when, gated, it beats no adapter on the held-out part.

No leaks: an item whose own words (a note's passage with its name, a recording's
description made from its tags and names) contain a pair's query would be found by
lookup, so it is dropped from the candidates, as `xmodal eval` holds such files out (see
evaluation.leaks_query); photos' words are made by a model from the pixels and stay.
Files of other types never compete (a sidecar `photo.txt` is a text file; an image
caption's pair ranks images only).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.adapter import QueryMap
from xmodal_cli.evaluation import Pair, leaks_query
from xmodal_cli.models import Profile
from xmodal_cli.search import Result
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import ItemRow
from xmodal_cli.training import (
    TrainData,
    TrainOptions,
    TrainResult,
    recall,
    split_rows,
    train_map,
)

Progress = Callable[[str, int, int, dict[str, float]], None]  # (space/type, epoch, of, figures)
Vocabulary = tuple[np.ndarray, np.ndarray | None]  # generic searches, everyday names


@dataclass(frozen=True)
class TuneOptions:
    """What `xmodal tune` trains with."""

    held_out: float = 0.2  # share of captions (or of files) whose pairs are held out
    split: str = "caption"  # or "file": what stays on one side of the held-out split
    rank: int = 64  # chosen on a tuning split of gcompris captions (bench/tune_gcompris.py)
    epochs: int = 80
    views: int = 2  # word-dropped variants of each training query
    drop: float = 0.25  # chance of dropping each word in a variant
    min_pairs: int = 10  # per (space, type), before the split
    pool: int = 50_000  # candidate items per (space, type): all relevant ones + a sample
    seed: int = 0
    generic_change: float = 0.02  # most share of generic searches whose first file may change
    keys: int = 4096  # most training captions kept for the gate (an even sample beyond)
    # Keeps what half the generic searches find while training (training.ANCHOR_TAU); 0.3
    # chosen among 0.1, 0.3, 1, 3, 10 on dev phrasings carved out of the bench's PAIRS
    anchor_weight: float = 0.3
    key_views: bool = False  # the gate's keys include the word-dropped views
    # The gate weighs nearness to the captions against nearness to everyday names (+0.045
    # dev R@1 over the captions alone, generic and unrelated searches kept); False: alone
    everyday: bool = True
    stop_on_mrr: bool = True  # early stopping watches held-out MRR (smoother than R@1)
    # Maps trained from this many seeds, averaged (bagging: steadier on a few hundred
    # captions); 5 chosen among 1, 3, 5 on the dev phrasings (+0.02 R@1, +0.04 R@5 over 1).
    # Each costs a training, so above `members_up_to` candidate items there are fewer
    # (one at 5× that): a tune of a large collection costs about what one map did.
    members: int = 5
    members_up_to: int = 10_000


@dataclass
class Outcome:
    """One (space, type): how many pairs, held-out figures before → after, kept or not."""

    space: str
    type: str
    pairs: int = 0
    train: int = 0
    held_out: int = 0
    leaks: int = 0  # items held out because their own words contain a query
    candidates: int = 0
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    best_epoch: int = 0
    split: str = ""  # how the held-out part was made: "caption" or "file"
    gate: float | None = None  # adapter.py's gate; None: no gate keeps generic searches
    generic_changed: float = 0.0  # share of generic searches whose first file it changes
    members: int = 0  # maps trained and averaged
    seconds: float = 0.0
    kept: bool = False
    reason: str = ""
    map: QueryMap | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "type": self.type,
            "pairs": self.pairs,
            "train": self.train,
            "held_out": self.held_out,
            "leaks_held_out": self.leaks,
            "candidates": self.candidates,
            "before": self.before,
            "after": self.after,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "split": self.split,
            "gate": self.gate,
            "generic_changed": round(self.generic_changed, 4),
            "members": self.members,
            "seconds": round(self.seconds, 2),
            "kept": self.kept,
            "reason": self.reason,
        }


@dataclass
class TuneReport:
    """Every (space, type) tried, the paths that are not in the index, and the time."""

    outcomes: list[Outcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pairs: int = 0
    seconds: float = 0.0

    @property
    def kept(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kept]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "missing_paths": len(self.missing),
            "seconds": round(self.seconds, 2),
            "adapters": [o.as_dict() for o in self.outcomes],
            "kept": len(self.kept),
        }


def tune(
    pairs: list[Pair],
    *,
    catalog: Catalog,
    profile: Profile,
    options: TuneOptions | None = None,
    progress: Progress | None = None,
) -> TuneReport:
    """Train one map per (space, type) the pairs call for; keep those that beat none."""
    options = options or TuneOptions()
    started = time.perf_counter()
    report = TuneReport(pairs=len(pairs))
    grouped: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for pair in pairs:
        by_type: dict[str, list[int]] = {}
        for path in pair.paths:
            row = catalog.file_by_path(path)
            if row is None:
                report.missing.append(path)
            elif pair.type in (None, row.modality):
                by_type.setdefault(row.modality, []).append(row.id)
        for modality, ids in by_type.items():
            grouped.setdefault(modality, []).append((pair.query, tuple(ids)))
    vocabulary: dict[str, Vocabulary] = {}  # per space: encoded once for every type
    for modality, typed in sorted(grouped.items()):
        for space in profile.query_spaces(modality):
            outcome = Outcome(space, modality, pairs=len(typed))
            _fit(outcome, typed, catalog, profile, options, progress, vocabulary)
            report.outcomes.append(outcome)
    report.seconds = time.perf_counter() - started
    return report


def _fit(
    outcome: Outcome,
    pairs: list[tuple[str, tuple[int, ...]]],
    catalog: Catalog,
    profile: Profile,
    options: TuneOptions,
    progress: Progress | None,
    vocabulary: dict[str, Vocabulary],
) -> None:
    started = time.perf_counter()
    space, dim = outcome.space, profile.spaces[outcome.space]
    rows, vectors = _candidates(catalog, space, dim, outcome.type, pairs, options)
    asked: dict[int, list[str]] = {}  # file id -> the queries that ask for it
    for query, ids in pairs:
        for file_id in ids:
            asked.setdefault(file_id, []).append(query)
    leaky = {
        i for i, row in enumerate(rows) if any(_leaks(row, q) for q in asked.get(row.file_id, ()))
    }
    outcome.leaks = len(leaky)
    keep = np.array([i not in leaky for i in range(len(rows))], dtype=bool)
    rows = [row for row, k in zip(rows, keep, strict=True) if k]
    vectors = vectors[keep]
    outcome.candidates = len(rows)
    file_of = np.array([row.file_id for row in rows], dtype=np.int64)
    files, owners = np.unique(file_of, return_inverse=True)
    usable = [(q, np.flatnonzero(np.isin(file_of, ids))) for q, ids in pairs]
    usable = [(q, found) for q, found in usable if len(found)]
    if len(usable) < options.min_pairs:
        outcome.reason = f"{len(usable)} usable pairs; at least {options.min_pairs} are needed"
        return
    queries = [q for q, _ in usable]
    encode = _encoder(profile, space)
    files_of = [np.unique(owners[found]) for _, found in usable]
    split = (
        caption_split(queries, files_of, options.held_out, options.seed)
        if options.split == "caption"
        else None
    )
    outcome.split = "caption" if split is not None else "file"
    if split is None:  # a file's pairs together
        groups = np.array([int(f.min()) for f in files_of])
        split = split_rows(len(usable), options.held_out, options.seed, groups)
    train_rows, held_rows = split
    data = TrainData(
        np.stack([encode(q) for q in queries]),
        [found for _, found in usable],
        [np.zeros((0, dim), np.float32)] * len(usable),
    )
    assert data.views is not None
    rng = np.random.default_rng(options.seed)
    for i in train_rows:  # only training queries get augmented views
        variants = {_drop_words(queries[i], options.drop, rng) for _ in range(options.views)}
        variants.discard(queries[i])
        if variants:
            data.views[i] = np.stack([encode(v) for v in sorted(variants)])
    outcome.train, outcome.held_out = len(train_rows), len(held_rows)
    if space not in vocabulary:
        vocabulary[space] = _vocabulary(encode, options)
    generic, everyday = vocabulary[space]
    anchors = None
    if options.anchor_weight:  # the generic searches held in place are not those judged
        anchors, generic = generic[0::2], generic[1::2]
    outcome.members = max(
        1, min(options.members, options.members * options.members_up_to // len(vectors))
    )
    results = [
        train_map(
            data.subset(train_rows),
            data.subset(held_rows),
            vectors,
            TrainOptions(
                rank=options.rank,
                epochs=options.epochs,
                seed=options.seed + member,
                anchor_weight=options.anchor_weight,
                stop_on_mrr=options.stop_on_mrr,
            ),
            owners=owners,
            anchors=anchors,
            progress=_member_progress(progress, f"{space}/{outcome.type}", member, outcome),
        )
        for member in range(outcome.members)
    ]
    result = results[0]  # every member starts at the identity: the same `before`
    outcome.epochs = max(r.epochs for r in results)
    outcome.best_epoch = round(float(np.mean([r.best_epoch for r in results])))
    keyed = [data.queries[train_rows]]
    if options.key_views:
        keyed += [data.views[i] for i in train_rows if len(data.views[i])]
    keys = np.concatenate(keyed)
    keys = keys[:: max(1, -(-len(keys) // options.keys))]
    found = _averaged(results, profile.model_ids[space])
    found.keys = keys
    found.away = everyday
    outcome.gate, outcome.generic_changed = choose_gate(
        found, generic, vectors, owners, options.generic_change
    )
    held = data.subset(held_rows)
    outcome.before = result.before
    if outcome.gate is None:
        ungated = QueryMap(found.down, found.up, found.model_id)
        outcome.after = recall(ungated.apply_all(held.queries), vectors, held.positives, owners)
        outcome.reason = (
            f"at any gate it changes the first result of more than "
            f"{options.generic_change:.0%} of generic searches"
        )
    else:
        found.gate = outcome.gate
        mapped = found.apply_all(held.queries)
        outcome.after = recall(mapped, vectors, held.positives, owners, (1, 5))
        after, before = outcome.after, outcome.before
        outcome.kept = after["recall@1"] > before["recall@1"] and (
            after["recall@5"] >= before["recall@5"]
        )
        if not outcome.kept:
            outcome.reason = "it does not beat no adapter on the held-out pairs"
    outcome.seconds = time.perf_counter() - started
    found.figures = {
        "pairs": outcome.pairs,
        "held_out": outcome.held_out,
        "split": outcome.split,
        "before": outcome.before,
        "after": outcome.after,
        "files": len(files),
        "generic_changed": outcome.generic_changed,
    }
    outcome.map = found


def caption_split(
    queries: list[str], files_of: list[np.ndarray], share: float, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows (train, held-out): about `share` of the distinct captions held out, each only
    if every file it names keeps another caption in training; None if none can be."""
    texts, row_text = np.unique(np.array(queries, dtype=object), return_inverse=True)
    named: list[set[int]] = [set() for _ in texts]
    for row, files in zip(row_text, files_of, strict=True):
        named[row].update(files.tolist())
    left = Counter(f for files in named for f in files)
    held: list[int] = []
    for text in np.random.default_rng(seed).permutation(len(texts)).tolist():
        if len(held) >= max(1, round(len(texts) * share)):
            break
        if all(left[f] > 1 for f in named[text]):
            held.append(text)
            left.subtract(named[text])
    if not held:
        return None
    chosen = np.isin(row_text, held)
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)


def _vocabulary(encode: Callable[[str], np.ndarray], options: TuneOptions) -> Vocabulary:
    """The generic searches and (if the gate weighs them) the everyday names, encoded as
    queries in one space."""
    generic = np.stack([encode(q) for q in generic_queries()])
    everyday = np.stack([encode(n) for n in everyday_names()]) if options.everyday else None
    return generic, everyday


def generic_queries() -> list[str]:
    """Everyday words no user's captions are needed for: the ImageNet class names."""
    from xmodal_cli.models.efficientnet import labels

    return [label.split(",")[0].strip() for label in labels()]


def everyday_names() -> list[str]:
    """Everyday things, places, food, weather and symbols by the Unicode names of emoji and
    pictographs (Python's own Unicode tables: nothing to download): what a query must be
    nearer the user's captions than, for the adapter to bend it. Arrows are left out."""
    import unicodedata

    points = [*range(0x1F300, 0x1FAFF), *range(0x2600, 0x2700)]
    names = (unicodedata.name(chr(point), "") for point in points)
    return [name.lower() for name in names if name and "ARROW" not in name]


def choose_gate(
    found: QueryMap, generic: np.ndarray, vectors: np.ndarray, owners: np.ndarray, most: float
) -> tuple[float | None, float]:
    """The lowest gate (steps of 0.05 up to 0.90, from 0.20 for a cosine, from −0.50 for a
    margin over everyday names) at which at most `most` of the `generic` queries get another
    first file through the map than without it; with that share."""
    best = found.nearness(generic)
    first = owners[np.argmax(generic @ vectors.T, axis=1)]
    lowest = 0.2 if found.away is None else -0.5
    for gate in np.round(np.arange(lowest, 0.901, 0.05), 2):
        touched = np.flatnonzero(best > gate)  # the others are not mapped at all
        found.gate = float(gate)
        mapped = found.apply_all(generic[touched]) if len(touched) else generic[:0]
        changed = int((owners[np.argmax(mapped @ vectors.T, axis=1)] != first[touched]).sum())
        if changed <= most * len(generic):
            return float(gate), changed / len(generic)
    return None, 1.0


def _averaged(results: list[TrainResult], model_id: str) -> QueryMap:
    """One residual map whose update is the mean of the members' updates: their low-rank
    factors side by side (rank = members × rank), so the adapter file keeps its form."""
    down = np.concatenate([r.weights["down"] for r in results])
    up = np.concatenate([r.weights["up"] for r in results], axis=1) / len(results)
    return QueryMap(down.astype(np.float32), up.astype(np.float32), model_id)


def _member_progress(
    progress: Progress | None, label: str, member: int, outcome: Outcome
) -> Callable[[int, int, dict[str, float]], None] | None:
    """Progress of one member's training, labelled with which of how many it is."""
    if progress is None:
        return None
    if outcome.members > 1:
        label = f"{label} {member + 1}/{outcome.members}"
    return lambda epoch, epochs, figures: progress(label, epoch, epochs, figures)


def _candidates(
    catalog: Catalog,
    space: str,
    dim: int,
    modality: str,
    pairs: list[tuple[str, tuple[int, ...]]],
    options: TuneOptions,
) -> tuple[list[ItemRow], np.ndarray]:
    """Items of `modality` in `space`: all of them up to `pool`, else the relevant files'
    items plus an even sample of the rest (rank figures then describe that sample)."""
    ids = catalog.matching_items(space, modality, (), 1 << 62)
    assert ids is not None
    items = catalog.items_by_id(ids.tolist())
    if len(ids) > options.pool:
        relevant = {f for _, found in pairs for f in found}
        mine = [i for i in ids.tolist() if items[i].file_id in relevant]
        rest = np.setdiff1d(ids, mine)
        step = max(1, len(rest) // max(1, options.pool - len(mine)))
        ids = np.sort(np.concatenate([np.asarray(mine, np.int64), rest[::step]]))
    found, vectors = catalog.vectors_by_id(space, ids.tolist(), dim)
    return [items[int(i)] for i in found], np.ascontiguousarray(vectors, dtype=np.float32)


def _leaks(row: ItemRow, query: str) -> bool:
    hit = Result(0, 0.0, row.modality, row.path, row.snippet or "", row.space, row.position)
    return leaks_query(hit, query)


def _encoder(profile: Profile, space: str) -> Callable[[str], np.ndarray]:
    wanted = frozenset({space})
    return lambda text: np.asarray(profile.encode_query(text, wanted)[space], dtype=np.float32)


def _drop_words(text: str, chance: float, rng: np.random.Generator) -> str:
    """The caption with some words left out (at least one kept): how a short query reads."""
    words = text.split()
    kept = [w for w in words if rng.random() >= chance] or [words[int(rng.integers(len(words)))]]
    return " ".join(kept)
