"""One recording → items: acoustic windows, transcript passages, and a description in words.

The file is read in blocks of a few minutes (bounded memory for any length). Each 30-second
window gets a vector in the acoustic space; speech found by the voice-activity detector is
transcribed and grouped into passages that go into the shared text space with their start
time; and one description item says in words what can honestly be said about the rest:
tags, file and folder names, and the named traits of the sound.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.media import DecodeError
from xmodal_cli.media.audio import MAX_SECONDS, SAMPLE_RATE, Block, read_blocks, read_tags
from xmodal_cli.media.text import title_words
from xmodal_cli.models import SPACE_ACOUSTIC, Profile
from xmodal_cli.models.acoustic import SpectralFeatures, WindowTraits, shared_features
from xmodal_cli.models.whisper import Segment, Transcript

# Decoded (and transcribed) at a time: 4 MB of samples, and a Ctrl-C waits for one block.
BLOCK_SECONDS = 60.0
WINDOW_SECONDS = 30.0  # one acoustic item per window
# Transcript segments are joined into passages of the profile's length, but never longer
# than this: a passage's timestamp should point near every word in it.
MAX_TRANSCRIPT_WORDS = 60
DESCRIPTION = -1  # the position of the whole-file description item
MIN_TAIL_SECONDS = 3.0  # a last window shorter than this is left out (unless it is all)


@dataclass
class Passage:
    """Text-space item: what is encoded, what is shown, and where (seconds, or DESCRIPTION)."""

    position: int
    text: str
    snippet: str


@dataclass
class Window:
    """An item in an audio space (the acoustic one, or a learned one such as CLAP)."""

    space: str
    position: int
    snippet: str
    vector: np.ndarray


@dataclass(frozen=True)
class SoundEncoder:
    """A learned audio space's encoder: `encode` takes windows of `seconds` at `rate`."""

    rate: int
    seconds: float
    encode: Callable[[list[np.ndarray]], dict[str, np.ndarray]]


@dataclass
class Recording:
    passages: list[Passage] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def analyse_recording(
    path: str,
    *,
    features: SpectralFeatures,
    transcribe: Callable[[np.ndarray], Transcript] | None,
    sounds: SoundEncoder | None = None,
    block_seconds: float = BLOCK_SECONDS,
    passage_words: int = MAX_TRANSCRIPT_WORDS,
    cancelled: Callable[[], bool] = lambda: False,
) -> Recording:
    """Decode `path` block by block into items; DecodeError if it holds no usable audio.

    `sounds` adds a learned audio space, fed fixed windows from the block start (never a
    random crop, so the same file always gives the same vectors). `cancelled` is asked
    between blocks, so an interrupted run does not wait for the rest of an hour-long file."""
    rate = max(SAMPLE_RATE, sounds.rate if sounds else 0)
    stream, blocks = read_blocks(path, block_seconds, rate)
    out = Recording()
    traits: list[WindowTraits] = []
    segments: list[Segment] = []
    speech = seconds = 0.0
    for wide in blocks:
        if cancelled():
            raise DecodeError("cancelled")
        block = _at_16k(wide, rate)
        first = len(traits)
        acoustic: list[Window] = []
        step = int(WINDOW_SECONDS * SAMPLE_RATE)
        for offset in range(0, len(block.samples), step):
            piece = block.samples[offset : offset + step]
            if len(piece) < MIN_TAIL_SECONDS * SAMPLE_RATE and (offset or block.start):
                continue  # a short tail alone says little, and a fade-out would pass for a hit
            vector, trait = features.analyse(piece)
            start = block.start + offset / SAMPLE_RATE
            traits.append(trait)
            acoustic.append(
                Window(SPACE_ACOUSTIC, int(start), " · ".join(labels([trait])[0]), vector)
            )
        out.windows += acoustic
        if sounds is not None:
            out.windows += _learned_windows(wide, sounds, acoustic)
        seconds = block.start + len(block.samples) / SAMPLE_RATE
        if (
            not cancelled()
            and transcribe is not None  # a clip under a second only if a voice is heard
            and not all(t.silent for t in traits[first:])
        ):
            heard = transcribe(block.samples)
            if cancelled():
                raise DecodeError("cancelled")  # what was heard may stop mid-block
            speech += heard.speech_seconds
            segments += [
                Segment(s.start + block.start, s.end + block.start, s.text) for s in heard.segments
            ]
    tags = read_tags(path)
    short, phrases = labels(traits, speech_seconds=speech)
    title = title_words(path)
    folder = title_words(os.path.dirname(path))
    described = [p for p in (title, _tag_sentence(tags), *phrases) if p]
    if folder:
        described.append(f"in {folder}")
    out.passages.append(Passage(DESCRIPTION, ". ".join(described), " · ".join(short)))
    for start, text in _passages(segments, min(passage_words, MAX_TRANSCRIPT_WORDS)):
        out.passages.append(Passage(start, f"{title}: {text}" if title else text, text))
    out.info = {
        "duration": round(seconds, 2),
        "codec": stream.codec,
        "sample_rate": stream.native_rate,
        "channels": stream.channels,
        "speech_seconds": round(speech, 1),
        "sound": short,
        **({"tags": tags} if tags else {}),
        **_recorded(tags.get("date", "")),
        **({"truncated": True} if stream.truncated else {}),
        **({"capped_at_seconds": MAX_SECONDS} if stream.capped else {}),
    }
    return out


