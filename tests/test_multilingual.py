"""Queries in other languages for lite: the router, the real USE model and map, and search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexOptions
from xmodal_cli.models import SPACE_TEXT, multilingual
from xmodal_cli.models.lite import LiteProfile


@pytest.mark.parametrize(
    ("text", "way"),
    [
        ("a cat sleeping on a sofa", multilingual.ENGLISH),
        ("sunset over the sea", multilingual.ENGLISH),
        ("invoice 4471", multilingual.ENGLISH),
        ("narwhals in the arctic", multilingual.ENGLISH),  # a plural WordNet knows by its stem
        ("一只猫睡在沙发上", multilingual.OTHER),  # Chinese
        ("кошка на диване", multilingual.OTHER),  # Cyrillic
        ("猫 cat", multilingual.OTHER),  # any letter of another script decides
        ("un chat qui dort sur un canapé", multilingual.OTHER),
        ("perro en la playa", multilingual.OTHER),
        ("eine Katze schläft auf dem Sofa", multilingual.OTHER),
        ("marteau", multilingual.OTHER),  # no English word at all
        ("Hammer, Werkzeuge", multilingual.UNSURE),  # an English word and an unknown noun
        ("the Taj Mahal at sunset", multilingual.UNSURE),  # English with a name: both ways
    ],
)
def test_route_by_script_and_words(text: str, way: str) -> None:
    assert multilingual.route(text) == way


@pytest.fixture(scope="module")
def translator() -> multilingual.Translator:
    return multilingual.Translator()


def test_the_map_carries_translations_next_to_their_english(
    translator: multilingual.Translator, lite_profile: LiteProfile
) -> None:
    english = ["a cat", "a red car", "a glass of beer", "a mountain with snow"]
    chinese = ["一只猫", "一辆红色的汽车", "一杯啤酒", "一座有雪的山"]
    french = ["un chat", "une voiture rouge", "un verre de bière", "une montagne enneigée"]
    target = lite_profile.encode_texts(english)
    for texts in (chinese, french, english):
        mapped = translator.encode(texts)
        assert mapped.shape == (4, 384)
        assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
        similarity = mapped @ target.T
        # each translation lands nearest its own English sentence, not the others
        assert (similarity.argmax(axis=1) == np.arange(4)).all(), similarity.round(2)
    # without the map, MiniLM cannot read Chinese: it does not get the same right
    direct = lite_profile.encode_texts(chinese) @ target.T
    assert (direct.argmax(axis=1) != np.arange(4)).any()


def test_english_queries_are_encoded_exactly_as_before(lite_profile: LiteProfile) -> None:
    spaces = frozenset({SPACE_TEXT})
    for text in ("a cat sleeping on a sofa", "rocket launch", "invoice 4471"):
        vector = lite_profile.encode_query(text, spaces)[SPACE_TEXT]
        assert np.array_equal(vector, lite_profile.encode_texts([text])[0])


def test_unsure_queries_mix_both_vectors(
    lite_profile: LiteProfile, translator: multilingual.Translator
) -> None:
    text = "Hammer, Werkzeuge"
    mixed = multilingual.query_vector(text, lite_profile.encode_texts, translator)
    direct = lite_profile.encode_texts([text])[0]
    mapped = translator.encode([text])[0]
    assert abs(float(np.linalg.norm(mixed)) - 1.0) < 1e-5
    assert float(mixed @ direct) > float(mapped @ direct) - 1e-6
    assert float(mixed @ mapped) > float(direct @ mapped) - 1e-6
    only_minilm = multilingual.query_vector(text, lite_profile.encode_texts, translator, 1.0)
    assert np.allclose(only_minilm, direct, atol=1e-6)


def test_a_chinese_query_finds_the_photo_its_english_finds(
    tmp_path: Path, lite_profile: LiteProfile, photo_dir: Path
) -> None:
    with open_collection(tmp_path / "index", create=True, profile=lite_profile) as col:
        col.index([photo_dir], options=IndexOptions(batch_size=8, workers=1))
        for english, chinese in (("a cat", "一只猫"), ("a cup of coffee", "一杯咖啡")):
            wanted = col.search(english, limit=1)[0].path
            found = [hit.path for hit in col.search(chinese, limit=3)]
            assert wanted in found, (chinese, found)
