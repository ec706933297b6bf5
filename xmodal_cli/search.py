"""Answer queries: encode per space → exact FAISS search → filter → collapse to files → fuse.

Scores from different spaces (or from different modalities, whose cosine ranges differ even
inside one space) are never compared raw: each (space, modality) list is ranked on its own,
its scores are calibrated against that modality's score distribution for this very query
(see store/calibration.py), and the lists are merged by calibrated score. The `score` shown
is the raw cosine in the space that found the file, so it stays meaningful for --min-score.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli import relevance
from xmodal_cli.errors import UsageError, XmodalError
from xmodal_cli.filtering import Facets
from xmodal_cli.lexical import FileMatch, best_item, matching_files, query_terms
from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import chunk_text, read_text
from xmodal_cli.models import Profile
from xmodal_cli.query import Query, pair_vector, parse_query, plan_spaces
from xmodal_cli.recordings import DESCRIPTION, analyse_for
from xmodal_cli.scan import is_under, modality_of
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.facets import clause
from xmodal_cli.store.vectors import VectorStore
from xmodal_cli.videos import video_vectors

MODALITIES = ("audio", "image", "text", "video")
PUSH_DOWN_BELOW = 0.25  # a filter keeping less than this share of a space runs inside FAISS
FACETS_SELECTED_AT_MOST = 20_000  # more items than this meeting --after, --near…: checked after
# (space, type, encoded query) -> the query that searches that type there: `xmodal tune`'s
# adapter (adapter.py); it changes queries only, never stored vectors
QueryAdapter = Callable[[str, str, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Filters:
    """Restrictions applied to hits before they are counted towards the limit."""

    types: frozenset[str] = frozenset()  # empty: the command's default
    under: tuple[str, ...] = ()
    min_score: float | None = None
    exclude_paths: frozenset[str] = frozenset()
    facets: Facets | None = None  # date, place, size, length, camera: checked in SQL
    min_relevance: float | None = None  # checked on the fused list (relevance.py)

    def accepts(self, path: str, modality: str, score: float) -> bool:
        if (self.types and modality not in self.types) or path in self.exclude_paths:
            return False
        if self.min_score is not None and score < self.min_score:
            return False
        return not self.under or any(is_under(path, root) for root in self.under)


@dataclass
class Result:
    """One file in the answer, with the passage or caption that matched best."""

    rank: int
    score: float
    type: str
    path: str
    snippet: str
    space: str
    position: int
    info: dict[str, Any] = field(default_factory=dict)
    calibrated: float = 0.0  # z: this query's score against others of the file's type
    relevance: float = 0.0  # the ranking key: 0-1, comparable across types (relevance.py)
    words: bool = False  # every content word of the query is in the file (lexical.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "path": self.path,
            "score": round(self.score, 4),
            "relevance": round(self.relevance, 4),
            **({"words_matched": True} if self.words else {}),
            "type": self.type,
            "snippet": self.snippet,
            "space": self.space,
            "position": self.position,
            **(
                {"start_seconds": max(self.position, 0)}
                if self.type == "video" or (self.type == "audio" and self.position >= 0)
                else {}
            ),
            **({"info": self.info} if self.info else {}),
        }


def make_filters(
    types: Iterable[str] = (),
    under: Iterable[Path] = (),
    min_score: float | None = None,
    facets: Facets | None = None,
    min_relevance: float | None = None,
) -> Filters:
    """Validate user filters (unknown type is a usage error)."""
    chosen = frozenset(types)
    unknown = chosen - set(MODALITIES)
    if unknown:
        raise UsageError(
            f"unknown type {sorted(unknown)[0]!r}", f"use one of: {', '.join(MODALITIES)}"
        )
    return Filters(
        types=chosen,
        under=tuple(os.path.abspath(p.expanduser()) for p in under),
        min_score=min_score,
        facets=facets or None,
        min_relevance=min_relevance,
    )


def search_text(
    query: str | Query,
    *,
    vectors: VectorStore,
    profile: Profile,
    limit: int = 10,
    filters: Filters | None = None,
    adapt: QueryAdapter | None = None,
) -> list[Result]:
    """Files that best match a text or compound query (its words mapped by `adapt`, if
    given); the grammar and how terms combine live in query.py. --like files are left out."""
    parsed = query if isinstance(query, Query) else parse_query([query], plain=True)
    filters = filters or Filters()
    examples = {
        path: _query_vectors(path, _example(Path(path)), vectors.catalog, profile)
        for path in parsed.examples
    }
    filters = dataclasses.replace(filters, exclude_paths=filters.exclude_paths | set(examples))
    pairs = plan_spaces(parsed, sorted(filters.types or MODALITIES), profile, examples)
    spaces = frozenset(space for _, space in pairs)
    texts = dict.fromkeys(t.text for t in parsed.terms if t.text is not None)
    encoded = {text: profile.encode_query(text, spaces) for text in texts}  # once per term
    adapt = adapt or (lambda _space, _modality, vector: vector)
    lists, asked = [], {}
    for modality, space in pairs:
        words = {
            text: adapt(space, modality, by_space[space]) for text, by_space in encoded.items()
        }
        vector = asked[(modality, space)] = pair_vector(parsed, space, words, examples)
        lists.append(_search_space(vectors, space, vector, modality, filters, limit))
    found = {hit.path for hits in lists for hit in hits}
    matches = matching_files(vectors.catalog, query_terms(parsed))
    lists.append(_found_by_words(vectors, matches, found, asked, profile.text_space, filters))
    return _fuse(lists, limit, {m.path: m.files for m in matches}, filters.min_relevance)


def search_similar(
    path: Path,
    *,
    vectors: VectorStore,
    profile: Profile,
    limit: int = 10,
    filters: Filters | None = None,
) -> list[Result]:
    """Files most like `path` (indexed or not); the file itself is left out."""
    absolute = os.path.abspath(path.expanduser())
    modality = _example(path)
    base = filters or Filters()
    filters = dataclasses.replace(base, exclude_paths=base.exclude_paths | {absolute})
    targets = sorted(filters.types or {modality})
    # Words are only needed to reach other types: audio -> audio never runs Whisper.
    needs_text = targets != [modality] or profile.like_spaces.get(modality) == profile.text_space
    query = _query_vectors(absolute, modality, vectors.catalog, profile, needs_text)
    lists = []
    # Without --type, like finds like: `similar photo.jpg --paths | xargs feh` gets photos.
    for target in targets:
        # Like with like in the profile's space for that type (appearance, sound); across
        # types, files meet where documents live.
        alike = modality == target or {modality, target} == {"image", "video"}  # frames
        space = profile.like_spaces.get(modality, "") if alike else ""
        space = space if space in query else profile.text_space
        if space in query:
            lists.append(_search_space(vectors, space, query[space], target, filters, limit))
    return _fuse(lists, limit, {}, filters.min_relevance)


def _example(path: Path) -> str:
    """The type of a file given as an example (`similar FILE`, `search --like FILE`)."""
    absolute = os.path.abspath(path.expanduser())
    if not os.path.exists(absolute):
        raise XmodalError(
            f"file not found: {path}", "check the path; `xmodal status` shows what is indexed"
        )
    if os.path.isdir(absolute):
        raise UsageError(f"{path} is a folder", "give one image, recording or text file")
    modality = modality_of(absolute)
    if modality is None:
        raise UsageError(
            f"unsupported file type: {path}", "give an image, a recording or a text file"
        )
    return modality


def _query_vectors(
    path: str, modality: str, catalog: Catalog, profile: Profile, needs_text: bool = True
) -> dict[str, np.ndarray]:
    """Reuse the stored vectors of an indexed, unchanged file; otherwise encode it now."""
    row = catalog.file_by_path(path)
    if row is not None:
        stat = os.stat(path)
        if stat.st_size == row.size and stat.st_mtime_ns == row.mtime_ns:
            out = {}
            for space, dim in profile.spaces.items():
                stored = catalog.file_vectors(row.id, space, dim)
                if len(stored):
                    out[space] = _unit(stored.mean(axis=0))
            if out:
                return out
    try:
        if modality == "image":
            pixels = decode_image(path, profile.image_size).pixels
            encoded = profile.encode_images(pixels[None])
            return {space: m[0] for space, m in encoded.vectors.items()}
        if modality == "video":
            return video_vectors(path, profile, transcribe=needs_text)
        if modality == "audio":
            recording = analyse_for(path, profile, transcribe=needs_text)
            out = {}
            if needs_text:  # audio -> audio loads no text model
                texts = profile.encode_texts([p.text for p in recording.passages])
                out[profile.text_space] = _unit(texts.mean(axis=0))
            for space in {w.space for w in recording.windows}:
                stacked = np.stack([w.vector for w in recording.windows if w.space == space])
                out[space] = _unit(stacked.mean(axis=0))
            return out
        chunks = chunk_text(read_text(path), profile.passage_words)
        passages = profile.encode_texts([c.text for c in chunks])
        return {profile.text_space: _unit(passages.mean(axis=0))}
    except DecodeError as exc:
        raise XmodalError(f"cannot read {path}: {exc}") from None


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _search_space(
    vectors: VectorStore,
    space: str,
    query: np.ndarray,
    modality: str,
    filters: Filters,
    limit: int,
) -> list[Result]:
    """Best item per file of one modality, widening k until `limit` files pass the filters.

    A type or folder that holds few of the space's items is filtered inside FAISS (an id
    selector), so finding the only notes among a million photos costs one search, not a
    widening loop; a filter that keeps most items is cheaper to apply to the hits."""
    calibration = vectors.calibration()
    catalog = vectors.catalog
    size = vectors.size(space)
    allowed = None
    facets = filters.facets
    if filters.under or facets or calibration.share(space, modality) < PUSH_DOWN_BELOW:
        most = int(size * PUSH_DOWN_BELOW)
        # Finding out that a facet is broad reads rows until `most`: keep that short (a
        # million photos, --camera pixel: 1.5 s to collect 250k ids; 0.1 s for 20k).
        most = min(most, FACETS_SELECTED_AT_MOST) if facets else most
        allowed = catalog.matching_items(space, modality, filters.under, most, clause(facets))
        if allowed is not None and not len(allowed):
            return []
    # Facets that keep too many items to select in FAISS are checked on each round's hits.
    check = facets if allowed is None else None
    k = max(64, limit * 8)
    while True:
        scores, ids = vectors.search(space, query, k, allowed=allowed)
        rows = catalog.items_by_id(ids.tolist())
        calibrated = calibration.z_scores(space, modality, query, scores).tolist()
        kept = _meeting(catalog, space, modality, check, ids.tolist())
        best: dict[int, Result] = {}
        for score, z, item_id in zip(scores.tolist(), calibrated, ids.tolist(), strict=True):
            row = rows.get(item_id)
            if row is None or row.file_id in best:
                continue  # None: a vector whose row is gone (FAISS is rebuilt on next index)
            if row.modality != modality or not filters.accepts(row.path, row.modality, score):
                continue
            if kept is not None and item_id not in kept:
                continue
            best[row.file_id] = Result(
                rank=0,
                score=float(score),
                type=row.modality,
                path=row.path,
                snippet=_snippet(row.snippet, row.info, row.modality, row.position),
                space=space,
                position=row.position,
                info=row.info,
                calibrated=float(z),
                relevance=relevance.dense(z, calibration.counts.get((space, modality), 0)),
            )
            if len(best) >= limit:
                break
        below_floor = (
            filters.min_score is not None and len(scores) and scores[-1] < filters.min_score
        )
        exhausted = k >= size or len(ids) < k  # fewer hits than asked: nothing more to find
        if len(best) >= limit or exhausted or below_floor:
            return list(best.values())
        k *= 4


def _found_by_words(
    vectors: VectorStore,
    matches: list[FileMatch],
    found: set[str],
    asked: dict[tuple[str, str], np.ndarray],
    text_space: str,
    filters: Filters,
) -> list[Result]:
    """Files that match every word but that the dense search did not reach, scored as it
    would have: the cosine of their best item, and its relevance (lexical.py)."""
    calibration, catalog, out = vectors.calibration(), vectors.catalog, []
    for match in matches:
        spaces = [space for modality, space in asked if modality == match.modality]
        if match.path in found or not spaces:
            continue  # found already, or of a type not asked for
        space = text_space if text_space in spaces else spaces[0]
        query = asked[(match.modality, space)]
        best = best_item(catalog, match.file_id, space, vectors.spaces[space], query)
        if best is None or not filters.accepts(match.path, match.modality, best[2]):
            continue
        item_id, position, score = best
        kept = _meeting(catalog, space, match.modality, filters.facets, [item_id])
        if kept is not None and item_id not in kept:
            continue
        row = catalog.items_by_id([item_id])[item_id]
        text = match.body if match.kind != "name" else row.snippet
        position = match.position if match.kind == "passage" else position
        z = float(calibration.z_scores(space, match.modality, query, np.array([score]))[0])
        items = calibration.counts.get((space, match.modality), 0)
        out.append(
            Result(
                rank=0,
                score=score,
                type=match.modality,
                path=match.path,
                snippet=_snippet(text, row.info, match.modality, position),
                space=space,
                position=position,
                info=row.info,
                calibrated=z,
                relevance=relevance.dense(z, items),
            )
        )
    return out


def _meeting(
    catalog: Catalog, space: str, modality: str, facets: Facets | None, ids: list[int]
) -> set[int] | None:
    """Which of `ids` meet `facets` (None: no facets to check)."""
    if facets is None:
        return None
    kept: set[int] = set()
    for start in range(0, len(ids), 500):  # SQLite takes a bounded number of parameters
        part = ids[start : start + 500]
        found = catalog.matching_items(space, modality, (), len(part), clause(facets, part))
        kept.update(found.tolist() if found is not None else ())
    return kept


def _snippet(text: str | None, info: dict[str, Any], modality: str, position: int) -> str:
    parts = [text or ""]
    if modality == "image":
        parts += [str(info.get("taken") or ""), _place_of(info), str(info.get("camera") or "")]
    if modality in ("audio", "video") and position != DESCRIPTION:
        return f"{clock(position)} {text or ''}".rstrip()  # where in the recording
    return " · ".join(p for p in parts if p)


def _place_of(info: dict[str, Any]) -> str:
    """The town a photo's GPS position is in or near ("" without GPS)."""
    if not isinstance(info.get("lat"), float) or not isinstance(info.get("lon"), float):
        return ""
    from xmodal_cli.places import name_near

    return name_near(info["lat"], info["lon"]) or f"{info['lat']:.4f},{info['lon']:.4f}"


