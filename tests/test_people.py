"""People in photos: dlib's HOG face detector on real photos, the words it gives, and that
"a portrait" finds the portraits of the sample photos. Never who, nor gender or age."""

from __future__ import annotations

import re

import pytest

from xmodal_cli.collection import open_collection
from xmodal_cli.media.glance import glance
from xmodal_cli.models import people
from xmodal_cli.models.sight import PEOPLE

WITH_FACES = ["astronaut.png", "grace_hopper.jpg"]
WITHOUT_PEOPLE = [
    "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_right.png", "horse.png",
    "brick.png", "grass.png", "gravel.png", "coins.png", "moon.png", "china.jpg",
    "flower.jpg", "clock_motion.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png",
]  # fmt: skip


@pytest.fixture(scope="module")
def finder() -> people.FaceFinder:
    return people.FaceFinder()


def test_faces_in_real_portraits_and_none_in_photos_without_people(finder, photo_dir):
    for name in WITH_FACES:
        found = finder.find(glance(str(photo_dir / name), people.FACE_SIDE))
        assert found.count == 1 and found.largest >= people.PORTRAIT, name
    alarms = [
        name
        for name in WITHOUT_PEOPLE
        if finder.find(glance(str(photo_dir / name), people.FACE_SIDE)).count
    ]
    assert alarms == []


@pytest.mark.parametrize(
    ("faces", "expected"),
    [
        (people.Faces(0, 0.0), None),
        (people.Faces(1, 0.4), "a face, close up"),
        (people.Faces(1, 0.15), "a person (portrait)"),
        (people.Faces(1, 0.05), "a person"),
        (people.Faces(2, 0.1), "two people"),
        (people.Faces(7, 0.05), "a group of 7"),
    ],
)
def test_counts_and_sizes_become_words(faces, expected):
    said = faces.words()
    assert (said[1] if said else None) == expected
    if said:  # never gender, age or identity
        banned = r"\b(man|woman|men|women|boy|girl|male|female|old|young|child|baby|he|she)\b"
        assert not re.search(banned, " ".join([*said[0], said[1]]))


@pytest.mark.slow
def test_a_portrait_finds_the_portraits_among_the_sample_photos(tmp_path, photo_dir):
    with open_collection(tmp_path / "index", create=True) as col:
        col.index([photo_dir])
        for query in ("a portrait", "a photo of a person", "a close-up of a face"):
            top = {hit.path.rsplit("/", 1)[-1] for hit in col.search(query, limit=2)}
            assert top == set(WITH_FACES), query
        hit = col.search("a portrait", limit=1)[0]
        assert hit.position == PEOPLE and hit.snippet.startswith(("a person", "a face"))
        # A query about something else still finds it by what the classifier saw.
        assert col.search("a cup of coffee", limit=1)[0].path.endswith("coffee.png")
