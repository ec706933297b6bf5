"""Measure retrieval on an index: queries with the files each should find (PAIRS) → metrics.

PAIRS is JSONL, one query a line: `{"query": "a cat", "paths": ["cat.jpg"], "type": "image"}`
(a single `"path"` is accepted, `type` is optional), or CSV with a header `query,path[,type]`
and one row per relevant file (rows with the same query and type make one query). Relative
paths are relative to the PAIRS file's folder.

Every query is ranked by the search it is given, `limit` files deep, restricted to its type
when it has one. With R the query's relevant files that are in the index and rank(f) the
1-based rank of file f (∞ past `limit`):

- recall@K: 1 if any file of R ranks ≤ K, else 0 (the "R@K" of cross-modal retrieval, as
  on Flickr30k/COCO; with several relevant files it is a hit rate, not |found|/|R|);
- MRR: 1 / the rank of the first file of R (0 if none is ranked);
- mAP: average precision, the mean over f in R of precision at rank(f) (0 for unranked f);
- nDCG@10: binary gains, Σ 1/log2(rank+1) over R in the top 10, over its ideal value.

Each is averaged over queries, per type (queries without one are `any`: all types ranked
together) and for `all`, with a 95% percentile bootstrap interval over queries (seeded, so
the same input gives the same figures). Paths not in the index are reported and left out;
a query left with no relevant file is not scored (and counted).

Leaks: a query that is written down in a relevant file's own searchable words measures a
lookup, not retrieval. Before scoring, a relevant file found by words the index took from
the user — a text file's passage with its file name, a recording's file name, folder name
and tags — that contain the query (whole words, in order; case, spacing and punctuation
ignored) is held out: the query is ranked again without that file, and the file no longer
counts as relevant for it. Search can leave out whole files, not single passages, so a
long note is held out whole. Words a model made from pixels or sound (the `lite` image
captions, transcripts) are the retrieval being measured and are not treated as leaks.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xmodal_cli.errors import UsageError
from xmodal_cli.media.audio import read_tags
from xmodal_cli.media.text import title_words
from xmodal_cli.recordings import DESCRIPTION
from xmodal_cli.search import MODALITIES, Filters, Result

METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "map", "ndcg@10")
ALL = "all"
ANY = "any"  # queries without a type: every type ranked together
DEPTH = 100
RESAMPLES = 1000
SEED = 0
_JSONL_HINT = 'each line is {"query": "...", "paths": ["..."], "type": "image"} (type optional)'
_CSV_HINT = "the first row names the columns: query,path[,type]"


@dataclass(frozen=True)
class Pair:
    """One query and the absolute paths of the files it should find."""

    query: str
    paths: tuple[str, ...]
    type: str | None = None


class SearchFn(Protocol):
    def __call__(self, query: str, *, limit: int, filters: Filters | None) -> list[Result]: ...


def read_pairs(path: Path) -> list[Pair]:
    """Queries and relevant paths from a JSONL or CSV file (format by extension, else content)."""
    path = path.expanduser()
    if not path.is_file():
        raise UsageError(f"PAIRS file not found: {path}", "give a .jsonl or .csv file of queries")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", _JSONL_HINT) from None
    base = path.absolute().parent
    is_csv = path.suffix.lower() == ".csv" or (
        path.suffix.lower() not in (".jsonl", ".json", ".ndjson")
        and not text.lstrip().startswith("{")
    )
    pairs = _csv_pairs(text, path, base) if is_csv else _jsonl_pairs(text, path, base)
    if not pairs:
        raise UsageError(f"no queries in {path}", _CSV_HINT if is_csv else _JSONL_HINT)
    return pairs


def _jsonl_pairs(text: str, path: Path, base: Path) -> list[Pair]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc.msg})", _JSONL_HINT) from None
        if not isinstance(row, dict):
            raise UsageError(f"{path}:{number}: not a JSON object", _JSONL_HINT)
        paths = row.get("paths", [row["path"]] if "path" in row else None)
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise UsageError(f'{path}:{number}: no "paths" list (or "path")', _JSONL_HINT)
        where = f"{path}:{number}"
        pairs.append(
            Pair(
                _query(row.get("query"), where, _JSONL_HINT),
                tuple(_resolve(p, base) for p in paths),
                _type(row.get("type"), where, _JSONL_HINT),
            )
        )
    return pairs


def _csv_pairs(text: str, path: Path, base: Path) -> list[Pair]:
    reader = csv.DictReader(text.splitlines())
    columns = {c.strip().lower() for c in reader.fieldnames or ()}
    if not {"query", "path"} <= columns:
        raise UsageError(f"{path}: no query and path columns", _CSV_HINT)
    grouped: dict[tuple[str, str | None], list[str]] = {}
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        where = f"{path}:{number}"
        query = _query(row.get("query"), where, _CSV_HINT)
        if not row.get("path"):
            raise UsageError(f"{where}: empty path", _CSV_HINT)
        key = (query, _type(row.get("type") or None, where, _CSV_HINT))
        grouped.setdefault(key, []).append(_resolve(row["path"], base))
    return [Pair(query, tuple(paths), kind) for (query, kind), paths in grouped.items()]


def _query(value: object, where: str, hint: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: no query", hint)
    return value.strip()


def _type(value: object, where: str, hint: str) -> str | None:
    if value is None:
        return None
    if value not in MODALITIES:
        raise UsageError(f"{where}: unknown type {value!r}", f"use one of {', '.join(MODALITIES)}")
    return str(value)


def _resolve(path: str, base: Path) -> str:
    return os.path.abspath(os.path.join(base, os.path.expanduser(path)))


def query_metrics(ranks: Iterable[int], relevant: int) -> dict[str, float]:
    """The metrics of one query from the ranks (1-based) of its relevant files that were found."""
    found = sorted(ranks)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(relevant, 10) + 1))
    return {
        "recall@1": float(bool(found) and found[0] <= 1),
        "recall@5": float(bool(found) and found[0] <= 5),
        "recall@10": float(bool(found) and found[0] <= 10),
        "mrr": 1 / found[0] if found else 0.0,
        "map": sum((i + 1) / r for i, r in enumerate(found)) / relevant,
        "ndcg@10": sum(1 / math.log2(r + 1) for r in found if r <= 10) / ideal,
    }


def bootstrap(values: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """95% percentile intervals (2, metrics) of the column means of (queries, metrics)."""
    n = len(values)
    if n < 2:
        return np.stack([values.mean(axis=0)] * 2) if n else np.zeros((2, values.shape[1]))
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, 100):  # blocks bound memory on big query sets
        picks = rng.integers(0, n, size=(min(100, resamples - start), n))
        means.append(values[picks].mean(axis=1))
    return np.asarray(np.percentile(np.concatenate(means), [2.5, 97.5], axis=0))


@dataclass
class Evaluation:
    """Per-query scores by group, and what was left out and why."""

    scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)  # in PAIRS, per group
    missing: dict[str, list[str]] = field(default_factory=dict)  # per group, paths not indexed
    mistyped: dict[str, list[str]] = field(default_factory=dict)  # indexed as another type
    unscored: dict[str, int] = field(default_factory=dict)  # queries with no relevant file left
    held_out: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (query, path)
    resamples: int = RESAMPLES
    seed: int = SEED

    def as_dict(self) -> dict[str, Any]:
        """One object per group and `all`: n, the metrics, their `ci95`, and the left-outs."""
        groups = sorted(self.queries)
        out = {group: self._summary([group]) for group in groups}
        out[ALL] = self._summary(groups)
        return out

    def _summary(self, groups: list[str]) -> dict[str, Any]:
        rows = [row for g in groups for row in self.scores.get(g, [])]
        values = np.array([[row[m] for m in METRICS] for row in rows], dtype=np.float64)
        values = values.reshape(len(rows), len(METRICS))
        means = values.mean(axis=0) if rows else np.zeros(len(METRICS))
        low, high = bootstrap(values, resamples=self.resamples, seed=self.seed)
        return {
            "n": len(rows),
            **{m: round(float(v), 4) for m, v in zip(METRICS, means, strict=True)},
            "ci95": {
                m: [round(float(lo), 4), round(float(hi), 4)]
                for m, lo, hi in zip(METRICS, low, high, strict=True)
            },
            "queries": sum(self.queries[g] for g in groups),
            "unscored": sum(self.unscored.get(g, 0) for g in groups),
            "missing_paths": len({p for g in groups for p in self.missing.get(g, [])}),
            "mistyped_paths": len({p for g in groups for p in self.mistyped.get(g, [])}),
            "held_out": sum(len(self.held_out.get(g, [])) for g in groups),
        }

    def notes(self, shown: int = 3) -> list[str]:
        """One line per kind of left-out, with the first few examples."""
        missing = list(dict.fromkeys(p for paths in self.missing.values() for p in paths))
        mistyped = list(dict.fromkeys(p for paths in self.mistyped.values() for p in paths))
        held = [
            f"{q!r} in {os.path.basename(p)}" for pairs in self.held_out.values() for q, p in pairs
        ]
        unscored = sum(self.unscored.values())
        lines = [
            _listed(missing, "{} in PAIRS {} not in the index and left out", shown),
            _listed(
                mistyped, "{} in PAIRS {} indexed as another type than the query's, left out", shown
            ),
            _listed(held, "held out {} whose own words contain the query", shown, "relevant file"),
            f"{_count(unscored, 'query')} not scored: none of their files is left to find"
            if unscored
            else "",
        ]
        return [line for line in lines if line]


def _listed(items: list[str], template: str, shown: int, noun: str = "path") -> str:
    """'3 paths in PAIRS are …: a, b, c, …' (empty when there is nothing to say)."""
    if not items:
        return ""
    verb = "is" if len(items) == 1 else "are"
    head = template.format(_count(len(items), noun), verb)
    return f"{head}: " + ", ".join(items[:shown]) + (", …" if len(items) > shown else "")


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def evaluate(
    pairs: list[Pair],
    *,
    search: SearchFn,
    indexed: Callable[[str], str | None],
    limit: int = DEPTH,
    default_type: str | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Evaluation:
    """Rank every query with `search` (one process) and score it against its indexed files;
    `indexed` gives an indexed file's type (None when it is not indexed)."""
    result = Evaluation(resamples=resamples, seed=seed)
    known: dict[str, str | None] = {}
    for pair in pairs:
        kind = pair.type or default_type
        group = kind or ANY
        result.queries[group] = result.queries.get(group, 0) + 1
        relevant = set()
        for path in pair.paths:
            if path not in known:
                known[path] = indexed(path)
            if known[path] is None:
                result.missing.setdefault(group, []).append(path)
            elif kind and known[path] != kind:  # a PAIRS mistake: its search never sees it
                result.mistyped.setdefault(group, []).append(path)
            else:
                relevant.add(path)
        ranks, held = _rank(pair.query, relevant, search, limit, kind) if relevant else ([], [])
        result.held_out.setdefault(group, []).extend((pair.query, p) for p in held)
        left = len(relevant) - len(held)
        if left:
            result.scores.setdefault(group, []).append(query_metrics(ranks, left))
        else:
            result.unscored[group] = result.unscored.get(group, 0) + 1
    return result


