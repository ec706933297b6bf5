"""One video → items: chosen frames in the image spaces, and its soundtrack as a recording.

Frames come from media/video.py (scene changes on keyframes; no black, blank or blurred
frames; a cap per minute) and go through the profile's own image encoder, in small batches
as they are read, so a photo and a frame of the same scene land in the same place and an
hour of video holds at most one batch of pixels. The soundtrack goes through
recordings.py unchanged: acoustic windows, transcript passages with their times, and the
description. Every item's position is its time in whole seconds (the description: -1), so
a hit says where to look; frames are at least MIN_GAP_SECONDS apart, so no two share one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError
from xmodal_cli.media.text import title_words
from xmodal_cli.media.video import FRAMES_PER_MINUTE, Frame, read_frames
from xmodal_cli.models import Profile
from xmodal_cli.models.acoustic import shared_features
from xmodal_cli.recordings import (
    DESCRIPTION,
    Passage,
    Recording,
    analyse_recording,
    sound_encoder,
)
from xmodal_cli.store.rows import NewItem

ENCODE_BATCH = 16  # frames encoded together: one model batch, ~2.4 MB of pixels
# The largest picture the photo pipeline looks at (models/ocr.py reads at 1280 px).
WHOLE_SIDE = 1280
SEGMENT_PASSAGES = 1  # words per transcript passage: at least 1, so each segment is one


@dataclass
class Video:
    """What a video adds to the index: ready-made items (frames, sound windows), text-space
    passages to encode (description, transcript), and its info."""

    items: list[NewItem] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def analyse_video(
    path: str,
    profile: Profile,
    *,
    transcribe: bool = True,
    per_minute: int = FRAMES_PER_MINUTE,
    cancelled: Callable[[], bool] = lambda: False,
) -> Video:
    """Frames and soundtrack of `path` as items; DecodeError if it has neither."""
    # What the image pipeline adds to a photo (lite: people, words in it) from its pixels.
    seen: Callable[..., list[Passage]] | None = getattr(profile, "image_passages", None)
    stream, frames = read_frames(
        path,
        size=profile.image_size,
        per_minute=per_minute,
        whole_side=WHOLE_SIDE if seen is not None else 0,
        cancelled=cancelled,
    )
    out = Video()
    pending: list[Frame] = []
    captions: list[str] = []
    noticed: list[Passage] = []
    for frame in frames:
        if seen is not None:
            noticed += _seen_in(frame, seen)
        pending.append(dataclasses.replace(frame, whole=None))
        if len(pending) == ENCODE_BATCH:
            captions += _encode(pending, profile, out.items)
            pending = []
    if pending:
        captions += _encode(pending, profile, out.items)
    recording, heard = None, ""
    if stream.has_audio:
        try:
            recording = _soundtrack(path, profile, transcribe=transcribe, cancelled=cancelled)
        except DecodeError as exc:
            if cancelled():
                raise
            heard = str(exc)  # a broken soundtrack does not lose the picture
    if not captions and recording is None:
        why = ", ".join(f"{n} {kind}" for kind, n in stream.rejected.most_common()) or "none"
        raise DecodeError(f"no usable frames or sound in the video (keyframes: {why})")
    if recording is not None:
        out.items += [NewItem(w.space, w.position, w.snippet, w.vector) for w in recording.windows]
    out.passages = _passages(path, recording, captions) + noticed
    out.info = _info(stream, recording, len(captions), heard)
    return out


def _soundtrack(
    path: str, profile: Profile, *, transcribe: bool, cancelled: Callable[[], bool]
) -> Recording:
    """`analyse_for`, but a passage per transcript segment (a sentence or so): in a video the
    time of the words matters more than a long passage's context."""
    return analyse_recording(
        path,
        features=shared_features(),
        transcribe=(lambda samples: profile.transcribe(samples, cancelled)) if transcribe else None,
        sounds=sound_encoder(profile),
        passage_words=SEGMENT_PASSAGES,
        cancelled=cancelled,
    )


