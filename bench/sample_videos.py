"""Real videos made here: slideshows of the sample photos over espeak-ng speech, encoded by
FFmpeg through PyAV (H.264 + AAC in MP4, or VP9 + Opus in WebM), with known times.

Used by tests/test_video.py and bench/video_cost.py; nothing is downloaded.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from bench.sample_sounds import speak

RATE = 16_000


@dataclass(frozen=True)
class Slide:
    """A still shown from `start` for `seconds`: a photo path, or a flat grey level 0-255."""

    start: float
    seconds: float
    photo: Path | None = None
    level: int = 0
    blur: bool = False
    pan: bool = False  # slide slowly across the photo (every frame differs, as in a phone clip)


@dataclass(frozen=True)
class Line:
    """A sentence spoken from `start` seconds."""

    start: float
    text: str


def make_video(  # noqa: PLR0913 (each knob is a property of the clip)
    path: Path,
    slides: list[Slide],
    lines: list[Line] = (),  # type: ignore[assignment]
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    codec: str = "libx264",
    audio: bool = True,
    keyint: int = 250,
    preset: str = "medium",
) -> Path:
    """Encode `slides` (with `lines` spoken over them) into `path`; each slide starts with a
    keyframe, as an encoder's scene-cut detection would put one there."""
    import av
    from PIL import Image

    seconds = max(s.start + s.seconds for s in slides)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        video: Any = out.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        x264 = {"g": str(keyint), "forced-idr": "1", "preset": preset}
        video.options = x264 if codec == "libx264" else {}
        if codec == "mjpeg":
            video.pix_fmt = "yuvj420p"
        sound: Any = None
        if audio:
            sound = out.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=48_000)
            sound.layout = "mono"
        shown: tuple[int, Image.Image] | None = None  # one slide's picture at a time
        for number in range(int(seconds * fps)):
            at = number / fps
            index, slide = next((i, s) for i, s in enumerate(slides) if at < s.start + s.seconds)
            if shown is None or shown[0] != index:
                shown = (index, _picture(slide, width, height))
            picture = shown[1]
            if slide.pan:
                shift = int((at - slide.start) / slide.seconds * width * 0.15)
                picture = picture.transform(
                    picture.size, Image.Transform.AFFINE, (1, 0, shift - width * 0.07, 0, 1, 0)
                )
            frame = av.VideoFrame.from_image(picture)
            frame.pts = number
            frame.time_base = Fraction(1, fps)
            first = abs(at - slide.start) < 1e-6
            frame.pict_type = (
                av.video.frame.PictureType.I if first else av.video.frame.PictureType.NONE
            )
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            _soundtrack(out, sound, soundtrack(lines, seconds, path.parent))
    return path


def _picture(slide: Slide, width: int, height: int) -> Any:
    from PIL import Image, ImageFilter, ImageOps

    if slide.photo is None:
        return Image.new("RGB", (width, height), (slide.level,) * 3)
    with Image.open(slide.photo) as im:
        picture = ImageOps.fit(im.convert("RGB"), (width, height))
    return picture.filter(ImageFilter.GaussianBlur(12)) if slide.blur else picture


def soundtrack(lines: list[Line] | tuple[Line, ...], seconds: float, scratch: Path) -> np.ndarray:
    """Mono float32 at RATE: each line spoken by espeak-ng at its time, quiet room tone
    between (real recordings are never digital silence)."""
    out = np.random.default_rng(0).normal(0, 0.002, int(seconds * RATE)).astype(np.float32)
    for number, line in enumerate(lines):
        spoken = _read_wav(speak(line.text, scratch / f".line{number}.wav"))
        begin = int(line.start * RATE)
        piece = spoken[: max(0, len(out) - begin)]
        out[begin : begin + len(piece)] += piece
    return np.clip(out, -1, 1)


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as handle:
        rate, raw = handle.getframerate(), handle.readframes(handle.getnframes())
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768
    path.unlink()
    if rate == RATE:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, rate, RATE), dtype=np.float32)


def _soundtrack(out: Any, stream: Any, samples: np.ndarray) -> None:
    import av

    resampler = av.AudioResampler(format="fltp", layout="mono", rate=48_000)
    for begin in range(0, len(samples), RATE):
        frame = av.AudioFrame.from_ndarray(
            samples[None, begin : begin + RATE], format="flt", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = begin
        frame.time_base = Fraction(1, RATE)
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
