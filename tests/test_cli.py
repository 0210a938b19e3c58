"""The ``pgsimilar`` command line, run in-process against the test session's database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from pgsimilar.cli import app
from pgsimilar.config import Settings
from pgsimilar.storage.database import Database

from .cli_helpers import Cli

HIT_KEYS = {"id", "score", "distance", "metadata", "content"}

DOCS = [
    {
        "id": "apple",
        "text": "A crisp red apple is a sweet fruit.",
        "metadata": {"kind": "food", "color": "red"},
    },
    {"id": "banana", "text": "Bananas are long yellow tropical fruit.", "metadata": {"kind": "food"}},
    {"id": "hammer", "text": "A hammer drives nails into wood.", "metadata": {"kind": "tool"}},
    {"id": "saw", "text": "A hand saw cuts planks of timber.", "metadata": {"kind": "tool"}},
    {"id": "guitar", "text": "An acoustic guitar has six strings for music.", "metadata": {"kind": "music"}},
]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def assert_error(result: Result, code: int, *fragments: str) -> str:
    """A failed command: the exit code, no traceback, and a readable message on stderr."""
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: ")
    # Compared without whitespace: the message may be wrapped (even inside a long path) to the console width.
    flat = "".join(message.split())
    for fragment in fragments:
        assert "".join(fragment.split()) in flat, message
    return message


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def create(cli: Cli, name: str, *options: str) -> None:
    ok(cli("collections", "create", name, *options))


def count(cli: Cli, name: str) -> int:
    return int(as_json(cli("collections", "show", name, "--json"))["count"])


def search(cli: Cli, name: str, *args: str) -> list[dict[str, Any]]:
    hits = as_json(cli("search", name, *args, "--json"))
    assert isinstance(hits, list)
    return hits


@pytest.fixture
def docs(cli: Cli, name: str, tmp_path: Path) -> str:
    """A minilm collection holding the five DOCS."""
    create(cli, name)
    ok(cli("add", name, str(write_jsonl(tmp_path / "docs.jsonl", DOCS)), "--json"))
    return name


# ---- collections -----------------------------------------------------------------------------------


def test_create_uses_minilm_by_default(cli: Cli, name: str) -> None:
    info = as_json(cli("collections", "create", name, "--json"))

    assert info["name"] == name
    assert info["namespace"] == "default"
    assert info["embedder"] == "minilm"
    assert info["dimensions"] == 384
    assert info["metric"] == "cosine"
    assert info["storage"] == "vector"
    assert info["index"]["kind"] == "hnsw"
    assert info["count"] == 0


def test_create_with_own_vectors_then_show(cli: Cli, name: str) -> None:
    result = ok(cli("collections", "create", name, "--embedder", "none", "--dimensions", "3"))
    assert f"created default/{name}: none, 3 dimensions" in result.stdout

    info = as_json(cli("collections", "show", name, "--json"))
    assert (info["embedder"], info["dimensions"], info["count"]) == ("none", 3, 0)


def test_list_json_includes_the_collection_with_its_count(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    vectors = [{"id": "x", "vector": [1, 0, 0]}, {"id": "y", "vector": [0, 1, 0]}]
    ok(cli("add", name, str(write_jsonl(tmp_path / "v.jsonl", vectors)), "--json"))

    listed = as_json(cli("collections", "list", "--json"))

    assert isinstance(listed, list)
    [entry] = [item for item in listed if item["name"] == name]
    assert entry["namespace"] == "default"
    assert entry["count"] == 2
    assert entry["dimensions"] == 3


def test_drop_with_yes_removes_the_collection(cli: Cli, name: str) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")

    result = ok(cli("collections", "drop", name, "--yes"))

    assert f"dropped default/{name}" in result.stdout
    assert_error(cli("collections", "show", name), 3, name)


def test_drop_asks_first_and_keeps_the_collection_when_refused(cli: Cli, name: str) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")

    refused = cli("collections", "drop", name, input="n\n")

    assert refused.exit_code != 0
    assert count(cli, name) == 0  # still there
    ok(cli("collections", "drop", name, input="y\n"))
    assert_error(cli("collections", "show", name), 3)


# ---- add ---------------------------------------------------------------------------------------------


def test_add_txt_file(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    path = tmp_path / "pasta-recipe.txt"
    path.write_text("Boil the spaghetti in salted water for nine minutes.", encoding="utf-8")

    totals = as_json(cli("add", name, str(path), "--json"))

    assert totals == {"records": 1, "inserted": 1, "updated": 0, "unchanged": 0, "embedded": 1}
    [hit] = search(cli, name, "how long to cook noodles", "-k", "1")
    assert hit["id"] == "pasta-recipe"
    assert hit["metadata"] == {"source": "pasta-recipe.txt"}


def test_add_jsonl_with_beir_lines_and_again_unchanged(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    path = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"id": "plain", "text": "Cats sleep most of the day.", "metadata": {"animal": "cat"}},
            {"_id": "beir1", "title": "Volcanoes", "text": "Lava erupts from the crater."},
        ],
    )

    first = as_json(cli("add", name, str(path), "--json"))
    again = as_json(cli("add", name, str(path), "--json"))

    assert first == {"records": 2, "inserted": 2, "updated": 0, "unchanged": 0, "embedded": 2}
    assert again == {"records": 2, "inserted": 0, "updated": 0, "unchanged": 2, "embedded": 0}
    hits = {hit["id"]: hit for hit in search(cli, name, "eruption of a mountain")}
    assert hits["beir1"]["content"] == "Volcanoes Lava erupts from the crater."
    assert hits["beir1"]["metadata"] == {"title": "Volcanoes"}
    assert hits["plain"]["metadata"] == {"animal": "cat"}


def test_add_csv_extra_columns_become_metadata(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    path = tmp_path / "products.csv"
    path.write_text(
        'id,text,metadata,category\nk1,An electric kettle boils water,"{""price"": 30}",kitchen\n'
        "b1,Hiking boots for muddy trails,,outdoor\n",
        encoding="utf-8",
    )

    totals = as_json(cli("add", name, str(path), "--json"))

    assert totals["records"] == totals["inserted"] == 2
    hits = {hit["id"]: hit for hit in search(cli, name, "boil water")}
    assert hits["k1"]["metadata"] == {"category": "kitchen", "price": 30}
    assert hits["b1"]["metadata"] == {"category": "outdoor"}
    assert hits["k1"]["content"] == "An electric kettle boils water"


def test_add_directory_loads_supported_files_recursively(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("The moon orbits the earth.", encoding="utf-8")
    write_jsonl(root / "b.jsonl", [{"id": "b1", "text": "Tea is brewed from leaves."}])
    (root / "sub" / "c.csv").write_text("id,text\nc1,Trains run on rails.\n", encoding="utf-8")
    (root / "sub" / "ignored.md").write_text("# not loaded", encoding="utf-8")

    totals = as_json(cli("add", name, str(root), "--json"))

    assert totals["records"] == totals["inserted"] == 3
    assert count(cli, name) == 3
    assert {hit["id"] for hit in search(cli, name, "railway")} == {"a", "b1", "c1"}


def test_add_without_json_reports_for_people(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    path = write_jsonl(tmp_path / "v.jsonl", [{"id": "x", "vector": [1, 2, 3]}])

    result = ok(cli("add", name, str(path)))

    assert "1 records: 1 new, 0 updated, 0 unchanged; 0 embedded" in result.stdout


def test_malformed_jsonl_line_writes_nothing(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "g", "text": "A fine record."}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "b1", "text": "Also fine."}\n{"id": "b2", "text": \n', encoding="utf-8")

    assert_error(cli("add", name, str(good), str(bad)), 2, f"{bad}:2:", "not valid JSON")

    assert count(cli, name) == 0


def test_add_refuses_an_invalid_record_before_writing_any_batch(
    cli: Cli, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(cli, name)
    monkeypatch.setenv("PGSIMILAR_UPSERT_BATCH_SIZE", "1")
    path = write_jsonl(
        tmp_path / "docs.jsonl", [{"id": "first", "text": "A fine record."}, {"id": "empty", "text": "   "}]
    )

    assert_error(cli("add", name, str(path)), 2, "content is empty")

    assert count(cli, name) == 0


def test_add_of_a_non_utf8_jsonl_file_is_a_readable_error(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"id": "u", "text": "café"}\n'.encode("latin-1"))

    assert_error(cli("add", name, str(path)), 2, str(path), "UTF-8")


# ---- search ------------------------------------------------------------------------------------------


def test_search_json_hits_have_exactly_the_documented_keys(cli: Cli, docs: str) -> None:
    hits = search(cli, docs, "which tool drives a nail?")

    assert len(hits) == len(DOCS)
    assert hits[0]["id"] == "hammer"
    assert hits[0]["content"] == "A hammer drives nails into wood."
    assert hits[0]["metadata"] == {"kind": "tool"}
    for hit in hits:
        assert set(hit) == HIT_KEYS
        assert hit["score"] == pytest.approx(1 - hit["distance"])
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_search_k_limits_the_hits(cli: Cli, docs: str) -> None:
    hits = search(cli, docs, "yellow fruit", "-k", "2")
    assert len(hits) == 2
    assert hits[0]["id"] == "banana"


def test_search_filter_narrows_the_results(cli: Cli, docs: str) -> None:
    hits = search(cli, docs, "sweet fruit", "--filter", '{"kind": "tool"}')

    assert {hit["id"] for hit in hits} == {"hammer", "saw"}
    assert all(hit["metadata"]["kind"] == "tool" for hit in hits)


def test_search_similar_to_leaves_out_the_record_itself(cli: Cli, docs: str) -> None:
    hits = search(cli, docs, "--similar-to", "apple")

    ids = [hit["id"] for hit in hits]
    assert "apple" not in ids
    assert sorted(ids) == sorted(doc["id"] for doc in DOCS if doc["id"] != "apple")


def test_search_similar_to_works_without_an_embedder(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    vectors = [
        {"id": "x", "vector": [1, 0, 0]},
        {"id": "near-x", "vector": [0.9, 0.1, 0]},
        {"id": "z", "vector": [0, 0, 1]},
    ]
    ok(cli("add", name, str(write_jsonl(tmp_path / "v.jsonl", vectors)), "--json"))

    hits = search(cli, name, "--similar-to", "x", "--exact")

    assert [hit["id"] for hit in hits] == ["near-x", "z"]


def test_search_explain_shows_the_sql_with_the_distance_operator(cli: Cli, docs: str) -> None:
    result = ok(cli("search", docs, "music", "--explain", "-k", "2"))

    assert "SQL" in result.stdout
    assert "<=>" in result.stdout
    assert "plan" in result.stdout
    assert "guitar" in result.stdout


def test_search_for_people_prints_a_table(cli: Cli, docs: str) -> None:
    result = ok(cli("search", docs, "stringed instrument", "-k", "1"))
    assert "guitar" in result.stdout


def test_search_for_people_prints_square_brackets_as_they_are(cli: Cli, name: str, tmp_path: Path) -> None:
    create(cli, name)
    rows = [{"id": "path", "text": "Binaries go in [/usr/local] on Unix.", "metadata": {"tag": "[red]"}}]
    ok(cli("add", name, str(write_jsonl(tmp_path / "b.jsonl", rows)), "--json"))

    result = ok(cli("search", name, "where do programs live", "-k", "1"))

    assert "[/usr/local]" in result.stdout
    assert "[red]" in result.stdout


def test_search_needs_a_query_or_similar_to(cli: Cli, docs: str) -> None:
    assert_error(cli("search", docs), 2, "--similar-to")
    assert_error(cli("search", docs, "text", "--similar-to", "apple"), 2)


def test_search_similar_to_an_unknown_id(cli: Cli, docs: str) -> None:
    assert_error(cli("search", docs, "--similar-to", "nope"), 3, "'nope'")


def test_search_filter_must_be_an_object(cli: Cli, docs: str) -> None:
    assert_error(cli("search", docs, "fruit", "--filter", "[1, 2]"), 2, "--filter must be a JSON object")


def test_search_by_text_in_a_collection_without_an_embedder(cli: Cli, name: str) -> None:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    assert_error(cli("search", name, "some text"), 2, "embedder 'none'")


# ---- db ----------------------------------------------------------------------------------------------


def test_db_status_json(cli: Cli, settings: Settings, database: Database) -> None:
    status = as_json(cli("db", "status", "--json"))

    if settings.database_url is not None:
        assert status["embedded"] is False
        return
    assert status["embedded"] is True
    assert status["running"] is True
    assert status["initialised"] is True
    assert isinstance(status["pid"], int)
    assert Path(status["data_dir"]) == settings.data_dir / "pg18"
    assert status["url"] == database.url


def test_db_url_prints_the_connection_url(cli: Cli, database: Database) -> None:
    assert ok(cli("db", "url")).stdout.strip() == database.url


def test_db_start_finds_the_running_server(cli: Cli, settings: Settings) -> None:
    if settings.database_url is not None:
        assert_error(cli("db", "start"), 1, "PGSIMILAR_DATABASE_URL is set")
        return
    assert "embedded PostgreSQL running" in ok(cli("db", "start")).stdout


# ---- errors ------------------------------------------------------------------------------------------

ErrorCase = Callable[[Cli, str, Path], Result]


def _unknown_collection(cli: Cli, name: str, tmp_path: Path) -> Result:
    return cli("search", name, "anything")


def _duplicate_collection(cli: Cli, name: str, tmp_path: Path) -> Result:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    return cli("collections", "create", name, "--embedder", "none", "--dimensions", "3")


def _malformed_filter(cli: Cli, name: str, tmp_path: Path) -> Result:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    return cli("search", name, "--similar-to", "x", "--filter", "{kind: tool}")


def _invalid_name(cli: Cli, name: str, tmp_path: Path) -> Result:
    return cli("collections", "create", "Robert'); DROP TABLE x;--")


def _malformed_jsonl(cli: Cli, name: str, tmp_path: Path) -> Result:
    create(cli, name, "--embedder", "none", "--dimensions", "3")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "vector": [1, 0, 0]}\nnot json\n', encoding="utf-8")
    return cli("add", name, str(path))


ERROR_CASES: dict[str, tuple[ErrorCase, int, str]] = {
    "unknown collection": (_unknown_collection, 3, "does not exist"),
    "duplicate collection": (_duplicate_collection, 4, "exists already"),
    "malformed filter": (_malformed_filter, 2, "--filter is not valid JSON"),
    "invalid name": (_invalid_name, 2, "invalid collection name"),
    "malformed jsonl": (_malformed_jsonl, 2, "bad.jsonl:2: not valid JSON"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_exit_with_a_code_per_kind_and_a_message(
    cli: Cli, name: str, tmp_path: Path, case: str
) -> None:
    run, code, fragment = ERROR_CASES[case]
    assert_error(run(cli, name, tmp_path), code, fragment)


def test_malformed_jsonl_in_add_writes_nothing_from_the_file(cli: Cli, name: str, tmp_path: Path) -> None:
    _malformed_jsonl(cli, name, tmp_path)
    assert count(cli, name) == 0


def test_invalid_name_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    _invalid_name(cli, "", tmp_path)
    listed = as_json(cli("collections", "list", "--json"))
    assert not any("DROP" in item["name"] or "Robert" in item["name"] for item in listed)


@pytest.mark.parametrize(
    "case",
    [
        "unknown collection",
        "duplicate collection",
        "malformed filter",
        "invalid name",
        "malformed jsonl",
    ],
)
def test_error_message_is_one_line(cli: Cli, name: str, tmp_path: Path, case: str) -> None:
    run, code, _ = ERROR_CASES[case]
    message = assert_error(run(cli, name, tmp_path), code)
    assert len(message.splitlines()) == 1, message


def test_error_message_with_square_brackets_is_printed_as_it_is(cli: Cli) -> None:
    message = assert_error(cli("collections", "create", "[/x]"), 2, "invalid collection name")
    assert "[/x]" in message


# ---- help --------------------------------------------------------------------------------------------


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group of the CLI with its path of names, the root first."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append((path, command))
        for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, sub_name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def test_the_command_tree_is_the_documented_one() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {
        "",
        "db",
        "db start",
        "db stop",
        "db status",
        "db url",
        "collections",
        "collections create",
        "collections list",
        "collections show",
        "collections drop",
        "collections index",
        "collections tune",
        "add",
        "search",
        "demo",
    } <= paths


COMMAND_IDS = [" ".join(path) or "pgsimilar" for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=COMMAND_IDS)
def test_every_command_and_parameter_has_help_text(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"pgsimilar {' '.join(path)} has no help text"
    ctx = command.make_context(" ".join(("pgsimilar", *path)), [], resilient_parsing=True)
    params = command.get_params(ctx)
    undocumented = [
        param.name for param in params if param.name != "help" and not getattr(param, "help", None)
    ]
    assert undocumented == []


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=COMMAND_IDS)
def test_help_option_prints_usage(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
