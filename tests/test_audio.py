"""Audio: decoding, bad files, windows and timestamps, the acoustic space, and (with the real
models) speech found by paraphrase, sounds found by plain words, and mixed-type results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench import sample_sounds as sounds
from tests.conftest import RecordingProfile
from tests.documents import write_notes
from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import index_paths
from xmodal_cli.media import DecodeError
from xmodal_cli.media.audio import SAMPLE_RATE, read_blocks
from xmodal_cli.models.acoustic import shared_features
from xmodal_cli.models.whisper import Transcript
from xmodal_cli.recordings import DESCRIPTION, analyse_recording
from xmodal_cli.search import make_filters, search_similar, search_text
from xmodal_cli.store.catalog import Catalog


def _index(folder: Path, index_dir: Path, profile):
    with open_collection(index_dir, create=True, write=True, profile=profile) as col:
        return index_paths([folder], vectors=col.vectors, profile=profile)


def _similar(index_dir: Path, path: Path, profile, limit: int = 5):
    with open_collection(index_dir, profile=profile) as col:
        return search_similar(
            path,
            vectors=col.vectors,
            profile=profile,
            limit=limit,
            filters=make_filters(["audio"]),
        )


def _m4a(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Encode AAC in an MP4 container with PyAV (FFmpeg from its wheel, no system codec)."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(
            (samples[None, :] * 32767).astype(np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_each_format_decodes_to_mono_16k(tmp_path: Path, ext: str) -> None:
    stereo = np.stack([sounds.tone(440, 3.0), sounds.noise("pink", 3.0)], axis=1) * 0.8
    path = tmp_path / f"clip.{ext}"
    if ext == "m4a":
        _m4a(path, stereo.mean(axis=1), 44_100)
    else:
        soundfile.write(str(path), stereo, 44_100)
    stream, blocks = read_blocks(str(path), block_seconds=60)
    samples = np.concatenate([b.samples for b in blocks])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / SAMPLE_RATE - 3.0) < 0.1  # codec padding is a few ms
    assert stream.native_rate == 44_100
    # The 440 Hz tone survives the downmix and resampling.
    spectrum = np.abs(np.fft.rfft(samples[: SAMPLE_RATE * 2]))
    assert abs(np.argmax(spectrum) / 2 - 440) < 3


def test_a_long_recording_is_read_in_bounded_blocks(tmp_path: Path) -> None:
    path = sounds.write(
        tmp_path / "long.wav", np.resize(sounds.noise("brown", 110.0), 600 * 8000), rate=8_000
    )
    stream, blocks = read_blocks(str(path), block_seconds=60)
    starts = []
    for block in blocks:
        assert len(block.samples) <= 60 * SAMPLE_RATE
        starts.append(block.start)
    assert starts == [60.0 * i for i in range(10)]
    assert stream.duration == pytest.approx(600.0)


def test_timestamps_point_into_the_recording(tmp_path: Path) -> None:
    quiet_then_sound = np.concatenate(
        [np.zeros(50 * 8000), np.resize(sounds.noise("white", 4.0), 20 * 8000)]
    )
    path = sounds.write(tmp_path / "late_start.wav", quiet_then_sound, rate=8_000)
    fake = RecordingProfile()
    recording = analyse_recording(
        str(path), features=shared_features(), transcribe=fake.transcribe, block_seconds=20
    )
    # Blocks at 0 and 20 s are silent and never reach the transcriber; the one at 40 s does.
    assert fake.heard == [20.0, 10.0]
    heard = [p for p in recording.passages if p.position != DESCRIPTION]
    # Segments 20 s apart make one passage, which starts where the first was heard.
    assert [(p.position, p.snippet) for p in heard] == [(40, "fake words heard fake words heard")]
    assert [w.position for w in recording.windows] == [0, 20, 40, 60]
    assert [w.snippet for w in recording.windows][:2] == ["silence", "silence"]
    assert recording.info["duration"] == pytest.approx(70.0)


def test_a_silent_file_is_indexed_as_silence(tmp_path: Path) -> None:
    sounds.write(tmp_path / "audio" / "room_tone.wav", np.zeros(44_100 * 3))
    fake = RecordingProfile()
    summary = _index(tmp_path / "audio", tmp_path / "index", fake)
    assert (summary.indexed, summary.skipped) == (1, 0)
    assert fake.heard == []  # nothing to transcribe in silence
    catalog = Catalog.open(tmp_path / "index", create=False)
    snippets = sql(catalog, "SELECT space, position, snippet FROM items")
    assert ("text", DESCRIPTION, "silence") in snippets
    assert ("acoustic", 0, "silence") in snippets


def test_bad_audio_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    good = sounds.write(folder / "good.wav", sounds.music(6.0))
    (folder / "empty.wav").write_bytes(b"")
    soundfile.write(str(folder / "no_frames.wav"), np.zeros((0, 1)), 16_000)
    (folder / "random.mp3").write_bytes(np.random.default_rng(1).bytes(20_000))
    (folder / "notes.flac").write_text("these are notes, not audio\n" * 50)
    data = good.read_bytes()
    (folder / "truncated.wav").write_bytes(data[: len(data) // 2])
    floats = sounds.noise("white", 2.0)
    floats[1000:2000] = np.nan
    soundfile.write(str(folder / "nan.wav"), floats.astype(np.float32), 44_100, subtype="FLOAT")

    summary = _index(folder, tmp_path / "index", RecordingProfile())
    assert summary.indexed == 3  # good, truncated (the half that is there), nan
    # FFmpeg finds a "stream" in the text named .flac, but no sound in it.
    assert summary.skip_reasons == {
        "empty file": 1,
        "no audio samples in the file": 2,
        "not a readable audio file": 1,
    }
    catalog = Catalog.open(tmp_path / "index", create=False)
    info = {
        os.path.basename(p): json.loads(i) for p, i in sql(catalog, "SELECT path, info FROM files")
    }
    assert info["truncated.wav"]["duration"] == pytest.approx(3.0, abs=0.1)
    assert info["good.wav"]["duration"] == pytest.approx(6.0, abs=0.05)
    with open_collection(tmp_path / "index", profile=RecordingProfile()) as col:
        report = col.check()
        assert not report.problems, report.problems


def test_a_fifo_named_wav_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="not a regular file"):
        read_blocks(str(fifo), block_seconds=10)


@pytest.fixture(scope="module")
def drum_kit(tmp_path_factory):
    """Kicks, snares, hi-hats, tones, noise and music, indexed with the real acoustic space."""
    folder = tmp_path_factory.mktemp("kit")
    for i in range(5):
        sounds.write(folder / f"kick_{i:02d}.wav", sounds.kick(i))
        sounds.write(folder / f"snare_{i:02d}.wav", sounds.snare(i))
        sounds.write(folder / f"hat_{i:02d}.wav", sounds.hihat(i))
    for freq in (220, 440, 880):
        sounds.write(folder / f"tone_{freq}.wav", sounds.tone(freq))
    for colour in ("white", "pink", "brown"):
        sounds.write(folder / f"{colour}.wav", sounds.noise(colour, 6.0))
    for i, bpm in enumerate((90, 120, 140)):
        sounds.write(folder / f"song_{i}.wav", sounds.music(12.0, bpm, seed=i))
    index_dir = tmp_path_factory.mktemp("kit-index")
    profile = RecordingProfile()
    assert _index(folder, index_dir, profile).indexed == 24
    return folder, index_dir, profile


@pytest.mark.parametrize("family", ["kick", "snare", "hat"])
def test_similar_drum_hit_returns_the_same_kind_of_hit(drum_kit, family: str) -> None:
    folder, index_dir, profile = drum_kit
    for query in sorted(folder.glob(f"{family}_*.wav")):
        hits = _similar(index_dir, query, profile, limit=4)
        assert [Path(h.path).name.split("_")[0] for h in hits] == [family] * 4, query.name


def test_a_trimmed_or_reencoded_copy_finds_its_original_first(drum_kit, tmp_path: Path) -> None:
    folder, index_dir, profile = drum_kit
    originals = [*sorted(folder.glob("song_*.wav")), *sorted(folder.glob("tone_*.wav"))]
    originals += [folder / "pink.wav", folder / "snare_02.wav", folder / "hat_03.wav"]
    for original in originals:
        samples, rate = soundfile.read(str(original), dtype="float32")
        cut = int(len(samples) * 0.1) if len(samples) > rate else int(0.01 * rate)
        copies = {
            "trimmed.ogg": samples[cut : len(samples) - cut if len(samples) > rate else None],
            "quieter.mp3": samples * 0.3,
        }
        for name, copy in copies.items():
            path = tmp_path / f"{original.stem}-{name}"
            soundfile.write(str(path), copy, rate)
            best = _similar(index_dir, path, profile, limit=1)[0]
            assert best.path == str(original), (path.name, best.path)


def test_an_index_made_before_audio_gains_the_acoustic_space(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path, create=True)
    catalog.bind_profile("lite", {"text": 384, "visual": 1280}, {"text": "a", "visual": "b"})
    catalog.bind_profile(
        "lite",
        {"text": 384, "visual": 1280, "acoustic": 162},
        {"text": "a", "visual": "b", "acoustic": "c"},
    )
    info = catalog.profile_info()
    assert info is not None and info["spaces"]["acoustic"] == 162
    with pytest.raises(Exception, match="built with profile"):
        catalog.bind_profile("lite", {"text": 384}, {"text": "changed"})


# -- with the real models: Whisper tiny.en, MiniLM, EfficientNet ----------------------------


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory, lite_profile, photo_dir):
    """Spoken sentences, read speech, tones, noise and music beside the photos and notes."""
    audio = tmp_path_factory.mktemp("recordings")
    for name, (sentence, _) in sounds.SPOKEN.items():
        sounds.speak(sentence, audio / f"memo_{name}.wav")
    for clip in sounds.LIBRIVOX_CLIPS:
        (audio / clip).write_bytes(sounds.librivox_clip(clip).read_bytes())
    sounds.write(audio / "calibration_beep.wav", sounds.tone(1000, 5.0))
    sounds.write(audio / "untitled_01.wav", sounds.noise("white", 8.0))
    sounds.write(audio / "untitled_02.wav", sounds.music(20.0, 124))
    sounds.write(audio / "untitled_03.wav", sounds.kick(7))  # a one-shot without speech
    sounds.speak("elephant", audio / "voice_note_17.wav")  # one word, under a second
    _tag(
        sounds.write(audio / "track07.flac", sounds.music(15.0, 128, seed=5)),
        title="Night Drive",
        artist="Neon Lights",
        genre="Electronic",
    )
    notes = write_notes(tmp_path_factory.mktemp("notes"))[0].parent
    index_dir = tmp_path_factory.mktemp("mixed-index")
    with open_collection(index_dir, create=True, write=True, profile=lite_profile) as col:
        summary = index_paths(
            [audio, photo_dir, notes],
            vectors=col.vectors,
            profile=lite_profile,
        )
    assert summary.skipped == 0
    return audio, index_dir


def _tag(path: Path, **tags: str) -> Path:
    import mutagen

    tagged = mutagen.File(str(path), easy=True)
    for key, value in tags.items():
        tagged[key] = value
    tagged.save()
    return path


def test_tags_names_and_folder_describe_a_recording(tmp_path: Path) -> None:
    song = sounds.write(tmp_path / "Road Trip" / "track07.flac", sounds.music(8.0, 128))
    _tag(song, title="Night Drive", artist="Neon Lights", album="Synth City", genre="Electronic")
    recording = analyse_recording(str(song), features=shared_features(), transcribe=None)
    (description,) = [p for p in recording.passages if p.position == DESCRIPTION]
    assert "Night Drive by Neon Lights from the album Synth City (Electronic)" in description.text
    assert description.text.startswith("track07.")  # the file name's words come first
    assert "in Road Trip" in description.text
    assert recording.info["tags"]["genre"] == "Electronic"
    assert description.snippet.startswith("music")


def test_an_unknown_whisper_model_is_a_clear_error(monkeypatch) -> None:
    from xmodal_cli.errors import XmodalError
    from xmodal_cli.models.whisper import Transcriber

    monkeypatch.setenv("XMODAL_WHISPER_MODEL", "/nowhere/whisper-large")
    transcriber = Transcriber()
    with pytest.raises(XmodalError, match="cannot load the Whisper model '/nowhere/whisper-large'"):
        transcriber.transcribe(np.zeros(16_000, dtype=np.float32))


def _search(index_dir: Path, profile, query: str, types=(), limit: int = 5):
    with open_collection(index_dir, profile=profile) as col:
        return search_text(
            query,
            vectors=col.vectors,
            profile=profile,
            limit=limit,
            filters=make_filters(types),
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(sounds.SPOKEN))
def test_a_spoken_sentence_is_found_by_a_paraphrase(mixed_index, lite_profile, name: str) -> None:
    _, index_dir = mixed_index
    paraphrase = sounds.SPOKEN[name][1]
    best = _search(index_dir, lite_profile, paraphrase, types=["audio"])[0]
    assert Path(best.path).name == f"memo_{name}.wav"
    assert best.snippet.startswith("0:00 ")  # the words heard, with where they were said


@pytest.mark.slow
def test_read_speech_is_found_by_what_is_said(mixed_index, lite_profile) -> None:
    _, index_dir = mixed_index
    best = _search(index_dir, lite_profile, "how much John Dashwood could give them", ["audio"])[0]
    assert Path(best.path).name == "sense_and_sensibility_01_austen_64kb-0870.wav"


@pytest.mark.slow
def test_a_word_spoken_in_under_a_second_is_found_by_that_word(mixed_index, lite_profile) -> None:
    audio, index_dir = mixed_index
    assert soundfile.info(str(audio / "voice_note_17.wav")).duration < 1.0
    best = _search(index_dir, lite_profile, "elephant", ["audio"])[0]
    assert Path(best.path).name == "voice_note_17.wav"
    assert best.snippet.startswith("0:00 ") and "elephant" in best.snippet.lower()


@pytest.mark.slow
def test_tones_noise_and_music_are_not_transcribed(mixed_index, lite_profile) -> None:
    audio, index_dir = mixed_index
    catalog = Catalog.open(index_dir, create=False)
    for name in ("calibration_beep.wav", "untitled_01.wav", "untitled_02.wav", "untitled_03.wav"):
        row = catalog.file_by_path(str(audio / name))
        assert row is not None
        positions = sql(
            catalog, "SELECT position FROM items WHERE file_id = ? AND space = 'text'", row.id
        )
        assert positions == [(DESCRIPTION,)], name  # the description only: no words heard
    spoken = catalog.file_by_path(str(audio / "memo_budget_meeting.wav"))
    assert spoken is not None
    info = json.loads(sql(catalog, "SELECT info FROM files WHERE id = ?", spoken.id)[0][0])
    assert info["speech_seconds"] > 2 and info["sound"][0] == "speech"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("white noise", "untitled_01.wav"),
        ("a beep", "calibration_beep.wav"),
        ("music with a beat", "untitled_02.wav"),
        ("a drum hit", "untitled_03.wav"),
        ("electronic music", "track07.flac"),  # only its genre tag says so
    ],
)
def test_sounds_are_found_by_plain_words(mixed_index, lite_profile, query, expected) -> None:
    _, index_dir = mixed_index
    best = _search(index_dir, lite_profile, query, ["audio"])[0]
    assert Path(best.path).name == expected


@pytest.mark.slow
def test_a_plain_search_mixes_types_fairly(mixed_index, lite_profile) -> None:
    _, index_dir = mixed_index
    noise = _search(index_dir, lite_profile, "static hiss, white noise", limit=10)
    assert Path(noise[0].path).name == "untitled_01.wav"
    budget = _search(index_dir, lite_profile, "the meeting about the budget", limit=10)
    assert {r.type for r in budget[:3]} >= {"audio", "text"}  # the memo and the notes
    cat = _search(index_dir, lite_profile, "a cat", limit=10)
    assert cat[0].type == "image"


@pytest.mark.slow
def test_cli_json_gives_audio_passages_their_start_time(mixed_index) -> None:
    from typer.testing import CliRunner

    from xmodal_cli.cli import app

    _, index_dir = mixed_index
    args = ["search", "cutting travel costs", "--type", "audio", "-n", "1", "--json"]
    result = CliRunner().invoke(app, [*args, "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    (hit,) = json.loads(result.stdout)
    assert hit["path"].endswith("memo_budget_meeting.wav")
    assert hit["start_seconds"] == hit["position"] == 0
    assert hit["snippet"].startswith("0:00 ")
    assert hit["info"]["speech_seconds"] > 2 and hit["info"]["duration"] > 3


def test_a_short_last_window_neither_stands_alone_nor_relabels_the_file(tmp_path: Path) -> None:
    # 30.5 s of speech-like noise ending in a fade: the 0.5 s tail used to be its own window,
    # and its fade passed for a "percussive hit".
    body = sounds.noise("pink", 30.0)
    fade = sounds.noise("pink", 0.5, seed=1) * np.linspace(1, 0, int(0.5 * sounds.RATE))
    path = sounds.write(tmp_path / "memo.wav", np.concatenate([body, fade]))
    recording = analyse_recording(str(path), features=shared_features(), transcribe=None)
    assert [w.position for w in recording.windows] == [0]
    assert "percussive hit" not in recording.info["sound"]


def test_similar_recording_to_recording_does_not_transcribe(drum_kit, tmp_path: Path) -> None:
    _, index_dir, profile = drum_kit
    query = sounds.write(tmp_path / "loop.wav", sounds.music(12.0, 100, seed=3))
    heard_before = list(profile.heard)
    hits = _similar(index_dir, query, profile, limit=3)
    assert hits and profile.heard == heard_before  # like-with-like needs no words


class _BrokenWhisper(RecordingProfile):
    def transcribe(self, samples: np.ndarray, cancelled: object = None) -> Transcript:
        from xmodal_cli.errors import XmodalError

        raise XmodalError("cannot load the Whisper model 'large-v9'", "unset XMODAL_WHISPER_MODEL")


def test_a_model_that_cannot_load_stops_the_run_and_keeps_old_rows(tmp_path: Path) -> None:
    from xmodal_cli.errors import XmodalError

    folder = tmp_path / "audio"
    memo = sounds.write(folder / "memo.wav", sounds.music(6.0, 100))
    assert _index(folder, tmp_path / "index", RecordingProfile()).indexed == 1
    sounds.write(memo, sounds.music(7.0, 90))  # changed: must be re-encoded
    with pytest.raises(XmodalError, match="cannot load the Whisper model"):
        _index(folder, tmp_path / "index", _BrokenWhisper())
    catalog = Catalog.open(tmp_path / "index", create=False)
    assert catalog.file_by_path(str(memo)) is not None  # not pruned as if unreadable


def test_transcript_passages_follow_the_text_encoders_length() -> None:
    from xmodal_cli.models.whisper import Segment
    from xmodal_cli.recordings import _passages

    segments = [Segment(i * 3.0, i * 3.0 + 3, " ".join(["word"] * 10)) for i in range(8)]
    assert [len(t.split()) for _, t in _passages(segments, 40)] == [40, 40]
    assert [start for start, _ in _passages(segments, 40)] == [0, 12]
    assert [len(t.split()) for _, t in _passages(segments, 60)] == [60, 20]
