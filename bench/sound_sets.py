"""Real sounds with known kinds, from installed Debian packages (nothing is downloaded).

    sudo apt-get install --no-install-recommends gcompris-qt-data sound-theme-freedesktop \
        oxygen-sounds sound-icons pingus-data frozen-bubble-data

Two parts, made by different people, so settings chosen on one are honestly tested on the
other:
- tune: GCompris's activity sounds (gcompris-qt-data 3.1, Qt resource bundles): farm
  animals, dogs, instruments, world music, water, factory noise, vehicles;
- held_out: the freedesktop and Oxygen desktop sound themes, speech-dispatcher's sound
  icons, Pingus and Frozen Bubble.

Kinds were written down from the file names (before any figure was seen) into a few coarse
classes: animal, instrument (pitched), percussion, music, speech, water, machine, vehicle,
alert (desktop chimes and beeps). Sounds whose name does not say clearly stay unlabelled:
they are in the gallery as distractors but are never queries. A package that is not
installed is skipped, and `missing` says so. Files with identical bytes are kept once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

GCOMPRIS_RCC = Path("/usr/share/gcompris-qt/rcc")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
OXYGEN = Path("/usr/share/sounds")
SOUND_ICONS = Path("/usr/share/sounds/sound-icons")
PINGUS = Path("/usr/share/games/pingus/data/sounds")
FROZEN_BUBBLE = Path("/usr/share/games/frozen-bubble/snd")
_AUDIO = (".wav", ".ogg", ".oga")

# (pattern on "bundle/name" or the file name, kind); the first match wins.
GCOMPRIS_KINDS = [
    (r"^explore_farm_animals/", "animal"),
    (r"LRBark_", "animal"),
    (r"^explore_world_music/|^core/intro\.", "music"),
    (
        r"^instruments/(tambourine|snare_drum|bongo|triangle|cymbal|timpani|maracas|drum_kit"
        r"|castanets)\.",
        "percussion",
    ),
    (r"^instruments/|xylofon_son|guitar_son|guitar_melody", "instrument"),
    (r"water_fill|^clickgame/(drip|bubble)|^core/water\.|^watercycle/bubble|LRRain_", "water"),
    (r"LRFactory_noise", "machine"),
    (r"^traffic/car|^railroad/train|^guessnumber/helicopter|CarEngine|LRTrain_", "vehicle"),
]
HELD_OUT_KINDS = [
    (r"^audio-channel-|^(goodidea|letsgo|ohno|yipee)\.", "speech"),
    (
        r"^(cembalo|chord|electric-piano|guitar|klavichord|piano|trumpet|violoncello|xylofon)",
        "instrument",
    ),
    (r"^(percussion|cymbaly)-", "percussion"),
    (r"^(frozen-mainzik|introzik)", "music"),
    (r"^(canary|cockchafer|gummy-cat)", "animal"),
    (r"^(splash|glass-water)", "water"),
    (
        r"^(alarm-clock|bell|complete|dialog-|message|window-attention|window-question"
        r"|service-log|device-(added|removed)|network-connectivity|power-(un)?plug"
        r"|suspend-error|audio-volume-change)|^Oxygen-(Sys|Im|K3B)-",
        "alert",
    ),
]


@dataclass
class SoundSet:
    """Files (written to a folder) and their kinds (None: unlabelled distractor)."""

    name: str
    kinds: dict[Path, str | None] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def labelled(self) -> list[Path]:
        return [p for p, k in self.kinds.items() if k]


def _kind(key: str, rules: list[tuple[str, str]]) -> str | None:
    return next((kind for pattern, kind in rules if re.search(pattern, key)), None)


def _add(sound_set: SoundSet, seen: set[str], path: Path, data: bytes, kind: str | None) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest in seen:
        return
    seen.add(digest)
    path.write_bytes(data)
    sound_set.kinds[path] = kind


def tuning_set(folder: Path) -> SoundSet:
    """GCompris's sounds, copied out of its resource bundles into `folder`."""
    from bench.tune_gcompris import read_rcc

    out, seen = SoundSet("tune"), set[str]()
    if not GCOMPRIS_RCC.is_dir():
        out.missing.append("gcompris-qt-data")
        return out
    folder.mkdir(parents=True, exist_ok=True)
    for bundle in sorted(GCOMPRIS_RCC.glob("*.rcc")):
        for inner, data in sorted(read_rcc(bundle).items()):
            name = inner.rsplit("/", 1)[-1]
            if not name.lower().endswith(_AUDIO) or name == "silence.wav":
                continue
            key = f"{bundle.stem}/{name}"
            _add(out, seen, folder / f"{bundle.stem}__{name}", data, _kind(key, GCOMPRIS_KINDS))
    return out


def held_out_set(folder: Path) -> SoundSet:
    """The desktop themes' and games' sounds, copied into `folder`."""
    out, seen = SoundSet("held_out"), set[str]()
    folder.mkdir(parents=True, exist_ok=True)
    sources = [
        ("sound-theme-freedesktop", FREEDESKTOP, "*.oga"),
        ("oxygen-sounds", OXYGEN, "Oxygen-*.ogg"),
        ("sound-icons", SOUND_ICONS, "*.wav"),
        ("pingus-data", PINGUS, "*.wav"),
        ("frozen-bubble-data", FROZEN_BUBBLE, "*.ogg"),
    ]
    for package, where, pattern in sources:
        files = sorted(where.glob(pattern)) if where.is_dir() else []
        if not files:
            out.missing.append(package)
        for path in files:
            if path.is_symlink() or path.name == "audio-test-signal.oga":
                continue
            kind = _kind(path.name, HELD_OUT_KINDS)
            _add(out, seen, folder / f"{package}__{path.name}", path.read_bytes(), kind)
    return out