def analyse_for(
    path: str,
    profile: Profile,
    *,
    transcribe: bool = True,
    cancelled: Callable[[], bool] = lambda: False,
) -> Recording:
    """`analyse_recording` with everything `profile` brings: its Whisper, its learned audio
    space, its passage length. `transcribe=False` skips speech (audio -> audio needs none)."""
    return analyse_recording(
        path,
        features=shared_features(),
        transcribe=(lambda samples: profile.transcribe(samples, cancelled)) if transcribe else None,
        sounds=sound_encoder(profile),
        passage_words=profile.passage_words,
        cancelled=cancelled,
    )


def sound_encoder(profile: Profile) -> SoundEncoder | None:
    """The profile's learned audio space, if it has one."""
    if profile.sound_rate is None:
        return None
    return SoundEncoder(profile.sound_rate, profile.sound_window, profile.encode_sounds)


def _at_16k(block: Block, rate: int) -> Block:
    if rate == SAMPLE_RATE:
        return block
    import soxr

    return Block(block.start, soxr.resample(block.samples, rate, SAMPLE_RATE).astype(np.float32))


def _learned_windows(block: Block, sounds: SoundEncoder, acoustic: list[Window]) -> list[Window]:
    """Fixed windows of `sounds.seconds` from the block start; a tail under half a window is
    dropped unless it is the whole recording (a clip shorter than a window is repeat-padded
    by the encoder)."""
    size = int(sounds.seconds * sounds.rate)
    pieces = [block.samples[i : i + size] for i in range(0, len(block.samples), size)]
    if len(pieces[-1]) < size // 2 and (len(pieces) > 1 or block.start):
        pieces.pop()
    if not pieces:
        return []
    vectors = sounds.encode(pieces)
    out = []
    for index in range(len(pieces)):
        start = block.start + index * sounds.seconds
        # The snippet of the acoustic window it falls in: what this stretch sounds like.
        label = next((w.snippet for w in reversed(acoustic) if w.position <= start), "")
        for space, matrix in vectors.items():
            out.append(Window(space, int(start), label, matrix[index]))
    return out


def _passages(segments: list[Segment], most_words: int) -> list[tuple[int, str]]:
    """Join consecutive segments into passages of about `most_words` words."""
    out: list[tuple[int, str]] = []
    words: list[str] = []
    start = 0.0
    for segment in segments:
        if words and segment.start - start > WINDOW_SECONDS:  # keep timestamps meaningful
            out.append((int(start), " ".join(words)))
            words = []
        if not words:
            start = segment.start
        words += segment.text.split()
        if len(words) >= most_words:
            out.append((int(start), " ".join(words)))
            words = []
    if words:
        out.append((int(start), " ".join(words)))
    return out


def _recorded(date: str) -> dict[str, str]:
    """{"recorded": local "YYYY-MM-DD HH:MM:SS"} from a date tag precise to the day at least
    (a year alone, as music is tagged, says nothing about the recording: mtime dates it)."""
    found = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?", date.strip())
    if not found:
        return {}
    year, month, day, hour, minute, second = (part or "00" for part in found.groups())
    return {"recorded": f"{year}-{month}-{day} {hour}:{minute}:{second}"}


