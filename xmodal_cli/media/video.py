"""Video decoding: the frames worth looking at, chosen on keyframes, in bounded memory.

Decoding every frame of a 4K HEVC clip is slower than real time on two cores, and FFmpeg's
reduced-resolution decoding does not cover H.264 or HEVC. Encoders put a keyframe at every
scene cut (and at least every few seconds), so only keyframe packets are sent to the
decoder (`skip_frame = NONKEY` guards the rest) and at most two a second are looked at (an
all-intra MJPEG file would otherwise mean a full decode). Each one is shrunk by swscale to
a 32 px signature; it is kept when it differs from the last frame kept, is not black, blank
or blurred, and the per-minute cap allows. Only kept frames are scaled to the model's size;
frames are yielded one at a time, so an hour of video never sits in memory.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError, open_regular, read_failure
from xmodal_cli.media.audio import MAX_SECONDS, _short
from xmodal_cli.media.image import MAX_PIXELS, _square_rgb

FRAMES_PER_MINUTE = 12  # at most this many frames kept in any minute (bench/video_cost.py)
MIN_GAP_SECONDS = 2.0  # two kept frames are at least this far apart (positions are seconds)
LOOK_EVERY_SECONDS = 0.5  # keyframes closer than this to the last one looked at are passed
SIGNATURE_SIDE = 32  # scene changes are measured on 32 px grey thumbnails
SCENE_CHANGE = 0.08  # mean absolute difference (0-1) from the last kept frame: a new scene
BLACK_LEVEL = 0.08  # mean brightness below this: black (a fade, a covered lens)
BLANK_SPREAD = 0.03  # brightness spread below this: one flat colour (a title card's ground)
BLUR_SIDE = 128  # sharpness is measured at this width
BLURRED = 0.012  # mean |Laplacian| (0-1) below this: nothing in focus (a whip pan, a fade)
MAX_DAMAGED_PACKETS = 8  # packets that fail to decode before the rest counts as damaged


@dataclass
class VideoStream:
    """What is known about a video's picture; the counters fill in while frames are read."""

    codec: str
    width: int
    height: int
    fps: float
    duration: float | None
    has_audio: bool
    rotation: int = 0
    recorded: str = ""  # local "YYYY-MM-DD HH:MM:SS" from the container, if it says
    keyframes: int = 0  # keyframes looked at
    rejected: Counter[str] = field(default_factory=Counter)  # black, blank, blurred, same, cap
    truncated: bool = False  # reading stopped at damaged data (what came before is kept)
    capped: bool = False  # longer than MAX_SECONDS: the rest was not read
    seconds: float = 0.0  # the time of the last keyframe read


@dataclass(frozen=True)
class Frame:
    """A chosen frame: where it is, its centre square at the model's size (RGB uint8), and
    the whole picture as shown, if asked for (for what looks at all of it: faces, words)."""

    seconds: float
    pixels: np.ndarray
    whole: Any = None  # a PIL image, longer side at most `whole_side`


