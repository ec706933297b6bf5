"""Short speech: can a spoken word under a second be found by that word? Through the real CLI.

The words are real voices: the English recordings of Debian's ktuberling-data (one word
each, 60 of 72 under a second). Their "potato" (body parts, clothes) and pizzeria themes
chose the settings in models/whisper.py; this script reports on the other themes (egypt,
moon, tv: 37 words), among one-shots that hold no speech (drum hits made by
bench/sample_sounds.py and sound-theme-freedesktop's non-speech sounds, if given).

    apt-get download ktuberling-data sound-theme-freedesktop
    dpkg-deb -x ktuberling-data_*.deb pkgs; dpkg-deb -x sound-theme-freedesktop_*.deb pkgs
    python -m bench.short_speech pkgs [DEST]

Prints one JSON line: `xmodal eval --json` figures for "the word" -> its recording, the
index run's seconds, and how many clips were under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import soundfile as sf

from bench.harness import cache_dir, cli_env, emit, note, run_timed, xmodal_command
from bench.sample_sounds import hihat, kick, snare, write

HELD_OUT_THEMES = ("egypt_", "moon_", "tv_")
# The spoken word of a few file names, where the name is not the word said.
SAID = {"fallingstar": "falling star", "palmtree": "palm tree", "sphynx": "sphinx"}


def write_set(packages: Path, dest: Path) -> Path:
    """Held-out words and speechless one-shots under `dest`, and `dest/pairs.jsonl`."""
    words = packages / "usr/share/ktuberling/sounds/en"
    if not words.is_dir():
        raise SystemExit(f"no ktuberling-data English sounds under {packages} (see --help)")
    rows = []
    (dest / "words").mkdir(parents=True, exist_ok=True)
    held_out = [c for c in sorted(words.glob("*.ogg")) if c.name.startswith(HELD_OUT_THEMES)]
    for n, clip in enumerate(held_out):
        name = f"clip_{n:02d}.ogg"  # a name that does not give the word away
        shutil.copy(clip, dest / "words" / name)
        said = clip.stem.split("_", 1)[1]
        rows.append({"query": SAID.get(said, said), "path": f"words/{name}"})
    hits = dest / "one-shots"
    for n in range(5):
        for make in (kick, snare, hihat):
            write(hits / f"{make.__name__}_{n}.wav", make(n))
    sounds = packages / "usr/share/sounds/freedesktop/stereo"
    for sound in sorted(sounds.glob("*.oga")) if sounds.is_dir() else []:
        if not sound.name.startswith("audio-channel-"):  # those say "front left" etc.
            shutil.copy(sound, hits / sound.name)
    pairs = dest / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", type=Path, help="where the .deb files were extracted")
    parser.add_argument("dest", nargs="?", type=Path, help="keep the media and index here")
    parser.add_argument("--cache", help="model cache (default: $XMODAL_CACHE or a bench one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dest = (args.dest or Path(tmp)).absolute()
        env = cli_env(cache_dir(args.cache))
        pairs = write_set(args.packages, dest)
        clips = sorted((dest / "words").glob("*")) + sorted((dest / "one-shots").glob("*"))
        short = sum(sf.info(str(c)).duration < 1.0 for c in clips)
        index = dest / "index"
        note(f"indexing {len(clips)} clips ({short} under a second) into {index}")
        xmodal = xmodal_command()
        media = [str(dest / "words"), str(dest / "one-shots")]
        index_s, _ = run_timed([*xmodal, "index", *media, "--index-dir", str(index)], env)
        _, done = run_timed([*xmodal, "eval", str(pairs), "--json", "--index-dir", str(index)], env)
        emit(
            {
                "words": sum(1 for _ in pairs.open()),
                "clips": len(clips),
                "under_a_second": short,
                "index_seconds": round(index_s, 1),
                "cpus": os.cpu_count(),
                "figures": json.loads(done.stdout),
            }
        )


if __name__ == "__main__":
    main()