def _tag_sentence(tags: dict[str, str]) -> str:
    title = tags.get("title", "")
    artist = tags.get("artist") or tags.get("albumartist", "")
    parts = [title]
    if artist:
        parts.append(f"by {artist}")
    if tags.get("album"):
        parts.append(f"from the album {tags['album']}")
    if tags.get("genre"):
        parts.append(f"({tags['genre']})")
    comment = tags.get("comment") or tags.get("description", "")
    return " ".join(p for p in [*parts, comment] if p).strip()


# (short label shown in results, words encoded in the text space)
_SILENCE = ("silence", "silence, a quiet recording with nothing audible")
_SPEECH = ("speech", "speech, a person talking, a voice recording")
_HIT = ("percussive hit", "a short percussive hit: a drum, a kick, a knock, a clap, a slam")
_NOISE = {
    "white": ("white noise", "white noise, static, hiss"),
    "pink": ("pink noise", "pink noise, a steady rushing sound like rain or a waterfall"),
    "brown": ("brown noise", "brown noise, a deep rumble like wind or distant thunder"),
}


def labels(
    traits: list[WindowTraits], *, speech_seconds: float = 0.0
) -> tuple[list[str], list[str]]:
    """Short labels and descriptive phrases for a run of windows (most common first)."""
    # Short windows (a clip's only one aside) say little about a longer recording.
    traits = [t for t in traits if t.seconds >= MIN_TAIL_SECONDS] or traits
    sounding = [t for t in traits if not t.silent]
    if not sounding:
        return [_SILENCE[0]], [_SILENCE[1]]
    found: Counter[tuple[str, str]] = Counter()
    for trait in sounding:
        found[_kind(trait)] += 1
    heard = sum(t.seconds * t.sounding for t in sounding)
    if speech_seconds >= max(1.0, 0.2 * heard):
        found[_SPEECH] += len(sounding) + 1  # what is said outranks how it sounds
    kinds = [kind for kind, _ in found.most_common(2)]
    if kinds[0] == _SPEECH:
        # A voice is tonal, and a voice on a poor recording measures as noisy: beside
        # speech, only music or hits say something the transcript does not.
        kinds = [k for k in kinds if k in (_SPEECH, _HIT) or k[0].startswith("music")]
    pitched = any(k[0].startswith("pure tone") for k in kinds)
    rms = float(np.median([t.rms_db for t in sounding]))
    centroid = float(np.median([t.centroid_hz for t in sounding]))
    extra = []
    if rms > -14:
        extra.append(("loud", "loud"))
    elif rms < -38:
        extra.append(("quiet", "quiet, faint"))
    if pitched:
        pass  # the tone's frequency already says how high it is
    elif centroid < 450 and kinds[0][0] != "brown noise":
        extra.append(("low", "low-pitched, bass, boomy"))
    elif centroid > 3500 and kinds[0][0] != "white noise":
        extra.append(("bright", "bright, high-pitched"))
    chosen = kinds + extra
    return [c[0] for c in chosen], [c[1] for c in chosen]


def _kind(trait: WindowTraits) -> tuple[str, str]:
    if trait.attack_decay:
        return _HIT
    if trait.tone_hz is not None:
        hz = round(trait.tone_hz)
        return f"pure tone {hz} Hz", f"a pure tone, a beep, a sine wave test tone at {hz} Hz"
    if trait.flatness > 0.25 and trait.beat_strength < 0.3 and not trait.attack_decay:
        colour = "white" if trait.tilt > -1.5 else "pink" if trait.tilt > -4.5 else "brown"
        return _NOISE[colour]
    beats = trait.onsets_per_second * trait.seconds
    if trait.tempo_bpm and trait.beat_strength > 0.3 and beats >= 4:
        bpm = round(trait.tempo_bpm)
        return f"music {bpm} BPM", f"music with a steady beat, rhythm at {bpm} beats per minute"
    if trait.flatness < 0.05 and trait.seconds >= 3:
        return "tonal sound", "music or a sustained tonal sound, melody, chords, harmony"
    return "sound", "a sound recording, ambient sound"
