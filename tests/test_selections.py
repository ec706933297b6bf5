"""A filter's selection is remembered by a reader only while the catalog is unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xmodal_cli.filtering import make_facets
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.catalog_select import KEPT_SELECTIONS
from xmodal_cli.store.facets import clause
from xmodal_cli.store.rows import NewItem


def _add(writer: Catalog, path: str, modality: str = "image", size: int = 1) -> int:
    with writer.transaction():
        file_id = writer.add_file(path, modality, size, 1, f"h-{path}", {})
        writer.add_items(file_id, [NewItem("text", 0, None, np.ones(4, np.float32) / 2)])
    return file_id


def test_the_same_filter_is_answered_from_memory_until_the_catalog_changes(
    tmp_path: Path,
) -> None:
    writer = Catalog.open(tmp_path, create=True)
    for n in range(6):
        _add(writer, f"/photos/{'rare' if n % 3 == 0 else 'common'}/{n}.jpg")
    reader = Catalog.open(tmp_path)
    first = reader.matching_items("text", "image", ("/photos/rare",), most=100)
    again = reader.matching_items("text", "image", ("/photos/rare",), most=100)
    assert first is not None and len(first) == 2
    assert again is first and not first.flags.writeable  # shared, so nobody may change it
    other = reader.matching_items("text", "image", ("/photos/common",), most=100)
    assert other is not None and len(other) == 4

    _add(writer, "/photos/rare/9.jpg")  # another connection commits: data_version moves
    after = reader.matching_items("text", "image", ("/photos/rare",), most=100)
    assert after is not None and len(after) == 3 and after is not first

    # The writer's own changes do not move its data_version; its change count does.
    mine = writer.matching_items("text", "image", ("/photos/rare",), most=100)
    with writer.transaction():
        writer.delete_files([_add_id(writer, "/photos/rare/0.jpg")])
    fewer = writer.matching_items("text", "image", ("/photos/rare",), most=100)
    assert mine is not None and len(mine) == 3
    assert fewer is not None and len(fewer) == 2
    reader.close()
    writer.close()


def _add_id(catalog: Catalog, path: str) -> int:
    row = catalog.file_by_path(path)
    assert row is not None
    return row.id


def test_too_many_and_facet_selections_are_remembered_and_bounded(tmp_path: Path) -> None:
    writer = Catalog.open(tmp_path, create=True)
    for n in range(5):
        _add(writer, f"/p/{n}.jpg", size=10 * (n + 1))
    assert writer.matching_items("text", "image", (), most=3) is None  # broad: after search
    assert writer.matching_items("text", "image", (), most=3) is None
    big = clause(make_facets(min_size="30"))
    kept = writer.matching_items("text", "image", (), 100, big)
    assert kept is not None and len(kept) == 3
    for n in range(KEPT_SELECTIONS + 2):  # older selections fall out; answers stay right
        found = writer.matching_items("text", "image", (f"/p/{n}.jpg",), most=10)
        assert found is not None and len(found) == (1 if n < 5 else 0)
    again = writer.matching_items("text", "image", (), 100, big)
    assert again is not None and sorted(again.tolist()) == sorted(kept.tolist())
    writer.close()