def read_frames(
    path: str,
    *,
    size: int = 224,
    per_minute: int = FRAMES_PER_MINUTE,
    whole_side: int = 0,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[VideoStream, Iterator[Frame]]:
    """Open `path` and return its description and an iterator of chosen frames; DecodeError
    if it is not a video at all. The iterator ends early (setting `truncated`) on damage."""
    import av

    container = _open(path)
    try:
        stream = _describe(container)
    except DecodeError:
        container.close()
        raise
    if not container.streams.video:
        container.close()
        return stream, iter(())
    chosen = _frames(container, stream, per_minute, cancelled, av)
    if not whole_side:
        return stream, (Frame(at, _pixels(f, size, stream.rotation)) for at, f in chosen)
    return stream, (
        Frame(at, _pixels(f, size, stream.rotation), _whole(f, whole_side, stream.rotation))
        for at, f in chosen
    )


def _open(path: str) -> Any:
    import av

    try:
        open_regular(path).close()  # the same refusal of FIFOs and devices as everywhere
        return av.open(path, metadata_errors="ignore")
    except DecodeError:
        raise
    except (FileNotFoundError, PermissionError) as exc:
        raise read_failure(exc) from None
    except Exception as exc:
        raise DecodeError(f"not a readable video ({_short(exc)})") from None


def _describe(container: Any) -> VideoStream:
    has_audio = bool(container.streams.audio)
    if not container.streams.video:
        if not has_audio:
            raise DecodeError("no video or audio stream in the file")
        return VideoStream("", 0, 0, 0.0, _duration(container, None), True)
    video = container.streams.video[0]
    if video.codec_context is None:
        raise DecodeError("not a readable video (no decoder for its codec)")
    width, height = int(video.codec_context.width or 0), int(video.codec_context.height or 0)
    if width * height > MAX_PIXELS:
        raise DecodeError(f"video too large ({width}×{height} pixels)")
    rate = video.average_rate or video.guessed_rate
    return VideoStream(
        codec=str(video.codec_context.name),
        width=width,
        height=height,
        fps=round(float(rate), 3) if rate else 0.0,
        duration=_duration(container, video),
        has_audio=has_audio,
        recorded=_recorded(dict(container.metadata)),
    )


def _duration(container: Any, video: Any) -> float | None:
    if video is not None and video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return container.duration / 1_000_000 if container.duration else None


def _recorded(metadata: dict[str, str]) -> str:
    """The local time a phone or camera wrote as `creation_time` (UTC), or ""."""
    text = metadata.get("creation_time", "").strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return ""
    if when.year < 1971:  # 1970 / 1904: a muxer that wrote zero
        return ""
    if when.tzinfo is not None:
        when = when.astimezone().replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _frames(
    container: Any,
    stream: VideoStream,
    per_minute: int,
    cancelled: Callable[[], bool],
    av: Any,
) -> Iterator[tuple[float, Any]]:
    video = container.streams.video[0]
    video.codec_context.skip_frame = "NONKEY"
    start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    chooser = _Chooser(per_minute)
    looked = -LOOK_EVERY_SECONDS
    damaged = 0
    packets = container.demux(video)
    try:
        while True:
            if cancelled():
                raise DecodeError("cancelled")
            try:
                packet = next(packets)
            except StopIteration:
                packet = None  # the end: drain the frames the decoder still holds
            except av.error.FFmpegError:
                stream.truncated = True  # the container is damaged from here on
                packet = None
            seconds = None
            if packet is not None:
                if not packet.is_keyframe or packet.size == 0:
                    continue
                seconds = _time(packet, video.time_base, start)
                if seconds is not None and seconds - looked < LOOK_EVERY_SECONDS:
                    continue
            try:
                decoded = video.decode(packet)
            except av.error.FFmpegError:
                damaged += 1
                if damaged > MAX_DAMAGED_PACKETS or packet is None:
                    stream.truncated = packet is not None or stream.truncated
                    break
                continue
            for frame in decoded:
                at = _time(frame, video.time_base, start)
                at = at if at is not None else (seconds or 0.0)
                if at > MAX_SECONDS:
                    stream.capped = True
                    return
                looked, stream.seconds = at, max(stream.seconds, at)
                stream.keyframes += 1
                stream.rotation = stream.rotation or _rotation(frame)
                verdict = chooser.verdict(frame, at)
                if verdict is not None:
                    stream.rejected[verdict] += 1
                    continue
                yield at, frame
            if packet is None:
                break
    finally:
        container.close()


class _Chooser:
    """Which frames to keep: new scenes, worth seeing, within the cap."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.kept: deque[float] = deque()  # times of the frames kept in the last minute
        self.last: np.ndarray | None = None  # the signature of the last frame kept

    def verdict(self, frame: Any, at: float) -> str | None:
        """None to keep the frame at `at`, else why not."""
        verdict, signature = _judge(frame, self.last)
        while self.kept and self.kept[0] <= at - 60.0:
            self.kept.popleft()
        crowded = bool(self.kept) and at - self.kept[-1] < MIN_GAP_SECONDS
        if verdict is None and (crowded or len(self.kept) >= self.per_minute):
            verdict = "cap"
        if verdict is None:
            self.last = signature
            self.kept.append(at)
        return verdict


def _time(obj: Any, base: Any, start: float) -> float | None:
    """Seconds from the start; the stream's time base, as frames drained at the end of a
    stream come without one."""
    pts = obj.pts if obj.pts is not None else getattr(obj, "dts", None)
    if pts is None or base is None:
        return None
    return max(0.0, float(pts * base) - start)


def _rotation(frame: Any) -> int:
    try:
        return round(float(frame.rotation)) % 360
    except Exception:  # no display matrix, or a PyAV without it
        return 0


def _judge(frame: Any, last: np.ndarray | None) -> tuple[str | None, np.ndarray]:
    """(why the frame is not worth keeping, or None; its signature)."""
    width = max(1, frame.width)
    height = max(1, round(SIGNATURE_SIDE * frame.height / width))
    signature = _grey(frame, SIGNATURE_SIDE, height)
    mean, spread = float(signature.mean()), float(signature.std())
    if mean < BLACK_LEVEL:
        return "black", signature
    if spread < BLANK_SPREAD:
        return "blank", signature
    if last is not None and last.shape == signature.shape:  # noqa: SIM102
        if float(np.abs(signature - last).mean()) < SCENE_CHANGE:
            return "same", signature
    detail = _grey(frame, BLUR_SIDE, max(1, round(BLUR_SIDE * frame.height / width)))
    if sharpness(detail) < BLURRED:
        return "blurred", signature
    return None, signature


def _grey(frame: Any, width: int, height: int) -> np.ndarray:
    small = frame.reformat(width=width, height=height, format="gray", interpolation="AREA")
    plane = small.to_ndarray()
    return np.asarray(plane[:height, :width], dtype=np.float32) / 255.0


def sharpness(grey: np.ndarray) -> float:
    """Mean absolute Laplacian of a grey image in 0-1: how much fine detail it has."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 1.0
    centre = grey[1:-1, 1:-1]
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * centre
    return float(np.abs(laplacian).mean())


def _pixels(frame: Any, size: int, rotation: int) -> np.ndarray:
    """The centre square at `size`, as a photo's (media/image.py), turned as it is shown."""
    scale = 2 * size / max(1, min(frame.width, frame.height))  # swscale does the big step
    if scale < 1:
        width, height = round(frame.width * scale), round(frame.height * scale)
        image = frame.to_image(width=max(1, width), height=max(1, height), interpolation="AREA")
    else:
        image = frame.to_image()
    square = _square_rgb(image, size)
    # A display matrix's angle is anticlockwise; np.rot90 turns anticlockwise too.
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(square, turns)) if turns else square


