"""Score calibration: z-scores of a query against one modality have mean 0 and spread 1."""

from __future__ import annotations

import numpy as np

from xmodal_cli.store import calibration
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import NewItem


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_z_scores_put_two_modalities_on_one_scale(tmp_path):
    rng = np.random.default_rng(0)
    dim = 16
    centre = rng.standard_normal(dim)
    # "images" cluster tightly around one direction (high, narrow scores), "texts" spread out.
    images = _unit(centre + 0.3 * rng.standard_normal((3000, dim)))
    texts = _unit(rng.standard_normal((3000, dim)))
    catalog = Catalog.open(tmp_path, create=True)
    with catalog.transaction():
        for modality, vectors in (("image", images), ("text", texts)):
            for i, vector in enumerate(vectors):
                file_id = catalog.add_file(f"/{modality}/{i}", modality, 1, 1, str(i), {})
                catalog.add_items(file_id, [NewItem("text", 0, None, vector)])
        catalog.bump_generation()
    cal = calibration.compute(catalog, {"text": dim})
    query = _unit(rng.standard_normal((1, dim)))[0]
    for vectors, modality in ((images, "image"), (texts, "text")):
        z = cal.z_scores("text", modality, query, vectors @ query)
        assert abs(z.mean()) < 0.1 and 0.85 < z.std() < 1.1

    path = tmp_path / "calibration.npz"
    calibration.save(cal, path)
    again = calibration.load(path, catalog.generation)
    assert again is not None and set(again.stats) == {("text", "image"), ("text", "text")}
    assert calibration.load(path, catalog.generation + 1) is None


def test_unknown_pair_passes_raw_scores_through():
    cal = calibration.Calibration(0, {})
    scores = np.array([0.5, 0.1])
    assert np.array_equal(cal.z_scores("text", "audio", np.ones(4), scores), scores)
