"""What an upload holds, item by item: files and URLs become job items, archives and records files are
unpacked into items of their own, and every finished item becomes one :class:`Record`.

No database or HTTP here: the job queue stores what these functions return, the worker calls them.
Ids come from the upload (a sidecar's or a record's ``id``) or from the content (a SHA-256 prefix), so
uploading the same files twice stores each record once.
"""

from __future__ import annotations

import csv
import hashlib
import html.parser
import io
import json
import posixpath
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

from ..config import Settings
from ..errors import InvalidArchive, InvalidRecord
from ..media import IMAGE_SUFFIXES
from ..media.archives import ArchiveLimits, archive_format, read_archive
from ..media.fetch import Fetched, FetchLimits, check_url
from ..storage.jobs import NewItemRow
from .loaders import SIDECAR_NAMES, parse_sidecar, record_from_json, record_from_row
from .types import Record

RECORDS_SUFFIXES = frozenset({".jsonl", ".csv"})
_ACCEPTED = "images (bmp, gif, jpeg, png, tiff, webp), archives of them, .jsonl, .csv or .txt files"


class ItemKind(StrEnum):
    """What a job item's payload is."""

    IMAGE = "image"  # image bytes
    RECORD = "record"  # a record as JSON: {"id", "content", "metadata", "vector"}
    ARCHIVE = "archive"  # zip/tar bytes, unpacked by a worker into image items
    RECORDS_FILE = "records_file"  # JSONL/CSV bytes, unpacked by a worker into record items
    URL = "url"  # the item's name is the URL; fetched by a worker


def content_id(data: bytes) -> str:
    """A record id from content: 32 hex digits of its SHA-256 (collisions are not a practical concern)."""
    return hashlib.sha256(data).hexdigest()[:32]


