"""Ask in another language: hand-translated captions (bench/multilingual_queries.py) against
their English originals, on real photos, through lite's own search.

The pictures are bench/hypernyms_eval.py's pool (GCompris photos named by content, plus the
sample photos), indexed by lite. For each split (tuning: choose settings; held_out: the
figures) and language, R@1/R@5/MRR of `xmodal eval`'s scoring, ranked by Collection.search
in one process, for three ways of encoding a query:

- direct: MiniLM on the text as it is (lite before this change);
- routed: lite as shipped (multilingual.route; MiniLM, the mapped USE vector, or both);
- mapped: always the mapped USE vector.

    python -m bench.hypernyms_eval WORK && xmodal index WORK/pool --no-ocr --index-dir WORK/index
    python -m bench.multilingual_eval WORK [--weights 0.25,0.5,0.75]   # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.multilingual_queries import HELD_OUT, LANGUAGES, TUNING, Row
from xmodal_cli.evaluation import Pair


def row_key(english: str) -> str:
    """The name a row's picture goes by in the pool: an explore title, a categorization name."""
    return re.split(r"\. |, ", english, maxsplit=1)[0].lower()


def pairs_for(rows: list[Row], names: dict[str, list[str]], language: int) -> list[Pair]:
    out: list[Pair] = []
    for row in rows:
        paths = names.get(row_key(row[0]))
        if paths:
            out.append(Pair(row[language], tuple(sorted(paths)), "image"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--weights", default="", help="UNSURE_WEIGHT values to try (tuning)")
    args = parser.parse_args()
    work = args.work.absolute()
    started, load = time.perf_counter(), os.getloadavg()[0]

    from bench.hypernyms_eval import write_pool
    from xmodal_cli.collection import open_collection
    from xmodal_cli.evaluation import evaluate
    from xmodal_cli.models import SPACE_TEXT, multilingual

    names: dict[str, list[str]] = {}
    for path, (name, _) in write_pool(work).items():
        names.setdefault(name, []).append(path)
    figures: dict[str, object] = {"bench": "multilingual_eval", "languages": list(LANGUAGES)}
    with open_collection(work / "index") as collection:
        profile: Any = collection._encoders()  # the bench swaps its query encoder
        shipped = profile.encode_query
        translator = multilingual.Translator()

        def direct(text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
            return {SPACE_TEXT: profile.encode_texts([text])[0]}

        def mapped(text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
            return {SPACE_TEXT: translator.encode([text])[0]}

        def weighted(weight: float) -> Any:
            def encode(text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
                vector = multilingual.query_vector(
                    text,
                    profile.encode_texts,
                    translator,
                    weight,
                )
                return {SPACE_TEXT: vector}

            return encode

        modes = {"direct": direct, "routed": shipped, "mapped": mapped}
        for weight in filter(None, args.weights.split(",")):
            modes[f"unsure_weight={weight}"] = weighted(float(weight))

        def indexed(path: str) -> str | None:
            row = collection.catalog.file_by_path(path)
            return row.modality if row else None

        for split, rows in (("tuning", TUNING), ("held_out", HELD_OUT)):
            for mode, encode in modes.items():
                profile.encode_query = encode
                for language, code in enumerate(LANGUAGES):
                    pairs = pairs_for(rows, names, language)
                    result = evaluate(
                        pairs,
                        search=collection.search,
                        indexed=indexed,
                        limit=100,
                        resamples=200,
                    ).as_dict()
                    scores = result["image"]
                    figures[f"{split} {mode} {code}"] = {
                        "n": scores["n"],
                        "r1": scores["recall@1"],
                        "r5": scores["recall@5"],
                        "mrr": scores["mrr"],
                    }
        profile.encode_query = shipped
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["load_at_start"] = load
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
