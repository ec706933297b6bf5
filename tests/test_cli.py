"""The command-line contract: output modes, JSON keys, exit codes, stdout kept clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from bench import sample_sounds as sounds
from tests.documents import write_notes
from xmodal_cli.cli import app

runner = CliRunner()
README = (Path(__file__).parents[1] / "README.md").read_text()


def xmodal(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> dict[str, Any]:
    """A real index (real models) of the sample photos, notes and a recording, built through
    the CLI."""
    notes = tmp_path_factory.mktemp("notes")
    write_notes(notes)
    (notes / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    recordings = tmp_path_factory.mktemp("recordings")
    sounds.write(recordings / "beep.wav", sounds.tone(440, 3.0))  # heard as a tone, not speech
    directory = tmp_path_factory.mktemp("cli-index")
    result = xmodal("index", photo_dir, notes, recordings, "--index-dir", directory, "--json")
    assert result.exit_code == 0, result.output
    return {
        "dir": directory,
        "photos": photo_dir,
        "notes": notes,
        "recordings": recordings,
        "summary": json.loads(result.stdout),
    }


def test_index_json_summary_counts_and_skips(indexed):
    summary = indexed["summary"]
    assert summary["indexed"] == len(list(indexed["photos"].iterdir())) + 8 + 1  # notes, beep
    assert summary["skipped"] == 1 and "not a readable image" in summary["skip_reasons"]
    assert set(summary) >= {"indexed", "unchanged", "removed", "skipped", "seconds", "moved"}


def test_reindex_reports_unchanged(indexed):
    result = xmodal("index", indexed["photos"], "--index-dir", indexed["dir"])
    assert result.exit_code == 0
    assert result.stdout == ""  # the summary is a notice: stderr only
    assert "0 files" in result.stderr and "unchanged" in result.stderr


def test_search_json_has_stable_keys(indexed):
    result = xmodal("search", "a cup of coffee", "--index-dir", indexed["dir"], "--json", "-n", "3")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    assert {"rank", "path", "score", "type", "snippet"} <= set(rows[0])
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["type"] in ("image", "text")  # the index holds a recording too


@pytest.mark.parametrize("kind", ["image", "text", "audio"])
def test_search_json_keys_are_the_same_for_every_type(indexed, kind):
    result = xmodal(
        "search", "a beep", "--type", kind, "--json", "-n", "1", "--index-dir", indexed["dir"]
    )
    (row,) = json.loads(result.stdout)  # the fixture holds every type
    assert row["type"] == kind
    assert {"rank", "path", "score", "type", "snippet", "space", "position"} <= set(row)
    # Only an audio passage with a time has start_seconds (the beep's description has none).
    assert ("start_seconds" in row) == (kind == "audio" and row["position"] >= 0)
    if "start_seconds" in row:
        assert row["start_seconds"] == row["position"]


def test_search_type_filter_and_limit(indexed):
    result = xmodal(
        "search",
        "tax receipt",
        "--type",
        "text",
        "-n",
        "2",
        "--json",
        "--index-dir",
        indexed["dir"],
    )
    rows = json.loads(result.stdout)
    assert len(rows) == 2 and all(r["type"] == "text" for r in rows)
    assert Path(rows[0]["path"]).name == "tax_receipt_2023.txt"
    assert "Invoice" in rows[0]["snippet"]


def test_search_jsonl_and_paths_and_nul(indexed):
    jsonl = xmodal("search", "a cat", "--jsonl", "-n", "4", "--index-dir", indexed["dir"])
    lines = jsonl.stdout.strip().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["path"] for line in lines)
    paths = xmodal(
        "search", "a cat", "--paths", "-n", "4", "--type", "image", "--index-dir", indexed["dir"]
    )
    listed = paths.stdout.splitlines()
    assert len(listed) == 4 and all(os.path.isfile(p) for p in listed)
    assert Path(listed[0]).name == "chelsea.png"
    nul = xmodal("search", "a cat", "--paths", "-0", "-n", "4", "--index-dir", indexed["dir"])
    assert nul.stdout.count("\0") == 4 and "\n" not in nul.stdout


def test_search_under_restricts_to_a_folder(indexed):
    result = xmodal(
        "search", "a cat", "--under", indexed["notes"], "--json", "--index-dir", indexed["dir"]
    )
    rows = json.loads(result.stdout)
    assert rows and all(r["path"].startswith(str(indexed["notes"])) for r in rows)


def test_min_score_can_empty_the_result_and_that_is_success(indexed):
    result = xmodal(
        "search", "a cat", "--min-score", "0.99", "--json", "--index-dir", indexed["dir"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_table_output_is_the_default(indexed):
    result = xmodal("search", "a cat", "-n", "3", "--index-dir", indexed["dir"])
    assert result.exit_code == 0
    assert "chelsea.png" in result.stdout and "score" in result.stdout


def test_similar_excludes_the_query_file_and_lists_paths(indexed):
    query = indexed["photos"] / "coffee.png"
    result = xmodal("similar", query, "--paths", "-n", "5", "--index-dir", indexed["dir"])
    assert result.exit_code == 0, result.output
    listed = result.stdout.splitlines()
    assert len(listed) == 5 and str(query) not in listed
    assert all(p.endswith((".png", ".jpg")) for p in listed)  # like finds like by default


def test_similar_photo_can_ask_for_notes(indexed):
    query = indexed["photos"] / "china.jpg"
    result = xmodal(
        "similar", query, "--type", "text", "--json", "-n", "3", "--index-dir", indexed["dir"]
    )
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and all(r["type"] == "text" for r in rows)


def test_similar_text_file_finds_related_note(indexed, tmp_path):
    query = tmp_path / "another_recipe.txt"
    query.write_text(
        "Crepes for breakfast: whisk eggs, milk and flour into a thin batter, fry in butter."
    )
    result = xmodal(
        "similar", query, "--type", "text", "--json", "-n", "1", "--index-dir", indexed["dir"]
    )
    assert Path(json.loads(result.stdout)[0]["path"]).name == "pancakes.md"


def test_status_json(indexed):
    result = xmodal("status", "--json", "--index-dir", indexed["dir"])
    info = json.loads(result.stdout)
    assert info["profile"] == "lite"
    assert info["counts"]["text"]["files"] == 8
    assert info["counts"]["audio"]["files"] == 1
    assert info["vectors"]["visual"] == info["counts"]["image"]["files"]
    assert info["size_bytes"] > 0 and info["index_dir"] == str(indexed["dir"])


def test_status_table(indexed):
    result = xmodal("status", "--index-dir", indexed["dir"])
    assert result.exit_code == 0 and "lite" in result.stdout and "image" in result.stdout


def test_no_index_yet_is_error_with_hint(tmp_path):
    result = xmodal("search", "a cat", "--index-dir", tmp_path / "nothing")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no index at") and "Hint:" in result.stderr
    assert result.stdout == ""


def test_missing_path_is_error_exit_1(tmp_path):
    result = xmodal("index", tmp_path / "Picturs", "--index-dir", tmp_path / "idx")
    assert result.exit_code == 1 and "path not found" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["search", "cat", "--type", "film"],
        ["search", "cat", "--json", "--paths"],
        ["search", "cat", "-n", "0"],
        ["index"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(indexed, args):
    result = xmodal(*args, *(["--index-dir", indexed["dir"]] if args[0] != "frobnicate" else []))
    assert result.exit_code == 2, result.output


def test_similar_missing_file_exit_1(indexed):
    result = xmodal("similar", "/no/such/photo.jpg", "--index-dir", indexed["dir"])
    assert result.exit_code == 1 and "file not found" in result.stderr


def test_remove_forgets_a_folder(tmp_path, photo_dir):
    notes = tmp_path / "notes"
    write_notes(notes)
    directory = tmp_path / "idx"
    assert xmodal("index", notes, "--index-dir", directory, "-q").exit_code == 0
    result = xmodal("remove", notes, "--index-dir", directory)
    assert result.exit_code == 0 and "removed 8 files" in result.stderr
    status = json.loads(xmodal("status", "--json", "--index-dir", directory).stdout)
    assert status["files"] == 0


def test_quiet_index_prints_nothing(tmp_path):
    notes = tmp_path / "notes"
    write_notes(notes)
    (notes / "empty.txt").write_text("")
    result = xmodal("index", notes, "--index-dir", tmp_path / "idx", "-q")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def _commands() -> list[tuple[str, ...]]:
    """Every command as the words typed after `xmodal`, sub-commands of groups included."""

    def walk(command: object, words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if words:
            yield words
        if isinstance(command, TyperGroup):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, (*words, name))

    return list(walk(typer.main.get_command(app), ()))


def _readme_section(command: str) -> str:
    """The README's `### xmodal COMMAND` section, up to the next heading ('' if none)."""
    _, found, rest = README.partition(f"\n### xmodal {command}\n")
    return rest.split("\n#", 1)[0] if found else ""