def _whole(frame: Any, side: int, rotation: int) -> Any:
    """The whole picture, longer side at most `side`, turned as it is shown."""
    scale = min(1.0, side / max(1, frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    image = frame.to_image(width=width, height=height, interpolation="AREA")
    return image.rotate(rotation, expand=True) if rotation % 360 else image


def frame_at(path: str, seconds: float, side: int) -> Any:
    """The picture shown at `seconds` (from the keyframe before it), as a PIL image at most
    `side` px; None if it cannot be read. For previews: decodes at most one group of frames."""
    try:
        container = _open(path)
    except DecodeError:
        return None
    try:
        video = container.streams.video[0]
        base = video.time_base
        target = int(seconds / base) + (video.start_time or 0) if base else 0
        container.seek(target, stream=video, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(video):
            chosen = frame
            at = frame.time if frame.time is not None else seconds
            if at + 1e-3 >= seconds + float(video.start_time or 0) * float(base or 0):
                break
        if chosen is None:
            return None
        scale = side / max(chosen.width, chosen.height, 1)
        width, height = max(1, round(chosen.width * scale)), max(1, round(chosen.height * scale))
        return chosen.to_image(width=width, height=height)
    except Exception:  # any damage: no picture, the row is still shown
        return None
    finally:
        container.close()
