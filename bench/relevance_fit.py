"""Mixed results without junk: fit `relevance` (relevance.py) and measure it on held-out queries.

The corpus is bench/eval_pairs.py's: 23 real photos, 8 notes and a sound library of 17
recordings (speech, music, noise, tones, drum hits), in one index (the `lite` profile), and
its 63 queries with the files they should find, asked without --type: every type competes.
Queries alternate between a TUNING half (`--fit` fits the logistic DENSE_SLOPE/OFFSET on
its hits, and WORDS_SLOPE/OFFSET on its word matches with those of bench/lexical_search.py's
tuning set, pydoc) and a HELD-OUT half, on which everything is reported, with `make demo`'s
queries besides. Before: the previous ranking (calibrated z, no floor); after: `xmodal
search` as it is now. Per query: whether the expected file is first, the rank of the first
file that is not an expected one (a query whose shown files are all expected counts as
the list length + 1), and how many files of another type than the expected one are shown.

    python -m bench.relevance_fit [--fit] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.eval_pairs import write_pairs
from bench.harness import emit, machine, note
from bench.lexical_search import fit_logistic, pydoc_set, run_set
from xmodal_cli import relevance
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.lexical import matching_files, query_terms
from xmodal_cli.query import Query
from xmodal_cli.search import Result, make_filters

SHOWN = 10  # xmodal search's default --limit
DEMO = {
    "a cat sleeping on a sofa": ("photos/chelsea.png", "image"),
    "the meeting where we discussed spending": (
        "recordings/memos/memo_budget_meeting.wav",
        "audio",
    ),
}


def _surprise(collection: Collection, hit: Result) -> float:
    counts = collection.vectors.calibration().counts
    return relevance.surprise(hit.calibrated, counts.get((hit.space, hit.type), 0))


def measure(
    collection: Collection, query: str, expected: set[str], kind: str
) -> tuple[dict[str, Any], list[tuple[float, bool]], list[tuple[float, bool]]]:
    """Before/after figures of one query, (surprise, relevant) of its hits and (strength,
    relevant) of the files that match its words."""
    every = collection.search(query, limit=40, filters=make_filters(min_relevance=0))
    before = sorted(every, key=lambda h: -h.calibrated)[:SHOWN]
    after = collection.search(query, limit=SHOWN)
    out = {}
    for name, shown in (("before", before), ("after", after)):
        paths = [h.path for h in shown]
        wrong = [n for n, p in enumerate(paths, start=1) if p not in expected]
        out[name] = {
            "top1": bool(paths) and paths[0] in expected,
            "shown": any(p in expected for p in paths),
            "first_irrelevant": wrong[0] if wrong else len(paths) + 1,
            "other_types": sum(h.type != kind for h in shown),
            "other_types_top3": sum(h.type != kind for h in shown[:3]),
        }
    hits = [(_surprise(collection, h), h.path in expected) for h in every]
    matches = matching_files(collection.catalog, query_terms(Query.of(query)))
    return out, hits, [(-math.log(m.files), m.path in expected) for m in matches]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(len(rows), 1)
    out: dict[str, Any] = {"queries": len(rows)}
    for name in ("before", "after"):
        out[name] = {
            "R@1": round(sum(r[name]["top1"] for r in rows) / n, 3),
            f"R@{SHOWN}": round(sum(r[name]["shown"] for r in rows) / n, 3),
            "first_irrelevant_rank_mean": round(
                sum(r[name]["first_irrelevant"] for r in rows) / n, 2
            ),
            "other_type_files_shown_mean": round(sum(r[name]["other_types"] for r in rows) / n, 2),
            "other_type_files_in_top3_mean": round(
                sum(r[name]["other_types_top3"] for r in rows) / n, 2
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the dense logistic")
    parser.add_argument("--keep", type=Path, help="keep the corpus and index here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        dest = (args.keep or Path(tmp)).absolute()
        pairs = [json.loads(line) for line in write_pairs(dest).read_text().splitlines()]
        groups: dict[str, list[dict[str, Any]]] = {"tuning": [], "held_out": [], "demo": []}
        fit_hits: list[tuple[float, bool]] = []
        fit_words: list[tuple[float, bool]] = []
        if args.fit:  # lexical_search's tuning set: exact terms and paraphrases of pydoc
            rows = run_set("pydoc", dest / "pydoc", pydoc_set, dest / "pydoc-index")
            fit_words += [w for row in rows for w in row[4]]
        with open_collection(dest / "index", write=True, create=True, model="lite") as col:
            done = col.index([dest / "photos", dest / "notes", dest / "recordings"])
            note(f"indexed {done.indexed} files in {done.seconds:.0f}s")
            asked = [(p["query"], {str(dest / p["path"])}, p["type"]) for p in pairs]
            for n, (query, expected, kind) in enumerate(asked):
                figures, hits, words = measure(col, query, expected, kind)
                half = "tuning" if n % 2 == 0 else "held_out"
                groups[half].append(figures)
                fit_hits += hits if half == "tuning" else []
                fit_words += words if half == "tuning" else []
            for query, (path, kind) in DEMO.items():
                figures, _, _ = measure(col, query, {str(dest / path)}, kind)
                groups["demo"].append(figures)
                note(f"{query!r}: {figures}")
    out: dict[str, Any] = {name: summary(rows) for name, rows in groups.items()}
    if args.fit:
        x = np.array([s for s, _ in fit_hits])
        y = np.array([float(ok) for _, ok in fit_hits])
        slope, offset = fit_logistic(x, y)
        out["fit"] = {"dense_slope": round(slope, 3), "dense_offset": round(offset, 3)}
        out["fit"].update(hits=len(y), relevant=int(y.sum()))
        x = np.array([s for s, _ in fit_words])
        y = np.array([float(ok) for _, ok in fit_words])
        slope, offset = fit_logistic(x, y)
        out["fit"].update(words_slope=round(slope, 3), words_offset=round(offset, 3))
        out["fit"].update(word_matches=len(y), word_matches_relevant=int(y.sum()))
    out["constants"] = {
        "dense_slope": relevance.DENSE_SLOPE,
        "dense_offset": relevance.DENSE_OFFSET,
        "words_slope": relevance.WORDS_SLOPE,
        "words_offset": relevance.WORDS_OFFSET,
        "other_types_from": relevance.OTHER_TYPES_FROM,
    }
    out["machine"] = machine(load)
    emit(out)


if __name__ == "__main__":
    main()
