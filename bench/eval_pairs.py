"""`xmodal eval` on the real test sets in the repo, through the real CLI.

Writes a folder with the sample photos, the notes and the sound library, and a PAIRS file
(`pairs.jsonl`, paths relative to it) of the queries written for them: text -> image from
bench/text_to_image_eval.py (52 queries, 23 photos), text -> note from tests/documents.py
(8 paraphrases), text -> recording from bench/sample_sounds.py (3 paraphrases of spoken
memos, among speech, music, noise and drum hits). Then `xmodal index` and `xmodal eval
--json` run in fresh processes and the figures come out as one JSON line.

    python -m bench.eval_pairs [DEST]     # keeps DEST (pairs.jsonl, index/) to look at
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench.harness import cache_dir, cli_env, emit, note, run_timed, xmodal_command
from bench.sample_photos import copy_sample_photos
from bench.sample_sounds import SPOKEN, write_samples
from bench.text_to_image_eval import QUERIES as PHOTO_QUERIES
from tests.documents import QUERIES as NOTE_QUERIES
from tests.documents import write_notes


def write_pairs(dest: Path) -> Path:
    """The media under `dest` and `dest/pairs.jsonl` naming what each query should find."""
    photos = {p.name for p in copy_sample_photos(dest / "photos")}
    write_notes(dest / "notes")
    write_samples(dest / "recordings")
    rows = [
        {"query": query, "path": f"photos/{name}", "type": "image"}
        for name, queries in PHOTO_QUERIES.items()
        if name in photos
        for query in queries
    ]
    rows += [
        {"query": query, "path": f"notes/{name}", "type": "text"}
        for query, name in NOTE_QUERIES.items()
    ]
    rows += [
        {"query": query, "path": f"recordings/memos/memo_{name}.wav", "type": "audio"}
        for name, (_, query) in SPOKEN.items()
    ]
    pairs = dest / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", type=Path, help="keep the media and index here")
    parser.add_argument("--cache", help="model cache (default: $XMODAL_CACHE or a bench one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dest = (args.dest or Path(tmp)).absolute()
        env = cli_env(cache_dir(args.cache))
        pairs = write_pairs(dest)
        index = dest / "index"
        note(f"indexing {dest} into {index}")
        xmodal = xmodal_command()
        media = [dest / "photos", dest / "notes", dest / "recordings"]
        index_s, _ = run_timed([*xmodal, "index", *map(str, media), "--index-dir", str(index)], env)
        eval_s, done = run_timed(
            [*xmodal, "eval", str(pairs), "--json", "--index-dir", str(index)], env
        )
        for line in done.stderr.splitlines():
            note(line)
        emit(
            {
                "pairs": str(pairs) if args.dest else "pairs.jsonl (temporary)",
                "queries": sum(1 for _ in pairs.open()),
                "index_seconds": round(index_s, 1),
                "eval_seconds": round(eval_s, 1),
                "cpus": os.cpu_count(),
                "figures": json.loads(done.stdout),
            }
        )


if __name__ == "__main__":
    main()
