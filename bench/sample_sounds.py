"""Real audio for tests and benchmarks: drum hits, tones, noise, music made with numpy, and
speech from espeak-ng (synthetic) or Debian's pocketsphinx-testdata (read by people)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

RATE = 44_100
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
# What the pocketsphinx-testdata readers say in each clip (from its transcription file).
LIBRIVOX_CLIPS = {
    "sense_and_sensibility_01_austen_64kb-0870.wav": "and mister john dashwood had then "
    "leisure to consider how much there might be prudently in his power to do for them",
    "sense_and_sensibility_01_austen_64kb-0890.wav": "unless to be rather cold hearted and "
    "rather selfish is to be ill disposed",
}
# Sentences spoken by espeak-ng, and a paraphrase that shares almost no words with each.
SPOKEN = {
    "budget_meeting": (
        "We talked about the budget for next year and decided to cut travel costs.",
        "the meeting where we discussed spending money",
    ),
    "dentist_call": (
        "Please call the dentist tomorrow morning to move my appointment to Friday.",
        "reschedule a visit to the tooth doctor",
    ),
    "garden_plans": (
        "In spring we will plant tomatoes, beans and sunflowers along the fence.",
        "growing vegetables in the backyard",
    ),
}


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(samples, -1, 1).astype(np.float32), rate)
    return path


def _time(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.arange(int(seconds * rate)) / rate


def kick(seed: int) -> np.ndarray:
    """A bass drum: a sine sweeping down from ~150 Hz, decaying fast, with a click."""
    rng = np.random.default_rng(seed)
    t = _time(rng.uniform(0.35, 0.6))
    start, end = rng.uniform(120, 180), rng.uniform(40, 60)
    freq = end + (start - end) * np.exp(-t * rng.uniform(20, 40))
    body = np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.exp(-t * rng.uniform(6, 10))
    click = rng.standard_normal(len(t)) * np.exp(-t * 400) * 0.2
    return 0.9 * body + click


def snare(seed: int) -> np.ndarray:
    """A snare: a short tone near 200 Hz under a burst of bright noise."""
    rng = np.random.default_rng(seed)
    t = _time(rng.uniform(0.2, 0.3))
    tone = np.sin(2 * np.pi * rng.uniform(180, 230) * t) * np.exp(-t * 30)
    noise = np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t * rng.uniform(15, 25))
    return 0.4 * tone + 0.35 * noise


def hihat(seed: int) -> np.ndarray:
    """A closed hi-hat: very short, very high noise."""
    rng = np.random.default_rng(seed)
    t = _time(rng.uniform(0.08, 0.15))
    noise = np.diff(rng.standard_normal(len(t) + 2), n=2) / 4
    return 0.5 * noise * np.exp(-t * rng.uniform(40, 60))


def tone(freq: float, seconds: float = 4.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * _time(seconds))


def noise(colour: str, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """White, pink or brown noise, normalised to a moderate level."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(int(seconds * RATE))
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(len(white), 1 / RATE), 20.0)
    power = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    shaped = np.fft.irfft(spectrum / freqs ** (power / 2), n=len(white))
    return 0.3 * shaped / np.abs(shaped).max()


def music(seconds: float = 12.0, bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """Chords on every bar with a kick on every beat: tonal, rhythmic, steady."""
    rng = np.random.default_rng(seed)
    t = _time(seconds)
    out = np.zeros_like(t)
    beat = 60 / bpm
    roots = rng.choice([220.0, 246.9, 261.6, 293.7, 329.6], size=int(seconds / beat / 4) + 1)
    for bar, root in enumerate(roots):
        begin = int(bar * 4 * beat * RATE)
        span = t[: min(int(4 * beat * RATE), len(t) - begin)]
        if len(span) <= 0:
            break
        chord = sum(np.sin(2 * np.pi * root * r * span) for r in (1, 1.26, 1.5))
        out[begin : begin + len(span)] += 0.12 * chord * np.exp(-span * 0.8)
    for n in range(int(seconds / beat)):
        begin = int(n * beat * RATE)
        hit = kick(seed + n)[: len(t) - begin]
        out[begin : begin + len(hit)] += 0.5 * hit
    return out


def speak(text: str, path: Path) -> Path:
    """Say `text` into a WAV with espeak-ng."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is missing: run `make setup` (it installs it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([espeak, "-w", str(path), text], check=True, capture_output=True)
    return path


def librivox_clip(name: str) -> Path:
    path = LIBRIVOX / name
    if not path.exists():
        raise RuntimeError("pocketsphinx-testdata is missing: run `make setup` (it installs it)")
    return path


def write_samples(folder: Path) -> list[Path]:
    """A small real sound library for the demo: speech, music, noise, a tone and drum hits."""
    out = []
    for name, (sentence, _) in SPOKEN.items():
        out.append(speak(sentence, folder / "memos" / f"memo_{name}.wav"))
    for clip in LIBRIVOX_CLIPS:
        target = folder / "audiobook" / clip
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(librivox_clip(clip).read_bytes())
        out.append(target)
    out.append(write(folder / "music" / "groove_120bpm.wav", music(20.0, 120)))
    out.append(write(folder / "ambience" / "untitled_01.wav", noise("white", 8.0)))
    out.append(write(folder / "ambience" / "untitled_02.wav", noise("brown", 8.0, seed=3)))
    out.append(write(folder / "test" / "beep.wav", tone(1000, 3.0)))
    for i in range(4):
        out.append(write(folder / "samples" / f"kick_{i:02d}.wav", kick(i)))
        out.append(write(folder / "samples" / f"snare_{i:02d}.wav", snare(i)))
    return out


if __name__ == "__main__":
    import sys

    written = write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "sample-sounds"))
    print(f"wrote {len(written)} recordings", file=sys.stderr)
