"""Real-time factor of indexing 30 minutes of mixed audio on this CPU.

    python -m bench.audio_throughput [--corpus DIR] [--no-per-file]

The corpus (built once, cached in --corpus) is 30 minutes in 13 recordings: 12 minutes of
speech (espeak-ng sentences and the pocketsphinx-testdata LibriVox readers, with pauses),
9 minutes of music, 5 of noise and tones, 2 of a quiet room, a 2-minute "podcast" (music,
then talk), and 40 drum one-shots.

Figures (one JSON line on stdout):
- audio_seconds: total length of the corpus.
- index_wall_s / rtf: `xmodal index CORPUS -q --json` in a fresh process (models already
  in the cache; process start and model loading counted); rtf = audio seconds per wall second.
- per_kind: analyse_recording() in this process, per kind of recording: seconds of audio,
  seconds taken, and rtf (decode + acoustic features + VAD + Whisper for that kind).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import sample_sounds as sounds
from bench.harness import cache_dir, cli_env, emit, machine, note, run_timed, xmodal_command

CORPUS_VERSION = 1
SENTENCES = [
    "We talked about the budget for next year and decided to cut travel costs.",
    "Please call the dentist tomorrow morning to move my appointment to Friday.",
    "In spring we will plant tomatoes, beans and sunflowers along the fence.",
    "The quarterly report is late because the sales figures changed again.",
    "Remember to back up the photos before you upgrade the laptop.",
    "The train to the airport leaves every twenty minutes from platform four.",
]


def _speech(minutes: float, seed: int, workdir: Path) -> np.ndarray:
    """Sentences and LibriVox clips, shuffled, with pauses, resampled to 44.1 kHz."""
    import soundfile
    import soxr

    rng = np.random.default_rng(seed)
    clips = []
    for i, sentence in enumerate(SENTENCES):
        path = sounds.speak(sentence, workdir / f"s{i}.wav")
        data, rate = soundfile.read(str(path), dtype="float32")
        clips.append(soxr.resample(data, rate, sounds.RATE))
    for name in sounds.LIBRIVOX_CLIPS:
        data, rate = soundfile.read(str(sounds.librivox_clip(name)), dtype="float32")
        clips.append(soxr.resample(data, rate, sounds.RATE))
    out: list[np.ndarray] = []
    total = 0
    while total < minutes * 60 * sounds.RATE:
        clip = clips[int(rng.integers(len(clips)))]
        pause = np.zeros(int(rng.uniform(0.3, 1.5) * sounds.RATE), dtype=np.float32)
        out += [clip, pause]
        total += len(clip) + len(pause)
    return np.concatenate(out)[: int(minutes * 60 * sounds.RATE)]


def build_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus (if not already there); returns file name -> kind."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved.get("version") == CORPUS_VERSION:
            return dict(saved["kinds"])
    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as work:
        for i in range(3):
            sounds.write(folder / f"meeting_{i}.wav", _speech(4, i, Path(work)))
            kinds[f"meeting_{i}.wav"] = "speech"
        for i, bpm in enumerate((96, 120, 138)):
            sounds.write(folder / f"track_{i}.wav", sounds.music(180, bpm, seed=i))
            kinds[f"track_{i}.wav"] = "music"
        sounds.write(folder / "white_noise.wav", sounds.noise("white", 120))
        sounds.write(folder / "rain_pink.wav", sounds.noise("pink", 120, seed=1))
        sounds.write(folder / "test_tone.wav", sounds.tone(1000, 60))
        kinds.update(
            {"white_noise.wav": "noise", "rain_pink.wav": "noise", "test_tone.wav": "tone"}
        )
        room = sounds.noise("brown", 120, seed=2) * 0.003
        sounds.write(folder / "quiet_room.wav", room)
        kinds["quiet_room.wav"] = "quiet"
        podcast = np.concatenate([sounds.music(60, 110, seed=9), _speech(1, 9, Path(work))])
        sounds.write(folder / "podcast.wav", podcast)
        kinds["podcast.wav"] = "music+speech"
        for i in range(40):
            maker = (sounds.kick, sounds.snare, sounds.hihat)[i % 3]
            sounds.write(folder / "hits" / f"hit_{i:02d}.wav", maker(i))
            kinds[f"hits/hit_{i:02d}.wav"] = "one-shot"
    manifest.write_text(json.dumps({"version": CORPUS_VERSION, "kinds": kinds}))
    return kinds


def _duration(path: Path) -> float:
    import soundfile

    return float(soundfile.info(str(path)).duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="/tmp/xmodal-bench-audio")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--no-per-file", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    corpus = Path(args.corpus)
    note(f"corpus in {corpus}")
    kinds = build_corpus(corpus)
    seconds = {name: _duration(corpus / name) for name in kinds}
    total = sum(seconds.values())
    env = cli_env(cache)
    with tempfile.TemporaryDirectory() as warm:  # models and ONNX export into the cache
        one = corpus / "hits" / "hit_00.wav"
        run_timed([*xmodal_command(), "index", str(one), "--index-dir", warm, "-q"], env)
    with tempfile.TemporaryDirectory() as fresh:
        note("indexing the corpus with the real CLI")
        wall, done = run_timed(
            [
                *xmodal_command(),
                "index",
                str(corpus),
                "--index-dir",
                fresh,
                "-q",
                "--json",
                "--exclude",
                "manifest.json",
            ],
            env,
        )
    summary = json.loads(done.stdout)
    figures = {
        "audio_seconds": round(total, 1),
        "files": len(kinds),
        "index_wall_s": round(wall, 1),
        "rtf": round(total / wall, 1),
        "indexed": summary["indexed"],
        "skipped": summary["skipped"],
    }
    if not args.no_per_file:
        figures["per_kind"] = _per_kind(corpus, kinds, seconds, cache)
    figures["machine"] = machine(load)
    emit(figures)


def _per_kind(
    corpus: Path, kinds: dict[str, str], seconds: dict[str, float], cache: Path
) -> dict[str, dict[str, float]]:
    os.environ["XMODAL_CACHE"] = str(cache)
    from xmodal_cli.models.acoustic import shared_features
    from xmodal_cli.models.lite import LiteProfile
    from xmodal_cli.recordings import analyse_recording

    profile = LiteProfile(device="cpu")
    profile.transcribe(np.zeros(16_000, dtype=np.float32))  # load Whisper before timing
    taken: dict[str, list[float]] = {}
    for name, kind in kinds.items():
        started = time.perf_counter()
        analyse_recording(
            str(corpus / name), features=shared_features(), transcribe=profile.transcribe
        )
        slot = taken.setdefault(kind, [0.0, 0.0])
        slot[0] += seconds[name]
        slot[1] += time.perf_counter() - started
    return {
        kind: {"audio_s": round(a, 1), "took_s": round(t, 2), "rtf": round(a / t, 1)}
        for kind, (a, t) in taken.items()
    }


if __name__ == "__main__":
    main()
