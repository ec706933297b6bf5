"""The SQL condition of a set of file facets (filtering.py), over the indexed columns of
schema 5. Built here, run by the catalog: search pushes it into FAISS as an id selector when
it keeps few items, and checks hits against it when it keeps many."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from xmodal_cli.filtering import Facets
from xmodal_cli.places import EARTH_KM
from xmodal_cli.store.rows import Clause

_KM_PER_DEGREE = EARTH_KM * math.pi / 180
_LAST = 2**63 - 1
# Degrees of longitude between a file and the point, the short way round (SQLite's % is for
# integers only).
_DLON = "min(abs(files.lon - ?), 360.0 - abs(files.lon - ?))"


def clause(facets: Facets | None, among: Sequence[int] = ()) -> Clause:
    """One condition for all facets (and, if given, only the items `among`)."""
    parts: list[str] = []
    params: list[Any] = []
    if facets is not None:
        _add(facets, parts, params)
    if among:
        # Reached through the files' primary key: files are the outer loop of the query.
        marks = ",".join("?" * len(among))
        parts.append(f"files.id IN (SELECT file_id FROM items AS i WHERE i.id IN ({marks}))")
        parts.append(f"items.id IN ({marks})")
        params += [*among, *among]
    return Clause(" AND ".join(parts) or "1", tuple(params))


def _add(facets: Facets, parts: list[str], params: list[Any]) -> None:
    if facets.after or facets.before:
        # A file's date is its date taken; without one, its mtime read as local time. One OR
        # of two ranges on one index (files_when), so SQLite answers it from the index.
        parts.append(
            "((files.taken BETWEEN ? AND ?) "
            "OR (files.taken IS NULL AND files.mtime_ns BETWEEN ? AND ?))"
        )
        low, high = facets.after or "0000", facets.before or "9999"
        params += [low, high, _local_ns(facets.after, 0), _local_ns(facets.before, _LAST)]
    if facets.exts:
        parts.append("(" + " OR ".join(["files.path LIKE ?"] * len(facets.exts)) + ")")
        params += [f"%.{ext}" for ext in facets.exts]  # LIKE ignores ASCII case
    if facets.min_size is not None or facets.max_size is not None:
        parts.append("files.size BETWEEN ? AND ?")
        params += [facets.min_size or 0, _LAST if facets.max_size is None else facets.max_size]
    if facets.longer is not None or facets.shorter is not None:
        parts.append("files.duration BETWEEN ? AND ?")
        params += [facets.longer or 0.0, math.inf if facets.shorter is None else facets.shorter]
    if facets.near is not None:
        _add_near(facets.near, parts, params)
    if facets.camera:
        parts.append("files.camera LIKE ? ESCAPE '\\'")
        escaped = facets.camera.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")


def _add_near(near: tuple[float, float, float], parts: list[str], params: list[Any]) -> None:
    """A box around the point (the files_place index narrows to it), then the circle in it,
    flat-earth: plain arithmetic SQLite always has, within 0.5 % up to a few hundred km."""
    lat, lon, km = near
    dlat = km / _KM_PER_DEGREE
    shrink = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(dlat / shrink, 360.0)
    parts.append(
        "files.lat BETWEEN ? AND ? AND (files.lon BETWEEN ? AND ? OR files.lon BETWEEN ? AND ?) "
        f"AND (files.lat - ?) * (files.lat - ?) + {_DLON} * {_DLON} * ? <= ?"
    )
    # Across the antimeridian the box's longitudes continue on the other side.
    west, east = lon - dlon, lon + dlon
    wrapped = (west + 360, 180.0) if west < -180 else (-180.0, east - 360) if east > 180 else (1, 0)
    params += [lat - dlat, lat + dlat, west, east, *wrapped, lat, lat, lon, lon, lon, lon]
    params += [shrink * shrink, dlat * dlat]


def _local_ns(when: str | None, default: int) -> int:
    if when is None:
        return default
    return int(dt.datetime.strptime(when, "%Y-%m-%d %H:%M:%S").timestamp() * 1e9)
