"""Words that must match: dense ranking alone vs fused with the lexical index, on real text.

Three sets, each indexed with the offline `lite` profile in its own folder:
- `pydoc` (the TUNING set: bench/relevance_fit.py --fit fits WORDS_SLOPE/OFFSET on it):
  Python's own language reference, 79 topics shipped in every Python (pydoc_data), a file
  each; 12 paraphrases written for it, one exact-term query per topic, and each topic
  whose name is one word asked by its name (a word many other topics hold too).
- `notes` (reported): the 8 personal notes of tests/documents.py among 60 real Debian
  changelogs (/usr/share/doc/*/changelog.Debian.gz); the 8 paraphrases written for those
  notes, 8 exact terms written for them, and one exact term per changelog.
- `speech` (reported): the 5 LibriVox clips of Debian's pocketsphinx-testdata (people
  reading) and espeak-ng memos, transcribed by Whisper; paraphrases, and the rarest word
  of each reference transcript as an exact term.

Exact-term queries that are not written by hand are drawn mechanically: the first word
(6+ letters or digits) of a file that occurs in no other file of its set, its name
included. For every query the rank of the expected file is taken twice: dense only (results
ordered by the relevance of their meaning alone) and fused (as `xmodal search` orders
them). Prints one JSON line: R@1, R@5 and MRR per set, kind and ranking.

    python -m bench.lexical_search [--fit] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import emit, machine, note
from bench.sample_sounds import LIBRIVOX, SPOKEN, librivox_clip, speak
from tests.documents import NOTES
from tests.documents import QUERIES as NOTE_PARAPHRASES
from xmodal_cli import relevance
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.lexical import matching_files, query_terms
from xmodal_cli.query import Query
from xmodal_cli.search import make_filters

DEPTH = 50  # results read per query (dense-only ranks are re-derived from them)

PYDOC_PARAPHRASES = {
    "how to catch an error and always run some cleanup code": "try",
    "repeat a block as long as a condition holds": "while",
    "making a new kind of object with its own methods": "class",
    "bring code from another module into my program": "import",
    "small anonymous function written as one expression": "lambda",
    "leave a loop before it finishes": "break",
    "go on with the next round of a loop": "continue",
    "run code only when a test is true, otherwise something else": "if",
    "signal that something went wrong": "raise",
    "hand a value back to the caller": "return",
    "a statement that does nothing at all": "pass",
    "make sure resources are released when a block ends": "with",
}
NOTE_EXACT = {
    "Invoice 2023-118": "tax_receipt_2023.txt",
    "Meyer": "tax_receipt_2023.txt",
    "Fushimi Inari": "japan_itinerary.md",
    "rsync": "backup.sh",
    "shingle": "sea_poem.txt",
    "Raj forecast": "q3_meeting.md",
    "maple syrup": "pancakes.md",
    "fertiliser": "garden_plan.txt",
}
SPEECH_PARAPHRASES = {
    **{query: f"memo_{name}.wav" for name, (_, query) in SPOKEN.items()},
    "a young man who was not a bad person": "sense_and_sensibility_01_austen_64kb-0880.wav",
    "he could have become more likeable himself": "sense_and_sensibility_01_austen_64kb-0930.wav",
}
_WORD = re.compile(r"[^\W_]+")


def pydoc_set(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The reference topics as files; (paraphrase -> file, exact term -> file)."""
    from pydoc_data.topics import topics

    folder.mkdir(parents=True, exist_ok=True)
    texts = {}
    for key, text in sorted(topics.items()):
        (folder / f"{key}.txt").write_text(text)
        texts[f"{key}.txt"] = text
    paraphrases = {q: f"{key}.txt" for q, key in PYDOC_PARAPHRASES.items()}
    # A topic asked for by its name ("function", "class"): the name holds it, and so do
    # many other topics' passages. The fit's only source of matches that are not the answer.
    named = {key: f"{key}.txt" for key in topics if key.isalpha()}
    return paraphrases, {**_exact_terms(texts), **named}


