"""Audio decoding: any supported file to mono float32 at 16 kHz, in bounded blocks, plus tags.

libsndfile (soundfile) reads WAV, FLAC, Ogg/Vorbis/Opus and AIFF quickly; MP3, M4A/AAC, WMA
and anything libsndfile refuses go through PyAV, whose wheel carries FFmpeg, so no system
codec is needed. Blocks are resampled with one streaming resampler, so block edges
leave no seams, and an hour-long podcast never sits in memory whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError, open_regular, read_failure

SAMPLE_RATE = 16_000  # what Whisper and the acoustic features expect
MAX_SECONDS = 6 * 3600  # beyond six hours a recording is indexed up to this point only

# libsndfile is fastest for these; MP3 goes to FFmpeg, because libsndfile's mpg123 prints
# "Note: Trying to resync…" on stderr for every damaged frame.
_LIBSNDFILE_FIRST = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".w64", ".caf"}
)
_TAG_KEYS = ("title", "artist", "album", "albumartist", "genre", "comment", "description", "date")


@dataclass(frozen=True)
class Block:
    """A run of samples and where it starts in the recording."""

    start: float  # seconds from the beginning
    samples: np.ndarray  # mono float32 at the rate asked for (SAMPLE_RATE by default)


@dataclass
class AudioStream:
    """What is known about a recording before and while its blocks are read."""

    codec: str
    native_rate: int
    channels: int
    duration: float | None  # from the header; None when the container does not say
    truncated: bool = False  # decoding stopped early on damaged data (what came before is kept)
    capped: bool = False  # longer than MAX_SECONDS: the rest was not read


def read_blocks(
    path: str, block_seconds: float, rate: int = SAMPLE_RATE
) -> tuple[AudioStream, Iterator[Block]]:
    """Open `path` and return its description and an iterator of mono blocks at `rate`;
    DecodeError if unusable.

    The iterator raises DecodeError only if the very first block cannot be read; damage later
    on ends the stream and sets `truncated`, so a cut-off download still gets indexed.
    """
    if os.path.splitext(path)[1].lower() in _LIBSNDFILE_FIRST:
        try:
            return _soundfile_blocks(path, block_seconds, rate)
        except DecodeError:
            raise
        except Exception:  # libsndfile refuses the content: let FFmpeg try
            pass
    return _pyav_blocks(path, block_seconds, rate)


def _soundfile_blocks(
    path: str, block_seconds: float, rate: int
) -> tuple[AudioStream, Iterator[Block]]:
    import soundfile

    try:
        handle = open_regular(path)
    except DecodeError:
        raise
    try:
        sound = soundfile.SoundFile(handle)
    except Exception:
        handle.close()
        raise
    if sound.samplerate <= 0 or sound.channels <= 0:
        sound.close()
        handle.close()
        raise DecodeError("not a readable audio file (no sample rate or channels)")
    frames = sound.frames if 0 < sound.frames < 2**62 else None  # MP3 may report nonsense
    stream = AudioStream(
        codec=f"{sound.format}/{sound.subtype}".lower(),
        native_rate=sound.samplerate,
        channels=sound.channels,
        duration=frames / sound.samplerate if frames else None,
    )

    def chunks() -> Iterator[np.ndarray]:
        # A few seconds at a time: 60 s of 8-channel 192 kHz audio would be 370 MB.
        per_block = max(1, int(min(block_seconds, 5.0) * sound.samplerate))
        try:
            while True:
                data = sound.read(per_block, dtype="float32", always_2d=True)
                if not len(data):
                    return
                yield data.mean(axis=1)
        finally:
            sound.close()
            handle.close()

    return stream, _rechunked(chunks(), stream, block_seconds, rate, resample=True)


def _pyav_blocks(path: str, block_seconds: float, rate: int) -> tuple[AudioStream, Iterator[Block]]:
    import av

    try:
        open_regular(path).close()  # the same refusal of FIFOs and devices as everywhere
        container = av.open(path, metadata_errors="ignore")
    except DecodeError:
        raise
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise read_failure(exc) from None
        raise DecodeError(f"not a readable audio file ({_short(exc)})") from None
    except Exception as exc:
        raise DecodeError(f"not a readable audio file ({_short(exc)})") from None
    if not container.streams.audio:
        container.close()
        raise DecodeError("no audio stream in the file")
    audio = container.streams.audio[0]
    if audio.codec_context is None:  # FFmpeg found a stream but has no decoder for it
        container.close()
        raise DecodeError("not a readable audio file (no decoder for its codec)")
    duration = None
    if audio.duration is not None and audio.time_base is not None:
        duration = float(audio.duration * audio.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    stream = AudioStream(
        codec=str(audio.codec_context.name),
        native_rate=int(audio.rate or 0),
        channels=int(audio.channels or 0),
        duration=duration,
    )

    def chunks() -> Iterator[np.ndarray]:
        # FFmpeg resamples and downmixes here; the float32 output is already at `rate`.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in container.decode(audio):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
        finally:
            container.close()

    return stream, _rechunked(chunks(), stream, block_seconds, rate, resample=False)


def _rechunked(
    chunks: Iterator[np.ndarray],
    stream: AudioStream,
    block_seconds: float,
    rate: int,
    *,
    resample: bool,
) -> Iterator[Block]:
    """Blocks of exactly `block_seconds` at `rate` (the last may be shorter)."""
    converter = None
    if resample and stream.native_rate != rate:
        import soxr

        converter = soxr.ResampleStream(stream.native_rate, rate, 1, dtype="float32")
    size = int(block_seconds * rate)
    limit = int(MAX_SECONDS * rate)
    pending: list[np.ndarray] = []
    held = emitted = 0
    started = False
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            chunk = None
        except Exception as exc:
            if not started and not held:
                raise DecodeError(f"not a readable audio file ({_short(exc)})") from None
            stream.truncated = True  # keep what decoded before the damage
            chunk = None
        last = chunk is None
        if converter is not None:
            chunk = converter.resample_chunk(
                chunk if chunk is not None else np.zeros(0, np.float32), last=last
            )
        if chunk is not None and len(chunk):
            # NaN/inf from a damaged float WAV would poison every feature computed later.
            pending.append(np.nan_to_num(np.asarray(chunk, dtype=np.float32), copy=False))
            held += len(chunk)
        while held >= size or (last and held):
            joined = np.concatenate(pending)
            block, rest = joined[:size], joined[size:]
            pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
            if emitted + len(block) > limit:
                block = block[: limit - emitted]
                stream.capped = True
                last = True
                pending, held = [], 0
            if len(block):
                started = True
                yield Block(emitted / rate, np.clip(block, -1.0, 1.0))
                emitted += len(block)
        if last:
            if not started:
                raise DecodeError("no audio samples in the file")
            return


def read_tags(path: str) -> dict[str, str]:
    """Embedded tags (ID3, Vorbis comments, MP4 atoms…) that describe the content, if any."""
    try:
        import mutagen

        with open_regular(path) as handle:
            tagged: Any = mutagen.File(handle, easy=True)
    except Exception:  # tags are a bonus: a file mutagen cannot parse may still decode
        return {}
    if tagged is None or not tagged.tags:
        return {}
    out = {}
    for key in _TAG_KEYS:
        try:
            values = tagged.tags.get(key)
        except Exception:
            continue
        if values:
            text = "; ".join(str(v) for v in values if str(v).strip())[:300]
            if text:
                out[key] = text
    return out


def _short(exc: Exception) -> str:
    # FFmpeg errors carry an errno-like code and the path; the reason alone is what helps.
    reason = getattr(exc, "strerror", None)
    text = reason or (str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    text = text or type(exc).__name__
    return text[:120]
