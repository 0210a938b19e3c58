"""Read records from files: ``.txt`` (one record per file), ``.jsonl`` and ``.csv`` (one per line/row),
and images (one record per file, metadata from a sidecar).

Every problem is an :class:`InvalidRecord` naming the file and line, raised while reading, so a
loader can read a whole input before writing any of it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidRecord
from ..media import IMAGE_SUFFIXES
from .types import Record

TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".csv"})
LOADABLE_SUFFIXES = TEXT_SUFFIXES | IMAGE_SUFFIXES


def read_text_file(path: Path) -> str:
    """A UTF-8 text file, or an :class:`InvalidRecord` saying why it cannot be read."""
    # utf-8-sig: files saved by Excel and Notepad start with a byte-order mark, which is not content.
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidRecord(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InvalidRecord(f"{path}: cannot be read ({exc.strerror})") from exc


def json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """``(file:line, value)`` of every non-blank line of a JSON-lines file."""
    # Split on newlines only: JSON strings may hold U+2028 and other characters splitlines() breaks on.
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRecord(f"{where}: not valid JSON ({exc.msg})") from exc


def records_from_txt(path: Path, record_id: str | None = None) -> Iterator[Record]:
    """The whole file as one record; its id is ``record_id``, by default the file name without extension."""
    yield Record(id=record_id or path.stem, content=read_text_file(path), metadata={"source": path.name})


def record_from_json(data: object, where: str) -> Record:
    """A record from ``{"id", "text"|"content", "metadata", "vector"}`` or BEIR's ``{"_id", "title", "text"}``.

    A BEIR title is put before the text (``title + " " + text``, as BEIR evaluations embed documents)
    and kept in the metadata.
    """
    if not isinstance(data, dict):
        raise InvalidRecord(f"{where}: expected a JSON object, got {type(data).__name__}")
    data = dict(data)
    if "_id" in data:
        if "id" in data:
            raise InvalidRecord(f"{where}: give 'id' or BEIR's '_id', not both")
        data["id"] = data.pop("_id")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidRecord(f"{where}: metadata must be a JSON object")
    title = data.pop("title", None)
    if title is not None:
        if not isinstance(title, str):
            raise InvalidRecord(f"{where}: title must be a string")
        text = data.get("text") or ""
        data["text"] = f"{title} {text}".strip() if title else text
        data["metadata"] = {**metadata, "title": title}
    if isinstance(data.get("id"), int) and not isinstance(data["id"], bool):
        data["id"] = str(data["id"])  # BEIR corpora have numeric ids; other types are refused later
    try:
        return Record.from_mapping(data)
    except InvalidRecord as exc:
        raise InvalidRecord(f"{where}: {exc}") from exc


def records_from_jsonl(path: Path) -> Iterator[Record]:
    """One record per non-blank line (see :func:`record_from_json`)."""
    for where, data in json_lines(path):
        yield record_from_json(data, where)


def records_from_csv(path: Path) -> Iterator[Record]:
    """Rows with an ``id`` and a ``text`` (or ``content``) column; ``metadata`` may hold a JSON object,
    and every other column becomes a metadata field."""
    with io.StringIO(read_text_file(path), newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not columns & {"text", "content"}:
            raise InvalidRecord(
                f"{path}: a CSV needs a 'text' (or 'content') column; found {sorted(columns)}"
            )
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:
                raise InvalidRecord(f"{where}: more fields than the header has columns")
            yield record_from_row(row, where)


def record_from_row(row: dict[str, Any], where: str) -> Record:
    """A record from a CSV row: ``id``, ``text`` or ``content``, ``metadata`` (JSON); other columns are metadata."""
    row = dict(row)
    metadata: dict[str, Any] = {}
    raw_metadata = row.pop("metadata", None)
    if raw_metadata:
        try:
            metadata = json.loads(raw_metadata)
        except json.JSONDecodeError as exc:
            raise InvalidRecord(f"{where}: the metadata column is not valid JSON ({exc.msg})") from exc
        if not isinstance(metadata, dict):
            raise InvalidRecord(f"{where}: the metadata column must hold a JSON object")
    record_id = row.pop("id", None) or None
    content = row.pop("text", None) if "text" in row else row.pop("content", None)
    extra = {key: value for key, value in row.items() if key}
    return Record(id=record_id, content=content, metadata={**extra, **metadata})  # type: ignore[arg-type]


def record_from_image(path: Path, record_id: str, metadata: Mapping[str, Any] | None = None) -> Record:
    """An image file as a record (read and checked when written); its file name is kept in the metadata."""
    return Record(id=record_id, image=path, metadata={"file_name": path.name, **(metadata or {})})


def records_from_file(
    path: Path, *, relative: str | None = None, sidecar: Mapping[str, dict[str, Any]] | None = None
) -> Iterator[Record]:
    """Records of one file, by its extension. ``relative`` is the file's path relative to the folder it
    was found in: a .txt record's id is it without the extension, an image record's id is it whole.
    ``sidecar`` maps such paths (or bare file names) to metadata for images."""
    suffix = path.suffix.lower()
    relative = relative or path.name
    if suffix == ".txt":
        return records_from_txt(path, relative.removesuffix(path.suffix))
    if suffix == ".jsonl":
        return records_from_jsonl(path)
    if suffix == ".csv":
        return records_from_csv(path)
    if suffix in IMAGE_SUFFIXES:
        extra = (sidecar or {}).get(relative) or (sidecar or {}).get(path.name)
        return iter([record_from_image(path, relative, extra)])
    raise InvalidRecord(f"{path}: unsupported file type {suffix!r}; use .txt, .jsonl, .csv or an image")


SIDECAR_NAMES = ("metadata.csv", "metadata.json")


def read_sidecar(path: Path) -> dict[str, dict[str, Any]]:
    """Image metadata from a sidecar file (see :func:`parse_sidecar`)."""
    return parse_sidecar(read_text_file(path), str(path))


def parse_sidecar(text: str, name: str) -> dict[str, dict[str, Any]]:
    """Image metadata from a sidecar's text: a CSV with a ``file`` column (paths relative to the folder,
    or file names) and one column per field, or (``name`` ending in .json) a JSON object
    ``{file: {field: value}}``."""
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRecord(f"{name}: not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
            raise InvalidRecord(f"{name}: a JSON sidecar maps file names to metadata objects")
        return {str(key): value for key, value in data.items()}
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        if "file" not in (reader.fieldnames or []):
            raise InvalidRecord(f"{name}: a CSV sidecar needs a 'file' column")
        rows = {}
        for row in reader:
            file_name = row.pop("file") or ""
            rows[file_name] = {key: value for key, value in row.items() if key and value not in (None, "")}
        return rows


@dataclass(frozen=True)
class InputFile:
    """A file to load: its path, its path relative to the folder named (or its name), and its folder's sidecar."""

    path: Path
    relative: str
    sidecar: Mapping[str, dict[str, Any]]

    def records(self) -> Iterator[Record]:
        return records_from_file(self.path, relative=self.relative, sidecar=self.sidecar)


def input_files(paths: list[Path], *, sidecar: Path | None = None) -> list[InputFile]:
    """Files named, plus the supported files found (recursively, sorted) in directories named.

    A directory's ``metadata.csv`` or ``metadata.json`` is its images' sidecar, not records; ``sidecar``
    names one for every image."""
    given = read_sidecar(sidecar) if sidecar else {}
    found: list[InputFile] = []
    for path in paths:
        if path.is_dir():
            own = next((path / name for name in SIDECAR_NAMES if (path / name).is_file()), None)
            metadata = {**(read_sidecar(own) if own else {}), **given}
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in LOADABLE_SUFFIXES and p != own
            )
            found.extend(InputFile(file, file.relative_to(path).as_posix(), metadata) for file in files)
        elif path.is_file():
            found.append(InputFile(path, path.name, given))
        else:
            raise InvalidRecord(f"{path}: no such file or directory")
    return found


def expand_paths(paths: list[Path]) -> list[Path]:
    """The files :func:`input_files` finds."""
    return [found.path for found in input_files(paths)]