def notes_set(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The personal notes among Debian changelogs; (paraphrase -> file, exact -> file)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {}
    for name, text in NOTES.items():
        (folder / name).write_text(text)
        texts[name] = text
    logs = sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz"))
    for log in logs[:: max(1, len(logs) // 60)][:60]:  # spread over the alphabet
        with gzip.open(log, "rt", errors="replace") as handle:
            text = handle.read(4000)
        name = f"{log.parent.name}-changelog.txt"
        (folder / name).write_text(text)
        texts[name] = text
    exact = {q: f for q, f in _exact_terms(texts).items() if f not in NOTES}
    return dict(NOTE_PARAPHRASES), {**NOTE_EXACT, **exact}


def speech_set(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """LibriVox clips and espeak memos; (paraphrase -> file, exact -> file)."""
    folder.mkdir(parents=True, exist_ok=True)
    said = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        found = re.match(r"<s> (.*) </s> \((.*)\)", line)
        if found:
            name = f"{found.group(2)}.wav"
            (folder / name).write_bytes(librivox_clip(name).read_bytes())
            said[name] = found.group(1)
    for name, (sentence, _) in SPOKEN.items():
        speak(sentence, folder / f"memo_{name}.wav")
        said[f"memo_{name}.wav"] = sentence
    return dict(SPEECH_PARAPHRASES), _exact_terms(said, names=False)


def _exact_terms(texts: dict[str, str], *, names: bool = True) -> dict[str, str]:
    """Per file, its first word of 6+ characters that no other file holds (names count)."""
    words = {f: _WORD.findall(t.casefold()) for f, t in texts.items()}
    if names:
        words = {f: w + _WORD.findall(f.casefold()) for f, w in words.items()}
    spread = Counter(w for ws in words.values() for w in set(ws))
    out = {}
    for name, ws in words.items():
        unique = [w for w in ws if spread[w] == 1 and len(w) >= 6]
        if unique:
            out[unique[0]] = name
    return out


def ranks(collection: Collection, query: str, expected: str) -> tuple[int, int, list[Any]]:
    """(dense-only rank, fused rank) of `expected` (DEPTH + 1 if not found), and what
    matched by words: [(strength, relevant)] for fitting."""
    hits = collection.search(Query.of(query), limit=DEPTH, filters=make_filters(min_relevance=0))
    counts = collection.vectors.calibration().counts
    dense = sorted(
        hits,
        key=lambda h: -relevance.dense(h.calibrated, counts.get((h.space, h.type), 0)),
    )
    fused_names = [os.path.basename(h.path) for h in hits]
    dense_names = [os.path.basename(h.path) for h in dense]
    matches = matching_files(collection.catalog, query_terms(Query.of(query)))
    words = [(-math.log(m.files), os.path.basename(m.path) == expected) for m in matches]
    return _rank(dense_names, expected), _rank(fused_names, expected), words


def _rank(names: list[str], expected: str) -> int:
    return names.index(expected) + 1 if expected in names else DEPTH + 1


def figures(found: list[int]) -> dict[str, float]:
    n = max(len(found), 1)
    return {
        "n": len(found),
        "R@1": round(sum(r <= 1 for r in found) / n, 3),
        "R@5": round(sum(r <= 5 for r in found) / n, 3),
        "MRR": round(sum(1 / r for r in found) / n, 3),
    }


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and offset of P(y | x) by Newton's method (a tiny ridge keeps it finite)."""
    a, b = 0.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        w = p * (1 - p) + 1e-9
        gradient = np.array([np.sum((p - y) * x) + 1e-3 * a, np.sum(p - y)])
        hessian = np.array([[np.sum(w * x * x) + 1e-3, np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        step = np.linalg.solve(hessian, gradient)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


def run_set(
    name: str, folder: Path, build: Any, index: Path
) -> Iterator[tuple[str, str, int, int, list[Any]]]:
    paraphrases, exact = build(folder)
    with open_collection(index, write=True, create=True, model="lite") as collection:
        summary = collection.index([folder])
        note(f"{name}: {summary.indexed} files, {summary.items} items in {summary.seconds:.0f}s")
        for kind, queries in (("paraphrase", paraphrases), ("exact", exact)):
            for query, expected in queries.items():
                dense, fused, words = ranks(collection, query, expected)
                yield name, kind, dense, fused, words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the words logistic on pydoc")
    parser.add_argument("--keep", type=Path, help="keep the sets and indexes here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    sets = {"pydoc": pydoc_set, "notes": notes_set, "speech": speech_set}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.keep or Path(tmp)).absolute()
        rows = []
        for name, build in sets.items():
            rows += list(run_set(name, root / name, build, root / f"{name}-index"))
    for name in sets:
        for kind in ("exact", "paraphrase"):
            chosen = [r for r in rows if r[0] == name and r[1] == kind]
            out[f"{name}/{kind}"] = {
                "dense": figures([r[2] for r in chosen]),
                "fused": figures([r[3] for r in chosen]),
                "worse": sum(r[3] > r[2] for r in chosen),
                "better": sum(r[3] < r[2] for r in chosen),
            }
    if args.fit:
        pairs = [w for r in rows if r[0] == "pydoc" for w in r[4]]
        x = np.array([s for s, _ in pairs], dtype=np.float64)
        y = np.array([float(ok) for _, ok in pairs])
        slope, offset = fit_logistic(x, y)
        out["fit"] = {"words_slope": round(slope, 3), "words_offset": round(offset, 3)}
        out["fit"]["matches"] = len(pairs)
        out["fit"]["relevant"] = int(y.sum())
    out["constants"] = {
        "words_slope": relevance.WORDS_SLOPE,
        "words_offset": relevance.WORDS_OFFSET,
    }
    out["machine"] = machine(load)
    out["note"] = "pydoc is the tuning set; notes and speech took no part in choosing settings"
    emit(out)


if __name__ == "__main__":
    main()
