"""Groups of duplicate files, each with a suggested keeper and why. Nothing is deleted here.

Exact: the catalog's content hash samples only the head, middle and tail of a file, so equal
(hash, size) only proposes candidates; a SHA-256 of each whole candidate confirms them.
Near: each file's vector where like meets like (visual space for photos, acoustic for
sounds, text for documents; the mean of its items for recordings and documents) is matched to
its nearest neighbours by a FAISS index built for this run (exact up to EXACT_UP_TO files,
IVF above: k-NN, never all pairs), and pairs at or above the type's threshold are joined.
Exact copies join the near search through their keeper only, so no file is listed twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal_cli.errors import UsageError
from xmodal_cli.filtering import Facets
from xmodal_cli.models import SPACE_ACOUSTIC
from xmodal_cli.models.sfx import SPACE as SOUND_SPACE
from xmodal_cli.store.facets import clause
from xmodal_cli.store.rows import FileRow
from xmodal_cli.store.vectors import VectorStore

MODALITIES = ("audio", "image", "text", "video")
# Cosine in each type's like-with-like space at which two files count as the same content;
# chosen on planted copies and different-but-similar real photos (bench/dupes_precision.py).
THRESHOLDS = {"image": 0.85, "audio": 0.98, "text": 0.90, "video": 0.85}
# A video's vector is the mean of its chosen frames, held to the photos' threshold: a copy
# re-encoded at a quarter of the pixels scored 0.875, the same film in VP9 0.98. Black,
# blank and blurred frames are never chosen (media/video.py), so two clips that only share
# a fade from black stay apart (0.39 for two of the test slideshows).
NEIGHBOURS = 8  # a file's near copies are among its 8 nearest files
EXACT_UP_TO = 5_000  # files of one type compared exactly (flat); above, IVF candidates
PROJECTED_WIDTH = 64


@dataclass
class Member:
    """One file of a group: its similarity to the keeper and what ranks it as a keeper."""

    path: str
    score: float
    quality: tuple[float, ...]  # bigger is better: pixels; a recording's length and rate
    date: str  # local "YYYY-MM-DD HH:MM:SS": taken, recorded, else modified

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "score": round(self.score, 4)}


@dataclass
class Group:
    """Files with the same content; `files[0]` is the keeper."""

    kind: str  # "exact" | "near"
    type: str
    why: str
    files: list[Member]

    @property
    def keeper(self) -> str:
        return self.files[0].path

    def as_dict(self, *, extras: bool = False) -> dict[str, Any]:
        shown = self.files[1:] if extras else self.files
        return {
            "kind": self.kind,
            "type": self.type,
            "keeper": self.keeper,
            "why": self.why,
            "files": [m.as_dict() for m in shown],
        }


def find_dupes(
    vectors: VectorStore,
    like_spaces: dict[str, str],
    *,
    types: Iterable[str] = (),
    under: tuple[str, ...] = (),
    facets: Facets | None = None,
    threshold: float | None = None,
) -> list[Group]:
    """Exact and near duplicate groups among the indexed files of `types` under `under`."""
    if threshold is not None and not 0 < threshold <= 1:
        raise UsageError(f"--threshold {threshold} is out of range", "give a cosine: 0.9")
    catalog = vectors.catalog
    known = {row.id: row for row in catalog.files().values()}
    groups: list[Group] = []
    for modality in sorted(set(types) or MODALITIES):
        space = like_spaces.get(modality, "")
        # Copies of a recording are judged by its acoustic vector: in lite's `sound` space
        # (aiSFX) distinct loops of one kind sit above the threshold (bench.dupes_precision:
        # audio precision 1.0 -> 0.36).
        space = SPACE_ACOUSTIC if space == SOUND_SPACE else space
        if space not in vectors.spaces:
            continue
        ids = catalog.matching_items(space, modality, under, 2**62, clause(facets))
        if ids is None or not len(ids):
            continue
        items = catalog.items_by_id(ids.tolist())
        info = {row.file_id: row.info for row in items.values()}
        members = {fid: _member(known[fid], info[fid], modality) for fid in info if fid in known}
        exact = _exact_groups([known[fid] for fid in members], members, modality)
        groups += exact
        copies = {m.path for g in exact for m in g.files[1:]}
        files, matrix = _file_vectors(vectors, space, ids, items, copies)
        cut = threshold or THRESHOLDS[modality]
        groups += _near_groups([members[f] for f in files], matrix, cut, modality)
    return groups


def _member(row: FileRow, info: dict[str, Any], modality: str) -> Member:
    if modality == "image":
        quality: tuple[float, ...] = (float(info.get("width", 0)) * float(info.get("height", 0)),)
    elif modality == "video":  # a re-encoded copy is often smaller, or cut shorter
        quality = (
            float(info.get("width", 0)) * float(info.get("height", 0)),
            round(float(info.get("duration", 0.0)), 1),
        )
    elif modality == "audio":  # a trimmed or downsampled copy is shorter or coarser
        quality = (round(float(info.get("duration", 0.0)), 1), float(info.get("sample_rate", 0)))
    else:
        quality = ()
    date = info.get("taken") or info.get("recorded")
    if not isinstance(date, str):
        date = dt.datetime.fromtimestamp(row.mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    return Member(row.path, 1.0, quality, date)


def _exact_groups(rows: list[FileRow], members: dict[int, Member], modality: str) -> list[Group]:
    """Same whole content: candidates by (sampled hash, size), confirmed by SHA-256."""
    candidates: dict[tuple[str, int], list[FileRow]] = defaultdict(list)
    for row in rows:
        candidates[(row.hash, row.size)].append(row)
    groups = []
    for same in candidates.values():
        if len(same) < 2:
            continue
        confirmed: dict[str, list[Member]] = defaultdict(list)
        for row in same:
            digest = _whole_digest(row.path)
            if digest is not None:  # gone or unreadable since indexing: not a copy
                confirmed[digest].append(members[row.id])
        groups += [_group("exact", modality, m) for m in confirmed.values() if len(m) > 1]
    return groups


def _whole_digest(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _file_vectors(
    vectors: VectorStore, space: str, ids: np.ndarray, items: dict[int, Any], skip: set[str]
) -> tuple[list[int], np.ndarray]:
    """One unit vector per file (the mean of its items), leaving out the paths in `skip`."""
    found, matrix = vectors.catalog.vectors_by_id(space, ids.tolist(), vectors.spaces[space])
    owner = [items[int(i)].file_id for i in found]
    files = sorted(
        {f for f, i in zip(owner, found.tolist(), strict=True) if items[i].path not in skip}
    )
    row_of = {f: n for n, f in enumerate(files)}
    sums = np.zeros((len(files), matrix.shape[1] if matrix.ndim == 2 else 0), np.float32)
    for vector, fid in zip(matrix, owner, strict=True):
        if fid in row_of:
            sums[row_of[fid]] += vector
    norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return files, np.ascontiguousarray(sums / norms, dtype=np.float32)


def _near_groups(
    members: list[Member], matrix: np.ndarray, cut: float, modality: str
) -> list[Group]:
    """Join each file with its neighbours at or above `cut` (union-find), keep groups."""
    if len(members) < 2:
        return []
    scores, neighbours = _neighbours(matrix, min(NEIGHBOURS, len(members) - 1) + 1)
    parent = list(range(len(members)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (row_scores, row_ids) in enumerate(zip(scores, neighbours, strict=True)):
        for score, j in zip(row_scores.tolist(), row_ids.tolist(), strict=True):
            if j >= 0 and j != i and score >= cut:
                parent[root(j)] = root(i)
    joined: dict[int, list[int]] = defaultdict(list)
    for i in range(len(members)):
        joined[root(i)].append(i)
    groups = []
    for rows in joined.values():
        if len(rows) > 1:
            group = _group("near", modality, [members[i] for i in rows])
            row_of = {members[i].path: i for i in rows}
            keeper = matrix[row_of[group.keeper]]
            for member in group.files[1:]:
                member.score = float(matrix[row_of[member.path]] @ keeper)
            groups.append(group)
    return groups


def _neighbours(
    matrix: np.ndarray, k: int, exact_up_to: int = EXACT_UP_TO
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, row numbers) of each row's k nearest rows by inner product (-1: none)."""
    import faiss

    count, dim = matrix.shape
    if count <= exact_up_to:
        flat = faiss.IndexFlatIP(dim)
        flat.add(matrix)
        scores, found = flat.search(matrix, k)
        return scores, found
    # Candidates from a coarse index: IVF (4·√n cells, 8 visited) over a 64-d PCA projection,
    # then scored exactly from the full vectors. On 100k × 1280-d vectors with 1,000 planted
    # copies (cosine 0.84-0.99) it found 99.8% of them in ~25 s on 2 cores; IVF over the full
    # width took 207 s.
    width = min(dim, PROJECTED_WIDTH)
    cells = max(1, min(int(4 * math.sqrt(count)), count // 39))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(width), width, cells)
    ivf.cp.niter = 10
    coarse = faiss.IndexPreTransform(faiss.PCAMatrix(dim, width), ivf)
    coarse.train(matrix[np.random.default_rng(0).permutation(count)[: 39 * cells]])
    ivf.nprobe = 8
    coarse.add(matrix)
    _, found = coarse.search(matrix, 2 * k)
    scores = np.full(found.shape, -np.inf, dtype=np.float32)
    for start in range(0, count, 4096):
        rows = slice(start, start + 4096)
        block = matrix[np.maximum(found[rows], 0)]  # (rows, 2k, dim)
        scores[rows] = (block @ matrix[rows][:, :, None])[:, :, 0]
    scores[found < 0] = -np.inf
    order = np.argsort(-scores, axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(found, order, 1)


def _group(kind: str, modality: str, members: list[Member]) -> Group:
    """Keeper first: largest resolution (longest recording), then oldest, then shortest path."""
    ranked = sorted(
        members, key=lambda m: (tuple(-q for q in m.quality), m.date, len(m.path), m.path)
    )
    ranked = [dataclasses.replace(m, score=1.0) for m in ranked]  # a file may be in two
    keeper, runner = ranked[0], ranked[1]
    if keeper.quality > runner.quality:
        why = _largest(keeper, modality)
    elif keeper.date < runner.date:
        why = f"oldest ({keeper.date})"
    elif len(keeper.path) < len(runner.path):
        why = "shortest path"
    else:
        why = "first by name"
    return Group(kind, modality, why, ranked)


def _largest(member: Member, modality: str) -> str:
    if modality == "image":
        return f"largest ({member.quality[0] / 1e6:.2f} MP)"
    if modality == "video":
        return f"largest ({member.quality[0] / 1e6:.2f} MP, {member.quality[1]:g} s)"
    return f"longest ({member.quality[0]:g} s, {member.quality[1]:g} Hz)"