def _suffix(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def _failed(name: str, error: str, source: str | None = None) -> NewItemRow:
    return NewItemRow(name=name, kind=ItemKind.IMAGE, payload=None, metadata={}, source=source, error=error)


def item_from_file(filename: str, data: bytes, metadata: Mapping[str, Any]) -> NewItemRow:
    """The job item for one uploaded file, by its content (archives) and its name (records files)."""
    base = dict(metadata)
    if not data:
        return _failed(filename, "the file is empty")
    if archive_format(filename, data[:1024]) is not None:
        return NewItemRow(filename, ItemKind.ARCHIVE, data, base)
    suffix = _suffix(filename)
    if suffix in RECORDS_SUFFIXES:
        return NewItemRow(filename, ItemKind.RECORDS_FILE, data, base)
    if suffix == ".txt":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return _failed(filename, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        stem = posixpath.splitext(posixpath.basename(filename))[0] or content_id(data)
        payload = {"id": stem, "content": text, "metadata": {"source": filename, **base}}
        return NewItemRow(filename, ItemKind.RECORD, json.dumps(payload).encode(), {})
    # Anything else is taken for an image; the worker decodes it and fails it if it is not one.
    return NewItemRow(filename, ItemKind.IMAGE, data, {"file_name": posixpath.basename(filename), **base})


def item_from_url(
    url: str, record_id: str | None, metadata: Mapping[str, Any], limits: FetchLimits
) -> NewItemRow:
    """The job item of a URL: its syntax is checked now, its address and content when it is fetched."""
    try:
        check_url(url, limits)
    except ValueError as exc:
        return NewItemRow(url[:2048], ItemKind.URL, None, {}, error=str(exc))
    return NewItemRow(url, ItemKind.URL, None, {"url": url, **metadata}, record_id=record_id)


# ---- unpacking ---------------------------------------------------------------------------------------


def archive_limits(settings: Settings, max_entries: int) -> ArchiveLimits:
    return ArchiveLimits(
        max_entries=max(max_entries, 0),
        max_entry_bytes=settings.max_image_bytes,
        max_total_bytes=settings.max_archive_unpacked_bytes,
        max_ratio=settings.max_archive_ratio,
    )


def unpack_archive(
    name: str, data: bytes, metadata: Mapping[str, Any], limits: ArchiveLimits
) -> list[NewItemRow]:
    """Image items of an archive, metadata from its sidecars; InvalidArchive if it cannot be used whole."""
    contents = read_archive(data, name, limits)
    sidecars: dict[str, dict[str, dict[str, Any]]] = {}
    items: list[NewItemRow] = []
    for entry in contents.entries:
        if posixpath.basename(entry.name).lower() in SIDECAR_NAMES:
            try:
                sidecars[posixpath.dirname(entry.name)] = parse_sidecar(_text(entry.data), entry.name)
            except (InvalidRecord, UnicodeDecodeError) as exc:
                items.append(_failed(entry.name, f"the sidecar cannot be read: {exc}", name))
    for entry in contents.entries:
        if posixpath.basename(entry.name).lower() in SIDECAR_NAMES:
            continue
        if _suffix(entry.name) not in IMAGE_SUFFIXES:
            reason = f"unsupported file type {_suffix(entry.name) or '(none)'!r} in an archive; it holds {_ACCEPTED}"
            items.append(_failed(entry.name, reason, name))
            continue
        extra = dict(_sidecar_row(sidecars, entry.name))
        explicit_id = extra.pop("id", None)
        row_metadata = {"file_name": entry.name, **metadata, **extra}
        items.append(
            NewItemRow(entry.name, ItemKind.IMAGE, entry.data, row_metadata, _as_id(explicit_id), name)
        )
    items.extend(_failed(error.name, error.reason, name) for error in contents.errors)
    if not items:
        raise InvalidArchive("the archive holds no images")
    return items


def _sidecar_row(sidecars: Mapping[str, Mapping[str, dict[str, Any]]], path: str) -> dict[str, Any]:
    """The metadata of ``path`` from the nearest sidecar above it (by path relative to it, or file name)."""
    folder = posixpath.dirname(path)
    while True:
        rows = sidecars.get(folder)
        if rows is not None:
            relative = posixpath.relpath(path, folder) if folder else path
            found = rows.get(relative) or rows.get(posixpath.basename(path))
            if found is not None:
                return found
        if not folder:
            return {}
        folder = posixpath.dirname(folder)


def _as_id(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig")


def unpack_records_file(
    name: str, data: bytes, metadata: Mapping[str, Any], max_items: int
) -> list[NewItemRow]:
    """Record items of a JSONL or CSV file; a malformed line is a failed item, the others carry on."""
    try:
        text = _text(data)
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    rows = _jsonl_records(name, text) if _suffix(name) == ".jsonl" else _csv_records(name, text)
    items: list[NewItemRow] = []
    for where, record in rows:
        if len(items) >= max_items:
            raise InvalidRecord(f"more than {max_items:,} records; the upload limit would be passed")
        if isinstance(record, Exception):
            items.append(_failed(where, str(record), name))
            continue
        merged = {**metadata, **record.metadata}
        payload: dict[str, Any] = {"id": record.id, "content": record.content, "metadata": merged}
        if record.vector is not None:
            payload["vector"] = list(record.vector)
        items.append(NewItemRow(where, ItemKind.RECORD, json.dumps(payload).encode(), {}, source=name))
    if not items:
        raise InvalidRecord("the file holds no records")
    return items


def _jsonl_records(name: str, text: str) -> Iterator[tuple[str, Record | Exception]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            yield where, record_from_json(json.loads(line), where)
        except json.JSONDecodeError as exc:
            yield where, InvalidRecord(f"not valid JSON ({exc.msg})")
        except InvalidRecord as exc:
            yield where, exc


def _csv_records(name: str, text: str) -> Iterator[tuple[str, Record | Exception]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = set(reader.fieldnames or [])
    if not columns & {"text", "content"}:
        raise InvalidRecord(f"a CSV needs a 'text' (or 'content') column; found {sorted(columns)}")
    for row in reader:
        where = f"{name}:{reader.line_num}"
        if None in row:
            yield where, InvalidRecord("more fields than the header has columns")
            continue
        try:
            yield where, record_from_row(row, where)
        except InvalidRecord as exc:
            yield where, exc


# ---- items to records --------------------------------------------------------------------------------


def record_of_image(data: bytes, record_id: str | None, metadata: Mapping[str, Any]) -> Record:
    return Record(id=record_id or content_id(data), image=data, metadata=dict(metadata))


def record_of_json(payload: bytes) -> Record:
    """A record item's record; without an id, its id comes from its content."""
    data = json.loads(payload)
    record = Record.from_mapping(data)
    if not record.id and isinstance(record.content, str):
        record.id = content_id(record.content.encode())
    return record


def record_of_fetched(fetched: Fetched, record_id: str | None, metadata: Mapping[str, Any]) -> Record:
    """A fetched URL's record: an image, or a text document (HTML reduced to its text)."""
    extra = {"file_name": fetched.filename, **metadata}
    if fetched.content_type.startswith("image/") or _suffix(fetched.filename) in IMAGE_SUFFIXES:
        return record_of_image(fetched.data, record_id, extra)
    if fetched.content_type.startswith("text/"):
        try:
            text = fetched.data.decode(fetched.charset or "utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidRecord(f"the document is not {fetched.charset or 'utf-8'} text") from exc
        if fetched.content_type == "text/html":
            text = html_text(text)
        return Record(id=record_id or content_id(fetched.data), content=text, metadata=extra)
    raise InvalidRecord(
        f"unsupported content type {fetched.content_type or '(none)'!r}; URLs may point to images or text"
    )


class _TextOfHtml(html.parser.HTMLParser):
    _HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth and data.strip():
            self.parts.append(data.strip())


def html_text(document: str) -> str:
    """The visible text of an HTML page (no scripts, styles or head), one space between pieces."""
    parser = _TextOfHtml()
    parser.feed(document)
    parser.close()
    return " ".join(parser.parts)