def _seen_in(frame: Frame, seen: Callable[..., list[Passage]]) -> list[Passage]:
    """The photo pipeline's passages for one frame, at the frame's second: whatever that
    pipeline learns to see in a picture's pixels, frames get too."""
    try:
        found = seen(np.asarray(frame.whole.convert("RGB"), dtype=np.uint8))
    except DecodeError:
        return []
    return [Passage(int(frame.seconds), p.text, p.snippet) for p in found]


def _encode(frames: list[Frame], profile: Profile, items: list[NewItem]) -> list[str]:
    """Encode a batch of frames with the photo encoder, appending their items; their captions."""
    encoded = profile.encode_images(np.stack([f.pixels for f in frames]))
    for row, frame in enumerate(frames):
        snippet = encoded.captions[row] or "frame"
        for space, matrix in encoded.vectors.items():
            items.append(NewItem(space, int(frame.seconds), snippet, matrix[row]))
    return [caption or "frame" for caption in encoded.captions]


def _passages(path: str, recording: Recording | None, captions: list[str]) -> list[Passage]:
    """The description (names, what is heard, what is seen most) and what is said, quoted
    so a snippet tells words heard from things seen."""
    seen = _most_seen(captions)
    out = []
    for passage in recording.passages if recording is not None else []:
        if passage.position == DESCRIPTION:
            text = f"a video. {passage.text}" + (f". showing {seen}" if seen else "")
            out.append(Passage(DESCRIPTION, text, passage.snippet))
        else:
            out.append(Passage(passage.position, passage.text, f"“{passage.snippet}”"))
    if recording is None:
        title, folder = title_words(path), title_words(os.path.dirname(path))
        parts = [p for p in (title, "a silent video", f"showing {seen}" if seen else "") if p]
        text = ". ".join(parts) + (f". in {folder}" if folder else "")
        out.insert(0, Passage(DESCRIPTION, text, "silent"))
    return out


def _most_seen(captions: list[str]) -> str:
    """The classes that lead most frames' captions ('Egyptian cat 77%, …' → 'Egyptian cat')."""
    from collections import Counter

    leads = Counter(c.split(",")[0].rsplit(" ", 1)[0] for c in captions if c != "frame")
    return ", ".join(name for name, _ in leads.most_common(3))


def _info(stream: Any, recording: Recording | None, frames: int, heard: str) -> dict[str, Any]:
    sound = recording.info if recording is not None else {}
    duration = max(float(stream.duration or 0.0), float(sound.get("duration", 0.0)), stream.seconds)
    info: dict[str, Any] = {
        "duration": round(duration, 2),
        "codec": stream.codec,
        "width": stream.width,
        "height": stream.height,
        "fps": stream.fps,
        "frames": frames,
        "keyframes": stream.keyframes,
        **({"frames_left_out": dict(stream.rejected)} if stream.rejected else {}),
        **({"rotation": stream.rotation} if stream.rotation else {}),
        **({"recorded": stream.recorded} if stream.recorded else {}),
    }
    for key in ("speech_seconds", "sound", "tags"):
        if key in sound:
            info[key] = sound[key]
    if sound:
        info["audio_codec"] = sound.get("codec")
        info["sample_rate"] = sound.get("sample_rate")
        if "recorded" in sound and "recorded" not in info:
            info["recorded"] = sound["recorded"]
    if heard:
        info["soundtrack"] = heard
    if stream.truncated or sound.get("truncated"):
        info["truncated"] = True
    if stream.capped or "capped_at_seconds" in sound:
        info["capped"] = True
    return info


def video_vectors(path: str, profile: Profile, *, transcribe: bool = True) -> dict[str, np.ndarray]:
    """One unit vector per space for a video given as an example (`similar clip.mp4`): the
    mean of its items there, as for an indexed one."""
    video = analyse_video(path, profile, transcribe=transcribe)
    by_space: dict[str, list[np.ndarray]] = {}
    for item in video.items:
        by_space.setdefault(item.space, []).append(item.vector)
    if transcribe and video.passages:
        texts = profile.encode_texts([p.text for p in video.passages])
        by_space.setdefault(profile.text_space, []).extend(texts)
    out = {}
    for space, vectors in by_space.items():
        mean = np.stack(vectors).mean(axis=0)
        out[space] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return out
