"""How well the acoustic and sound spaces and the named sound traits work, on made sounds.

    python -m bench.audio_similarity

Synthetic sounds only; the same figures on real sounds from Debian packages, where lite's
`sound` space was chosen, come from `python -m bench.real_sounds`.

The set: 8 each of kicks, snares and hi-hats, 3 tones, 3 noises (white, pink, brown), 3
music loops and the espeak-ng sentences, all made here (bench/sample_sounds.py).

Figures (one JSON line on stdout), for the acoustic space and for lite's `sound` space
(aiSFX fused with the acoustic statistics, models/sfx.py):
- same_kind_precision_at_3: for each sound, the share of its k nearest neighbours in the
  space (itself left out) that are of its kind (kick/snare/hat/tone/noise/music/
  speech), with k = 3, or 2 for the kinds that have only 3 members.
- copy_rank1: share of altered copies whose nearest indexed sound is their original. Copies
  are: trimmed (10% off each end for clips over 1 s, 10 ms off the start of one-shots) and
  saved as Ogg Vorbis; 30% volume and saved as MP3; resampled to 22.05 kHz WAV.
- copy_misses: which copies missed, and what they found instead.
- label_accuracy: share of sounds whose first descriptor names the right kind (percussive
  hit for drums, pure tone, the right noise colour, music, and speech when transcribed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import sample_sounds as sounds
from bench.harness import emit, note

if TYPE_CHECKING:
    from xmodal_cli.recordings import Recording


def _library(folder: Path) -> dict[Path, str]:
    kinds: dict[Path, str] = {}
    for i in range(8):
        kinds[sounds.write(folder / f"kick_{i}.wav", sounds.kick(i))] = "kick"
        kinds[sounds.write(folder / f"snare_{i}.wav", sounds.snare(i))] = "snare"
        kinds[sounds.write(folder / f"hat_{i}.wav", sounds.hihat(i))] = "hat"
    for freq in (220, 440, 1000):
        kinds[sounds.write(folder / f"tone_{freq}.wav", sounds.tone(freq))] = "tone"
    for colour in ("white", "pink", "brown"):
        kinds[sounds.write(folder / f"{colour}.wav", sounds.noise(colour, 6.0))] = "noise"
    for i, bpm in enumerate((90, 120, 140)):
        kinds[sounds.write(folder / f"music_{i}.wav", sounds.music(12.0, bpm, seed=i))] = "music"
    for name, (sentence, _) in sounds.SPOKEN.items():
        kinds[sounds.speak(sentence, folder / f"speech_{name}.wav")] = "speech"
    return kinds


def _expected_label(path: Path, kind: str) -> str:
    if kind in ("kick", "snare", "hat"):
        return "percussive hit"
    if kind == "noise":
        return f"{path.stem} noise"
    return {"tone": "pure tone", "music": "music", "speech": "speech"}[kind]


def _file_vectors(rec: Recording) -> dict[str, np.ndarray]:
    out = {}
    for space in {w.space for w in rec.windows}:
        mean = np.mean([w.vector for w in rec.windows if w.space == space], axis=0)
        out[space] = mean / np.linalg.norm(mean)
    return out


def _figures(
    paths: list[Path],
    kinds: dict[Path, str],
    matrix: np.ndarray,
    copies: list[tuple[Path, Path, np.ndarray]],
) -> dict[str, Any]:
    similar = matrix @ matrix.T
    np.fill_diagonal(similar, -np.inf)
    sizes = {kind: list(kinds.values()).count(kind) for kind in set(kinds.values())}
    hits = [  # of the k nearest, with k = 3 or the number of other sounds of that kind
        np.mean(
            [
                kinds[paths[j]] == kinds[p]
                for j in np.argsort(-similar[i])[: min(3, sizes[kinds[p]] - 1)]
            ]
        )
        for i, p in enumerate(paths)
    ]
    missed = []
    for original, copy, query in copies:
        best = paths[int(np.argmax(matrix @ query))]
        if best != original:
            missed.append(f"{copy.name} -> {best.name}")
    return {
        "same_kind_precision_at_3": round(float(np.mean(hits)), 3),
        "by_kind": {
            kind: round(
                float(np.mean([h for h, p in zip(hits, paths, strict=True) if kinds[p] == kind])),
                2,
            )
            for kind in sorted(sizes)
        },
        "copy_rank1": round(1 - len(missed) / len(copies), 3),
        "copies": len(copies),
        "copy_misses": missed,
    }


def main() -> None:
    import soundfile
    import soxr

    from xmodal_cli.models import SPACE_ACOUSTIC, sfx
    from xmodal_cli.models.acoustic import shared_features
    from xmodal_cli.models.lite import LiteProfile
    from xmodal_cli.recordings import SoundEncoder, analyse_recording

    features = shared_features()
    transcribe = LiteProfile(device="cpu").transcribe
    space = sfx.shared_space()
    learned = SoundEncoder(sfx.SAMPLE_RATE, 30.0, lambda w: {sfx.SPACE: space.encode(w)})
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        kinds = _library(folder / "library")
        paths = list(kinds)
        note(f"{len(paths)} sounds")
        vectors: dict[str, list[np.ndarray]] = {SPACE_ACOUSTIC: [], sfx.SPACE: []}
        labels = {}
        for path in paths:
            rec = analyse_recording(
                str(path), features=features, transcribe=transcribe, sounds=learned
            )
            for name, vector in _file_vectors(rec).items():
                vectors[name].append(vector)
            labels[path] = rec.info["sound"][0]
        correct_labels = [labels[p].startswith(_expected_label(p, kinds[p])) for p in paths]

        copies: dict[str, list[tuple[Path, Path, np.ndarray]]] = {n: [] for n in vectors}
        for path in paths:
            samples, rate = soundfile.read(str(path), dtype="float32")
            long = len(samples) > rate
            cut = int(len(samples) * 0.1) if long else int(0.01 * rate)
            altered = {
                "trimmed.ogg": (samples[cut : len(samples) - cut] if long else samples[cut:], rate),
                "quieter.mp3": (samples * 0.3, rate),
                "22k.wav": (soxr.resample(samples, rate, 22_050), 22_050),
            }
            for suffix, (data, copy_rate) in altered.items():
                copy = folder / f"{path.stem}-{suffix}"
                soundfile.write(str(copy), data, copy_rate)
                rec = analyse_recording(
                    str(copy), features=features, transcribe=None, sounds=learned
                )
                for name, vector in _file_vectors(rec).items():
                    copies[name].append((path, copy, vector))
    emit(
        {
            "sounds": len(paths),
            **{
                name: _figures(paths, kinds, np.stack(vectors[name]), copies[name])
                for name in vectors
            },
            "label_accuracy": round(float(np.mean(correct_labels)), 3),
            "wrong_labels": {
                p.name: labels[p] for p, ok in zip(paths, correct_labels, strict=True) if not ok
            },
        }
    )


if __name__ == "__main__":
    main()
