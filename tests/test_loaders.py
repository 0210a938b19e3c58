"""The file loaders behind ``pgsimilar add``: .txt, .jsonl and .csv files, and directories of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgsimilar.config import Settings
from pgsimilar.core.loaders import (
    expand_paths,
    record_from_json,
    records_from_csv,
    records_from_file,
    records_from_jsonl,
    records_from_txt,
)
from pgsimilar.core.types import Metric, Record, Storage
from pgsimilar.core.validation import check_records
from pgsimilar.errors import InvalidInput, InvalidRecord


def _write_jsonl(path: Path, *lines: Any) -> Path:
    """Each line as given when it is a string (so malformed lines can be written), else as JSON."""
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def _load(path: Path) -> list[Record]:
    return list(records_from_file(path))


# ---- .txt -------------------------------------------------------------------------------------------


def test_txt_file_is_one_record_named_by_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "release-notes.v2.txt"
    path.write_text("First line.\nSecond line, with ünïcode.\n", encoding="utf-8")

    [record] = _load(path)

    assert record.id == "release-notes.v2"
    assert record.content == "First line.\nSecond line, with ünïcode.\n"
    assert record.metadata == {"source": "release-notes.v2.txt"}
    assert record.vector is None


def test_txt_suffix_is_matched_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "SHOUT.TXT"
    path.write_text("loud", encoding="utf-8")
    assert [record.id for record in _load(path)] == ["SHOUT"]


def test_txt_that_is_not_utf8_is_an_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème".encode("latin-1"))

    with pytest.raises(InvalidRecord, match="not UTF-8") as raised:
        list(records_from_txt(path))

    assert str(path) in str(raised.value)
    assert isinstance(raised.value, InvalidInput)


# ---- .jsonl ------------------------------------------------------------------------------------------


def test_jsonl_reads_one_record_per_line_and_skips_blank_lines(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "docs.jsonl",
        {"id": "a", "text": "alpha", "metadata": {"lang": "en"}},
        "",
        "   \t",
        {"id": "b", "content": "beta"},
        {"id": "v", "vector": [0.5, 0.25, 1.0]},
        "",
    )

    records = _load(path)

    assert [record.id for record in records] == ["a", "b", "v"]
    assert [record.content for record in records] == ["alpha", "beta", None]
    assert records[0].metadata == {"lang": "en"}
    assert records[1].metadata == {}
    assert records[2].vector == [0.5, 0.25, 1.0]


def test_jsonl_file_of_only_blank_lines_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n  \n", encoding="utf-8")
    assert _load(path) == []


def test_beir_corpus_lines_put_the_title_before_the_text_and_keep_it_in_metadata(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "corpus.jsonl",
        {"_id": "doc1", "title": "Aspirin", "text": "A drug that reduces fever."},
        {"_id": "doc2", "title": "", "text": "No title here."},
        {"_id": "doc3", "title": "Only a title"},
        {"_id": "doc4", "title": "Kept", "text": "with metadata", "metadata": {"year": 2020}},
        {"_id": "doc5", "text": "BEIR line without a title"},
    )

    records = {record.id: record for record in _load(path)}

    assert records["doc1"].content == "Aspirin A drug that reduces fever."
    assert records["doc1"].metadata == {"title": "Aspirin"}
    assert records["doc2"].content == "No title here."
    assert records["doc2"].metadata == {"title": ""}
    assert records["doc3"].content == "Only a title"
    assert records["doc4"].content == "Kept with metadata"
    assert records["doc4"].metadata == {"year": 2020, "title": "Kept"}
    assert records["doc5"].content == "BEIR line without a title"
    assert records["doc5"].metadata == {}


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "ints.jsonl",
        {"id": 7, "text": "seven"},
        {"_id": 42, "title": "t", "text": "forty-two"},
        {"id": 12345678901234567890, "text": "big"},
    )
    assert [record.id for record in _load(path)] == ["7", "42", "12345678901234567890"]


def test_boolean_id_is_refused_not_turned_into_the_string_true(tmp_path: Path, settings: Settings) -> None:
    path = _write_jsonl(tmp_path / "bool.jsonl", {"id": True, "text": "yes"})
    with pytest.raises(InvalidRecord, match="id"):
        check_records(
            _load(path), dimensions=3, metric=Metric.COSINE, storage=Storage.VECTOR, settings=settings
        )


def test_invalid_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "broken.jsonl", {"id": "ok", "text": "fine"}, "", '{"id": "x", "text": ')

    with pytest.raises(InvalidRecord, match="not valid JSON") as raised:
        _load(path)

    # Blank lines still count: the broken line is the third of the file.
    assert f"{path}:3:" in str(raised.value)


@pytest.mark.parametrize(
    ("line", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int"), ("null", "NoneType")]
)
def test_a_line_that_is_not_an_object_is_refused(tmp_path: Path, line: str, kind: str) -> None:
    path = _write_jsonl(tmp_path / "scalars.jsonl", {"id": "ok", "text": "fine"}, line)

    with pytest.raises(InvalidRecord, match=f"expected a JSON object, got {kind}") as raised:
        _load(path)

    assert f"{path}:2:" in str(raised.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "a", "text": "t", "metadata": [1]}, "metadata must be a JSON object"),
        ({"id": "a", "text": "t", "colour": "red"}, "unknown record fields: colour"),
        ({"id": "a", "text": "t", "content": "c"}, "not both"),
        ({"_id": "a", "id": "b", "text": "t"}, "not both"),
        ({"_id": "a", "title": 5, "text": "t"}, "title must be a string"),
    ],
)
def test_malformed_objects_are_invalid_records_naming_where(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRecord, match=message) as raised:
        record_from_json(data, "corpus.jsonl:9")
    assert str(raised.value).startswith("corpus.jsonl:9: ")


def test_jsonl_that_is_not_utf8_is_an_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "ok", "text": "fine"}\n' + '{"id": "u", "text": "café"}\n'.encode("latin-1"))

    with pytest.raises(InvalidRecord, match="UTF-8") as raised:
        list(records_from_jsonl(path))

    assert str(path) in str(raised.value)


# ---- .csv --------------------------------------------------------------------------------------------


def test_csv_rows_with_metadata_json_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "id,text,metadata,category,price\n"
        'p1,A red kettle,"{""tags"": [""kitchen""], ""price"": 30}",kitchen,29.99\n'
        'p2,"Walking boots, waterproof",,outdoor,120\n'
        'p3,"Two\nlines",{},,\n',
        encoding="utf-8",
    )

    records = _load(path)

    assert [record.id for record in records] == ["p1", "p2", "p3"]
    assert records[0].content == "A red kettle"
    # The metadata column wins over an extra column of the same name; CSV values stay strings.
    assert records[0].metadata == {"category": "kitchen", "price": 30, "tags": ["kitchen"]}
    assert records[1].content == "Walking boots, waterproof"
    assert records[1].metadata == {"category": "outdoor", "price": "120"}
    assert records[2].content == "Two\nlines"
    assert records[2].metadata == {"category": "", "price": ""}


def test_csv_content_column_and_blank_id(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("id,content\n,no id given\nn2,second\n", encoding="utf-8")

    records = list(records_from_csv(path))

    # A blank id is left to the collection, which derives one from the content.
    assert [(record.id, record.content) for record in records] == [(None, "no id given"), ("n2", "second")]


def test_csv_without_a_text_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")

    with pytest.raises(
        InvalidRecord, match=r"needs a 'text' \(or 'content'\) column; found \['body', 'id'\]"
    ):
        _load(path)


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InvalidRecord, match="needs a 'text'"):
        _load(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [('"{not json}"', "the metadata column is not valid JSON"), ('"[1, 2]"', "must hold a JSON object")],
)
def test_csv_bad_metadata_names_the_file_and_line(tmp_path: Path, cell: str, message: str) -> None:
    path = tmp_path / "meta.csv"
    path.write_text(f"id,text,metadata\nok,fine,{{}}\nbad,text,{cell}\n", encoding="utf-8")

    with pytest.raises(InvalidRecord, match=message) as raised:
        _load(path)

    assert f"{path}:3:" in str(raised.value)


def test_csv_row_with_more_fields_than_the_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("id,text\na,alpha\nb,beta,surplus\n", encoding="utf-8")

    with pytest.raises(InvalidRecord, match="more fields than the header has columns") as raised:
        _load(path)

    assert f"{path}:3:" in str(raised.value)


def test_csv_that_is_not_utf8_is_an_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,text\nc,café\n".encode("latin-1"))

    with pytest.raises(InvalidRecord, match="UTF-8") as raised:
        list(records_from_csv(path))

    assert str(path) in str(raised.value)


def test_csv_with_a_byte_order_mark_keeps_its_id_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfid,text\nr1,hello\n")

    [record] = _load(path)

    assert record.id == "r1"
    assert record.metadata == {}


# ---- dispatch and paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["notes.md", "data.json", "README", "table.tsv"])
def test_unsupported_file_types_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("something", encoding="utf-8")

    with pytest.raises(InvalidRecord, match="unsupported file type") as raised:
        records_from_file(path)

    assert str(path) in str(raised.value)
    assert ".txt, .jsonl, .csv or an image" in str(raised.value)


def test_expand_paths_finds_supported_files_recursively_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    files = [
        "b.txt",
        "a.jsonl",
        "E.TXT",
        "sub/c.csv",
        "sub/deeper/0.txt",
        "notes.md",
        "noext",
        "sub/x.json",
        "sub/deeper/image.png",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x", encoding="utf-8")
    (root / "folder.txt").mkdir()  # a directory with a supported suffix is not a file to load
    (root / "folder.txt" / "inner.csv").write_text("id,text\n", encoding="utf-8")

    found = expand_paths([root])

    assert [path.relative_to(root).as_posix() for path in found] == [
        "E.TXT",
        "a.jsonl",
        "b.txt",
        "folder.txt/inner.csv",
        "sub/c.csv",
        "sub/deeper/0.txt",
        "sub/deeper/image.png",  # images are records too (checked when written)
    ]


def test_expand_paths_keeps_named_files_in_the_order_given(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "dir" / "a.txt").write_text("a", encoding="utf-8")
    named = tmp_path / "z.jsonl"
    named.write_text("", encoding="utf-8")
    unsupported = tmp_path / "named.md"  # named explicitly: kept, and refused when it is read
    unsupported.write_text("", encoding="utf-8")

    found = expand_paths([named, tmp_path / "dir", unsupported])

    assert found == [named, tmp_path / "dir" / "a.txt", tmp_path / "dir" / "b.txt", unsupported]


def test_expand_paths_of_an_empty_directory_is_empty(tmp_path: Path) -> None:
    assert expand_paths([tmp_path]) == []


def test_expand_paths_refuses_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "docs.jsonl"
    with pytest.raises(InvalidRecord, match="no such file or directory") as raised:
        expand_paths([tmp_path, missing])
    assert str(missing) in str(raised.value)


def test_txt_files_of_the_same_name_in_different_folders_get_different_ids(tmp_path: Path) -> None:
    from pgsimilar.core.loaders import input_files

    for folder in ("a", "b/c"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "notes.txt").write_text(f"notes of {folder}", encoding="utf-8")
    named = tmp_path / "a" / "notes.txt"
    found = input_files([tmp_path, named])
    assert [item.relative for item in found] == ["a/notes.txt", "b/c/notes.txt", "notes.txt"]
    assert [next(item.records()).id for item in found] == ["a/notes", "b/c/notes", "notes"]
