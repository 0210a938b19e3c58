"""Checks on what users hand in: names, vectors, records. Everything is refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from ..config import Settings
from ..errors import DimensionMismatch, InvalidInput, InvalidName, InvalidRecord, InvalidVector
from ..media import CheckedImage, load_image
from ..storage.records import StagedRecord
from .types import Metric, Record, Storage, VectorLike

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_HALF_MAX = 65504.0  # largest finite float16


_E = TypeVar("_E", bound=StrEnum)


def choice(enum: type[_E], value: str | _E, what: str) -> _E:
    """``value`` as a member of ``enum``, or an InvalidInput naming the choices."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"unknown {what} {value!r}; choose one of: {allowed}") from None


def check_name(name: object, what: str = "collection") -> str:
    """Namespace and collection names: 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid {what} name {name!r}: use 1-63 characters from a-z, 0-9, '_' and '-', "
            "starting with a letter or a digit"
        )
    return name


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _vector_limit(storage: Storage) -> float:
    return _HALF_MAX if storage is Storage.HALFVEC else _FLOAT32_MAX


def check_vector(
    value: VectorLike, dimensions: int, metric: Metric, storage: Storage
) -> npt.NDArray[np.float32]:
    """``value`` as a float32 array of the collection's dimensions, or an InvalidVector saying why not.
    A float32 array of that shape is returned as it is, not copied: callers are done with it before
    they return (as with :func:`_checked_vectors`)."""
    # What embedders and most callers hand in (a search's hot path) takes the batch check's test, on the
    # vector's largest and smallest values. Anything it does not pass is checked again below, which says why.
    if (
        type(value) is np.ndarray
        and value.dtype == np.float32
        and value.shape == (dimensions,)
        and _passing(value.max(), value.min(), _vector_limit(storage), metric)
    ):
        return value
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVector(f"a vector must be a list of numbers: {exc}") from exc
    if array.ndim != 1:
        raise InvalidVector(f"a vector must be a flat list of numbers, got shape {array.shape}")
    if array.shape[0] != dimensions:
        raise DimensionMismatch(
            f"vector has {array.shape[0]} dimensions; this collection stores {dimensions}-dimensional vectors"
        )
    if not np.isfinite(array).all():
        raise InvalidVector("vector contains NaN or infinity; every value must be a finite number")
    limit = _vector_limit(storage)
    if np.abs(array).max(initial=0.0) > limit:
        raise InvalidVector(f"vector values must lie within ±{limit:g} for {storage.value} storage")
    if metric is Metric.COSINE and not array.any():
        raise InvalidVector("a zero vector has no direction, so its cosine distance is undefined")
    return array.astype(np.float32)


_BLOCK_ROWS = 1024  # vectors converted and checked at a time: the block stays in the CPU's cache


def _checked_vectors(
    values: Sequence[VectorLike], dimensions: int, metric: Metric, storage: Storage
) -> tuple[list[npt.NDArray[np.float32]] | None, int]:
    """``values`` checked as :func:`check_vector` checks each, a block at a time: ``(vectors, n)`` where the
    first ``n`` values passed (``vectors``: them as float32 arrays) and value ``n`` (if any) did not.
    ``(None, 0)`` when they do not make rows of ``dimensions`` numbers (ragged, not numbers): check one
    by one.

    Float32 arrays of the right shape (what embedders return) are checked as float32 and kept as they
    are (a write is done with them before it returns), through one block-sized buffer that stays in the
    CPU's cache; everything else is checked as float64 like :func:`check_vector` and converted, so both
    accept exactly the same values and give the same float32 rows.
    """
    shape = (dimensions,)
    as_float32 = all(
        type(value) is np.ndarray and value.dtype == np.float32 and value.shape == shape for value in values
    )
    buffer = np.empty((min(len(values), _BLOCK_ROWS), dimensions), dtype=np.float32)
    limit = _vector_limit(storage)
    vectors: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(values), _BLOCK_ROWS):
        part = values[start : start + _BLOCK_ROWS]
        try:
            if as_float32:
                block: npt.NDArray[np.floating[Any]] = buffer[: len(part)]
                np.concatenate(part, out=block.reshape(-1))  # every one has the shape: checked above
            else:
                block = np.asarray(part, dtype=np.float64)
                if block.shape != (len(part), dimensions):
                    return None, 0
        except (TypeError, ValueError, OverflowError):
            return None, 0
        passed = _rows_passing(block, limit, metric)
        if as_float32:
            vectors += cast("Sequence[npt.NDArray[np.float32]]", part[:passed])
        else:
            vectors += list(block[:passed].astype(np.float32))
        if passed < len(part):
            return vectors, start + passed
    return vectors, len(values)


def _passing(high: Any, low: Any, limit: float, metric: Metric) -> Any:
    """Whether vectors whose largest and smallest values are ``high`` and ``low`` (numbers, or arrays of
    them, one per vector) are ones :func:`check_vector` accepts."""
    # max and min carry NaN through, and NaN fails every comparison: one test per vector for NaN,
    # infinity, the storage's range and (cosine) the zero vector.
    good = (high <= limit) & (low >= -limit)
    if metric is Metric.COSINE:
        good &= (high != 0) | (low != 0)
    return good


def _rows_passing(block: npt.NDArray[np.floating[Any]], limit: float, metric: Metric) -> int:
    """How many rows of ``block``, from the first, are vectors :func:`check_vector` accepts."""
    good = _passing(block.max(axis=1), block.min(axis=1), limit, metric)
    return len(block) if good.all() else int(np.argmin(good))


def _check_text(value: object, settings: Settings) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(f"content must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidRecord("content is empty; give text to embed, or a vector")
    if len(value) > settings.max_content_chars:
        raise InvalidRecord(
            f"content has {len(value):,} characters, more than the limit of "
            f"{settings.max_content_chars:,} (PGSIMILAR_MAX_CONTENT_CHARS); split it into chunks"
        )
    if "\x00" in value:
        raise InvalidRecord("content contains a NUL character, which PostgreSQL text cannot store")
    if not encodable(value):
        raise InvalidRecord(f"content is not valid Unicode text: {_SURROGATE}")
    return value


_SURROGATE = "it holds a lone surrogate (U+D800 to U+DFFF, left by a bad decode), which UTF-8 cannot encode"


def storable_text(text: str) -> bool:
    """Whether PostgreSQL text can hold ``text``: no NUL, and nothing UTF-8 cannot encode."""
    return "\x00" not in text and encodable(text)


def encodable(text: str) -> bool:
    """Whether ``text`` can be sent to PostgreSQL as UTF-8: false when it holds a lone surrogate."""
    if text.isascii():  # the usual case, and a quick test
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_JSON = json.JSONEncoder(allow_nan=False)  # json.dumps(..., allow_nan=False) builds an encoder per call
_JSON_UNESCAPED = json.JSONEncoder(allow_nan=False, ensure_ascii=False)

# In JSON text a NUL character is the escape \u0000 after an even number of backslashes (none, or escaped
# backslashes); after an odd number, a backslash of the data is followed by the five characters u0000.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _holds_nul(json_text: str) -> bool:
    """Whether JSON text written by the json module holds a NUL character, which jsonb cannot store."""
    return "\\u0000" in json_text and _NUL_ESCAPE.search(json_text) is not None


def metadata_json(value: object) -> str:
    """``value`` as the JSON text of the metadata to store, or an InvalidRecord saying why it cannot be."""
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"metadata must be a JSON object, got {type(value).__name__}")
    try:
        text = _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"metadata is not valid JSON ({exc}); NaN and infinity are not JSON") from exc
    except RecursionError as exc:
        raise InvalidRecord("metadata is nested too deeply to encode as JSON") from exc
    if _holds_nul(text):
        raise InvalidRecord("metadata contains a NUL character, which PostgreSQL jsonb cannot store")
    if _holds_surrogate(value, text):
        raise InvalidRecord(f"metadata is not valid Unicode text: {_SURROGATE}")
    return text


def _holds_surrogate(value: object, json_text: str) -> bool:
    """Whether ``value``, written as ``json_text`` by the json module, holds a lone surrogate in a key or a
    string, which jsonb refuses. The module escapes every character past ASCII, a surrogate as \\udXXX:
    only when that text appears is the value written again unescaped, to see whether UTF-8 can encode it
    (a pair of surrogates escaped is one valid character)."""
    return "\\ud" in json_text and not encodable(_JSON_UNESCAPED.encode(value))


# Metadata that passes holds no NUL, so a string of one NUL between the values of a list makes the list's
# JSON text easy to cut back into theirs.
_CUT = "\x00"
_CUT_JSON = ', "\\u0000", '


def _metadata_texts(values: list[Any]) -> list[str] | None:
    """Each value's JSON text as :func:`metadata_json` writes it, by one call of the encoder for all: less
    than half the time of one call each, most of which goes to setting the encoder up. None when a value
    is not JSON or holds a NUL: the caller then checks them one by one, to name the first culprit. (That
    each is a mapping is for the caller to check.)"""
    if not values:
        return []
    parts: list[object] = [_CUT] * (2 * len(values) - 1)
    parts[::2] = values
    try:
        encoded = _JSON.encode(parts)
    except (TypeError, ValueError, RecursionError):
        return None
    texts = encoded[1:-1].split(_CUT_JSON)  # "[v1, cut, v2]" -> [v1, v2]
    if len(texts) != len(values):  # a cut inside a value: a list in it holds a NUL string
        return None
    # The cuts make len(values) - 1 escaped NULs; any more, and a value holds a NUL or the text \u0000.
    if encoded.count("\\u0000") >= len(values) and any(_holds_nul(text) for text in texts):
        return None
    # Only the values whose text holds a surrogate's escape are written again to look closer.
    if "\\ud" in encoded and any(_holds_surrogate(v, t) for v, t in zip(values, texts, strict=True)):
        return None
    return texts


@dataclass(slots=True)
class CheckedRecord(StagedRecord):
    """A record that passed every check, in the form it is written. ``vector`` is the caller's, or None
    until the record is embedded (from its image if it has one, else from its content), which
    ``content_hash`` identifies: an unchanged record is not embedded again. ``checked_image`` is the
    decoded image, for the embedder."""

    checked_image: CheckedImage | None = None


def _content_hash(
    content: str | None, vector: npt.NDArray[np.float32] | None, image: CheckedImage | None
) -> str | None:
    # Only what the embedder turns into the vector is hashed: a record carrying its own vector has no
    # hash, so a later write of it without a vector is embedded.
    if vector is not None:
        return None
    if image is not None:
        return "image:" + image.sha256
    return content_hash(content) if content is not None else None


def check_records(
    records: Iterable[Record | Mapping[str, Any]],
    *,
    dimensions: int,
    metric: Metric,
    storage: Storage,
    settings: Settings,
) -> list[CheckedRecord]:
    """Every record checked; the first problem raises, naming the record by position and id.

    Vectors and metadata are checked for the whole write at once (what a large write spends its time
    on), then each record in order; a record that fails is checked again alone, so the error is the
    one the record-by-record checks would raise first.
    """
    items, unreadable = _as_records(records)
    given = [record.vector for record in items if record.vector is not None]
    passed_vectors = iter(_checked_vectors(given, dimensions, metric, storage)[0] or [])
    metadata_texts = _metadata_texts([record.metadata for record in items])
    checked: list[CheckedRecord] = []
    seen: set[str] = set()
    for position, record in enumerate(items):
        try:
            content = None if record.content is None else _check_text(record.content, settings)
            vector = None
            if record.vector is not None:
                vector = next(passed_vectors, None)
                if vector is None:  # the one that failed the check of the whole write: say why
                    vector = check_vector(record.vector, dimensions, metric, storage)
            image = None if record.image is None else _record_image(record, position, settings)
            if content is None and vector is None and image is None:
                raise InvalidRecord("a record needs content or an image to embed, or a vector")
            record_id = record.id if record.id is not None else _derived_id(content, image)
            _check_id(record_id, settings)
            if record_id in seen:
                raise InvalidRecord(f"id {record_id!r} appears twice in one write")
            seen.add(record_id)
            if metadata_texts is not None and type(record.metadata) is dict:
                text = metadata_texts[position]
            else:
                text = metadata_json(record.metadata)
        except (InvalidRecord, InvalidVector) as exc:
            # Said here, once, rather than formatted for every record in case it fails.
            raise type(exc)(f"{_where(position, record)}: {exc}") from exc
        checked.append(_checked_record(record_id, content, text, vector, image))
    if unreadable is not None:
        raise unreadable[0] from unreadable[1]
    return checked


def _where(position: int, record: Record) -> str:
    return f"record {position}" + (f" (id {record.id!r})" if isinstance(record.id, str) else "")


def _record_image(record: Record, position: int, settings: Settings) -> CheckedImage:
    assert record.image is not None
    # Its errors (InvalidImage) name the record themselves, so check_records passes them on as they are.
    return load_image(
        record.image,
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        name=_where(position, record),
    )


def _checked_record(
    record_id: str,
    content: str | None,
    metadata_text: str,
    vector: npt.NDArray[np.float32] | None,
    image: CheckedImage | None,
) -> CheckedRecord:
    hashed = _content_hash(content, vector, image)
    if image is None:
        return CheckedRecord(record_id, content, metadata_text, hashed, vector)
    return CheckedRecord(
        record_id,
        content,
        metadata_text,
        hashed,
        vector,
        media_type=image.media_type,
        image=image.data,
        thumbnail=image.thumbnail,
        checked_image=image,
    )


def _as_records(
    records: Iterable[Record | Mapping[str, Any]],
) -> tuple[list[Record], tuple[InvalidRecord, InvalidRecord] | None]:
    """The records up to the first that is not one (nor a mapping that makes one), and that one's error
    (with its cause), raised once the records before it are checked."""
    items: list[Record] = []
    for position, item in enumerate(records):
        if isinstance(item, Record):
            items.append(item)
            continue
        try:
            items.append(Record.from_mapping(_as_mapping(item, position)))
        except InvalidRecord as exc:
            return items, (InvalidRecord(f"record {position}: {exc}"), exc)
    return items, None


def _as_mapping(item: object, position: int) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidRecord(f"expected a Record or a mapping, got {type(item).__name__}")
    return item


def _derived_id(content: str | None, image: CheckedImage | None) -> str:
    # Derived from the image or the text, so loading the same items twice does not duplicate them.
    if image is not None:
        return image.sha256[:32]
    if content is None:
        raise InvalidRecord("a record with only a vector needs an id")
    return content_hash(content)[:32]


def _check_id(record_id: object, settings: Settings) -> None:
    if not isinstance(record_id, str) or not record_id:
        raise InvalidRecord("id must be a non-empty string")
    if len(record_id) > settings.max_id_chars:
        raise InvalidRecord(f"id is longer than {settings.max_id_chars} characters")
    if "\x00" in record_id:
        raise InvalidRecord("id contains a NUL character")
    if not encodable(record_id):
        raise InvalidRecord(f"id is not valid Unicode text: {_SURROGATE}")