def _rank(
    query: str, relevant: set[str], search: SearchFn, limit: int, kind: str | None
) -> tuple[list[int], list[str]]:
    """Ranks of the relevant files found, and the relevant files held out as leaks."""
    held: list[str] = []
    types = frozenset({kind}) if kind else frozenset()
    while True:
        filters = Filters(types=types, exclude_paths=frozenset(held))
        hits = search(query, limit=limit, filters=filters)
        leaks = [h.path for h in hits if h.path in relevant and leaks_query(h, query)]
        if not leaks:
            return [h.rank for h in hits if h.path in relevant], held
        held += leaks
        relevant = relevant - set(leaks)
        if not relevant:
            return [], held


def leaks_query(hit: Result, query: str) -> bool:
    """Whether the words the index took from the file itself, as they matched, hold the query."""
    if hit.type == "image":
        return False  # its searchable words were made by a model from the pixels
    own = [title_words(hit.path)]
    if hit.type == "text":
        own.append(hit.snippet)
    elif hit.position == DESCRIPTION:  # a recording's description: names and tags
        own.append(title_words(os.path.dirname(hit.path)))
        own += read_tags(hit.path).values()
    words = _words(query)
    return bool(words) and words in _words(" ".join(own))


def _words(text: str) -> str:
    """Lower-case words between single spaces, padded so `in` matches whole words only."""
    joined = " ".join(re.split(r"[\W_]+", text.casefold())).strip()
    return f" {joined} " if joined else ""