COMMANDS = _commands()


def test_the_command_list_is_complete():
    assert set(COMMANDS) == {
        ("index",),
        ("search",),
        ("serve",),
        ("similar",),
        ("dupes",),
        ("status",),
        ("check",),
        ("remove",),
        ("eval",),
        ("tune",),
        ("models",),
        ("models", "pull"),
    }


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(words):
    result = xmodal(*words, "--help")
    assert result.exit_code == 0 and "Examples" in result.stdout
    # A section of its own; a sub-command is documented in its group's section.
    assert f"xmodal {' '.join(words)}" in _readme_section(words[0])


def test_search_process_does_not_import_torch(indexed):
    """The query path must stay light: a cold `xmodal search` never imports torch."""
    code = (
        "import sys\n"
        "from xmodal_cli.cli import app\n"
        "try:\n"
        f"    app(['search', 'a cat', '--json', '--index-dir', {str(indexed['dir'])!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)\n"
        "print('HEAVY' if heavy else 'LIGHT', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LIGHT" in done.stderr, done.stderr
    assert json.loads(done.stdout)[0]["path"].endswith("chelsea.png")


def test_python_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "xmodal_cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("xmodal ")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a cat", "chelsea.png"),
        ("tax receipt", "tax_receipt_2023.txt"),
        ("travel plans", "japan_itinerary.md"),
    ],
)
def test_mixed_results_put_the_clear_match_first_whatever_its_type(indexed, query, expected):
    result = xmodal("search", query, "--json", "-n", "5", "--index-dir", indexed["dir"])
    rows = json.loads(result.stdout)
    assert Path(rows[0]["path"]).name == expected, [
        (Path(r["path"]).name, r["score"]) for r in rows
    ]
    assert len(rows) == 5


def test_table_wraps_long_snippets_without_losing_words(monkeypatch, capsys):
    from xmodal_cli import render
    from xmodal_cli.search import Result

    monkeypatch.setenv("COLUMNS", "100")
    words = [f"w{i:02d}x" for i in range(18)]
    path = "recordings/memos/" + "long_folder_name/" * 3 + "memo.wav"
    render.results([Result(1, 0.5, "audio", path, " ".join(words), "text", 0)], "table")
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    shown = " ".join(line.rsplit("│", 1)[-1] for line in lines[2:]).split()
    assert shown == words  # wrapped, none cut off at the edge