def clock(seconds: int) -> str:
    """12:34, or 1:02:03 past an hour."""
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _fuse(
    lists: list[list[Result]],
    limit: int,
    word_matches: dict[str, int],
    min_relevance: float | None,
) -> list[Result]:
    """One list, by relevance: each file once, with the relevance of its best hit (a
    recording can be found both by its sound and by its words), raised by a lexical match
    if it has one; at least `min_relevance`, or relevance.OTHER_TYPES_FROM for files of
    another type than the best hit's."""
    merged = sorted((hit for hits in lists for hit in hits), key=lambda h: -h.relevance)
    seen: set[str] = set()
    unique = []
    for hit in merged:
        if hit.path not in seen:
            seen.add(hit.path)
            unique.append(hit)
            if hit.path in word_matches:
                hit.words = True
                by_words = relevance.words(word_matches[hit.path])
                hit.relevance = relevance.combined(hit.relevance, by_words)
    merged = sorted(unique, key=lambda h: -h.relevance)  # stable: ties keep their order
    floor = min_relevance if min_relevance is not None else relevance.OTHER_TYPES_FROM
    # Without --min-relevance the best hit's type keeps its nearest files, as a search of
    # that type alone would; files of other types need some relevance of their own.
    lead = merged[0].type if merged and min_relevance is None else None
    out = [h for h in merged if h.relevance >= floor or h.type == lead][:limit]
    for rank, hit in enumerate(out, start=1):
        hit.rank = rank
    return out
