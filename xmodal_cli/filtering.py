"""Filters on what a file is rather than what it shows: when it was taken, where, how big or
long, which camera. Parsed here from what people type (`2023-06`, `30d`, `1MB`, `10m`,
`Lisbon`); store/facets.py turns them into the SQL that search pushes into FAISS.

Dates are local wall-clock times, like the EXIF times they are compared with (EXIF has no
time zone); a file without a date taken (EXIF, else a recording's date tag) is dated by its
modification time, read in this machine's zone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from xmodal_cli.errors import UsageError

_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_DATE_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}
_DATE_FORMATS = ("%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
DEFAULT_RADIUS_KM = 10.0


@dataclass(frozen=True)
class Facets:
    """File-level restrictions; every field empty means none. Bounds are inclusive."""

    after: str | None = None  # local time, "YYYY-MM-DD HH:MM:SS"
    before: str | None = None
    exts: tuple[str, ...] = ()  # lower case, no dot
    min_size: int | None = None  # bytes
    max_size: int | None = None
    longer: float | None = None  # seconds, recordings and videos only
    shorter: float | None = None
    near: tuple[float, float, float] | None = None  # latitude, longitude, radius in km
    camera: str | None = None  # a case-insensitive part of "Make Model"

    def __bool__(self) -> bool:
        return any(value not in (None, ()) for value in vars(self).values())


def make_facets(  # noqa: PLR0913 (one parameter per command-line filter)
    *,
    after: str | None = None,
    before: str | None = None,
    exts: Iterable[str] = (),
    min_size: str | None = None,
    max_size: str | None = None,
    longer: str | None = None,
    shorter: str | None = None,
    near: str | None = None,
    radius: float | None = None,
    camera: str | None = None,
    now: dt.datetime | None = None,
) -> Facets:
    """Parse the filters as typed; a bad value is a UsageError that shows a good one."""
    now = now or dt.datetime.now()
    facets = Facets(
        after=_when(after, now, "--after", end=False) if after else None,
        before=_when(before, now, "--before", end=True) if before else None,
        exts=tuple(_extensions(exts)),
        min_size=parse_size(min_size, "--min-size") if min_size else None,
        max_size=parse_size(max_size, "--max-size") if max_size else None,
        longer=parse_duration(longer, "--longer") if longer else None,
        shorter=parse_duration(shorter, "--shorter") if shorter else None,
        near=_place(near, radius) if near else None,
        camera=camera.strip() or None if camera else None,
    )
    if radius is not None and not near:
        raise UsageError("--radius needs --near", "try: --near Lisbon --radius 25")
    for low, high, name in (
        (facets.after, facets.before, "--after is later than --before"),
        (facets.min_size, facets.max_size, "--min-size is above --max-size"),
        (facets.longer, facets.shorter, "--longer is above --shorter"),
    ):
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise UsageError(name, "swap the two values: both bounds are inclusive")
    return facets


def _when(text: str, now: dt.datetime, option: str, *, end: bool) -> str:
    """The first (or, with `end`, last) second of a date, month, year or relative age."""
    value = text.strip().replace("T", " ")
    relative = re.fullmatch(r"(\d+)\s*([hdwy]|mo)", value.lower())
    if relative:
        count, unit = int(relative[1]), relative[2]
        if unit in ("mo", "y"):
            months = count * (12 if unit == "y" else 1)
            year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
            moment = now.replace(year=year, month=month + 1, day=min(now.day, 28))
        else:
            moment = now - count * _DATE_UNITS[unit]
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    for form in _DATE_FORMATS:
        try:
            start = dt.datetime.strptime(value, form)
        except ValueError:
            continue
        if not end:
            return start.strftime("%Y-%m-%d %H:%M:%S")
        last = _end_of(start, form)
        return last.strftime("%Y-%m-%d %H:%M:%S")
    raise UsageError(
        f"{option}: cannot read {text!r} as a date",
        "use 2023, 2023-06, 2023-06-01, '2023-06-01 18:30', or an age: 12h, 30d, 2w, 6mo, 1y",
    )


def _end_of(start: dt.datetime, form: str) -> dt.datetime:
    """The last second of the year, month, day or minute that `start` was written as."""
    if form == "%Y":
        following = start.replace(year=start.year + 1)
    elif form == "%Y-%m":
        year, month = divmod(start.month, 12)
        following = start.replace(year=start.year + year, month=month + 1)
    elif form == "%Y-%m-%d":
        following = start + dt.timedelta(days=1)
    elif form == "%Y-%m-%d %H:%M":
        following = start + dt.timedelta(minutes=1)
    else:
        return start
    return following - dt.timedelta(seconds=1)


def parse_size(text: str, option: str = "size") -> int:
    """Bytes from `500k`, `1MB`, `2.5G`, `1MiB` (k/M/G are powers of 1000; KiB/MiB of 1024)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", text.strip().lower())
    if not found:
        raise UsageError(
            f"{option}: cannot read {text!r} as a size", "use bytes or a unit: 500k, 1MB, 2GiB"
        )
    number, unit, binary = float(found[1]), found[2], found[3]
    if binary and not unit:
        raise UsageError(f"{option}: cannot read {text!r} as a size", "use 500KiB or 500k")
    scale = 1024 ** "bkmgt".index(unit) if binary else _SIZE_UNITS[unit]
    return int(number * scale)


def parse_duration(text: str, option: str = "duration") -> float:
    """Seconds from `90s`, `10m`, `1h30m`, `1:30`, `1:02:03` or a bare number of seconds."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(:\d{1,2}){1,2}", value):
        seconds = 0.0
        for part in value.split(":"):
            seconds = seconds * 60 + int(part)
        return seconds
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", value)
    if not value or not parts:
        raise UsageError(
            f"{option}: cannot read {text!r} as a length",
            "use seconds or units: 90s, 10m, 1h30m, 1:30",
        )
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def _extensions(values: Iterable[str]) -> list[str]:
    out = []
    for value in values:
        for part in value.split(","):
            ext = part.strip().lower().lstrip(".")
            if not re.fullmatch(r"[a-z0-9]{1,10}", ext):
                raise UsageError(f"--ext: {part!r} is not a file extension", "try: --ext jpg")
            out.append(ext)
    return out


def _place(text: str, radius: float | None) -> tuple[float, float, float]:
    km = DEFAULT_RADIUS_KM if radius is None else radius
    if not 0 < km <= 5000:
        raise UsageError(f"--radius {radius} is out of range", "give kilometres, e.g. --radius 25")
    point = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", text)
    if point:
        lat, lon = float(point[1]), float(point[2])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise UsageError(f"--near {text}: not a latitude,longitude", "try: --near 38.72,-9.14")
        return lat, lon, km
    from xmodal_cli import places

    found = places.locate(text)
    if found is None:
        raise UsageError(
            f"--near: no town called {text!r} in the offline gazetteer (towns over 15,000 people)",
            "give the nearest larger town, 'Name, CC' with a country code, or LAT,LON",
        )
    return found[0], found[1], km
