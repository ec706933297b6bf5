"""Words that must match: what goes into the lexical index, and the files it finds.

Dense vectors blur exact words (an invoice number, a surname, a file name). The catalog
keeps each file's path and the text people or speech put in it in SQLite FTS5
(store/catalog_lexical.py); a plain query's content words (stopwords dropped) must all occur
in one row for it to match. A match is evidence of relevance, weighed in relevance.py
beside the dense score, never a replacement for it: a file found only by its words still
gets its raw cosine, computed here from its stored vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xmodal_cli.recordings import DESCRIPTION
from xmodal_cli.store.catalog_lexical import WordHit, terms_of

if TYPE_CHECKING:
    from xmodal_cli.decoder import Decoded
    from xmodal_cli.query import Query
    from xmodal_cli.store.catalog import Catalog

CANDIDATES = 200  # files matching alike beyond which their words say nothing (< 0.001)
MOST_ROWS = 5000  # rows read to find them; a word in more rows is not looked up
MAX_TERMS = 12  # a pasted paragraph is not a lookup of exact words


def words_of(decoded: Decoded) -> list[tuple[str, int, str]]:
    """(kind, position, text) rows of a decoded file: its passages and transcript lines
    (not the machine-made description of a recording), and the captions, keywords and tags
    that people wrote into or beside it. The path is added by the catalog itself."""
    from xmodal_cli.captions import captions_of  # it imports evaluation, which imports search

    rows = [
        ("passage", p.position, p.snippet)
        for p in decoded.passages
        if p.position != DESCRIPTION and p.snippet.strip()
    ]
    record = decoded.record
    rows += [("caption", -1, c.text) for c in captions_of(record.path, record.modality)]
    return rows


def query_terms(query: Query) -> list[str]:
    """The words a file must hold to match: those of a plain query, or of a compound one's
    + terms (its - terms lower what they name through the vectors alone)."""
    said = " ".join(t.text for t in query.terms if t.text is not None and t.weight > 0)
    terms = terms_of(said)
    return terms if len(terms) <= MAX_TERMS else []


@dataclass(frozen=True)
class FileMatch:
    """A file whose words hold every query term: its best row, and how many files match."""

    file_id: int
    path: str
    modality: str
    kind: str
    position: int
    body: str
    files: int  # how many files match the same words (this one among them)


def matching_files(catalog: Catalog, terms: list[str]) -> list[FileMatch]:
    """Files holding every term in one row (its path, a passage, a caption); none when more
    than CANDIDATES files do, whose evidence would be nil (relevance.words)."""
    hits: list[WordHit] = catalog.words.search(terms, MOST_ROWS) if terms else []
    best: dict[int, WordHit] = {}
    for hit in hits:  # a passage or caption shows why; the path says less
        if hit.file_id not in best or best[hit.file_id].kind == "name":
            best[hit.file_id] = hit
    if len(best) > CANDIDATES:
        return []
    return [
        FileMatch(h.file_id, h.path, h.modality, h.kind, h.position, h.body, len(best))
        for h in best.values()
    ]


def best_item(
    catalog: Catalog, file_id: int, space: str, dim: int, query: np.ndarray
) -> tuple[int, int, float] | None:
    """(item id, position, cosine) of the file's item in `space` closest to `query`."""
    ids, positions = catalog.words.items_of(file_id, space)
    if not ids:
        return None
    found, vectors = catalog.vectors_by_id(space, ids, dim)
    if not len(found):
        return None
    scores = vectors @ query.astype(np.float32)
    best = int(np.argmax(scores))
    position = positions[ids.index(int(found[best]))]
    return int(found[best]), position, float(scores[best])
