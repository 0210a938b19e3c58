"""Checks on what users hand in: names, vectors, records. Everything is refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..config import Settings
from ..errors import DimensionMismatch, InvalidInput, InvalidName, InvalidRecord, InvalidVector
from ..media import CheckedImage, load_image
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


# float32's rounding error of a sum of squares stays below 1e-3 up to pgvector's 16,000 dimensions.
_SQUARE_MARGIN = 0.99


def check_vector(
    value: VectorLike, dimensions: int, metric: Metric, storage: Storage
) -> npt.NDArray[np.float32]:
    """``value`` as a float32 array of the collection's dimensions, or an InvalidVector saying why not."""
    if type(value) is np.ndarray and value.dtype == np.float32 and value.shape == (dimensions,):
        # What embedders and most callers hand in, passed by one dot product (a search's hot path): no
        # value exceeds the square root of the sum of squares, NaN and infinity make the sum fail the
        # comparison, and the margin is far wider than float32's rounding of the sum. Anything that
        # does not pass is checked again below, exactly, which says why.
        with np.errstate(over="ignore", invalid="ignore"):  # overflow and NaN: checked below
            square = float(np.dot(value, value))
        if square <= _vector_limit(storage) ** 2 * _SQUARE_MARGIN and (
            square > 0.0 or metric is not Metric.COSINE
        ):
            return value.copy()
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


def _vector_matrix(
    values: Sequence[VectorLike], dimensions: int, metric: Metric, storage: Storage
) -> tuple[npt.NDArray[np.float32] | None, int]:
    """``values`` as the rows of one float32 matrix, checked as :func:`check_vector` checks each, a block
    at a time: ``(matrix, n)`` where rows before ``n`` passed and row ``n`` (if any) did not. ``(None, 0)``
    when they do not make a matrix of ``dimensions`` columns (ragged, not numbers): check one by one.

    Float32 arrays (what embedders return) are checked as float32, everything else as float64 like
    :func:`check_vector`, so both accept exactly the same values and give the same float32 rows.
    """
    matrix = np.empty((len(values), dimensions), dtype=np.float32)
    as_float32 = all(type(value) is np.ndarray and value.dtype == np.float32 for value in values)
    limit = _vector_limit(storage)
    for start in range(0, len(values), _BLOCK_ROWS):
        part = values[start : start + _BLOCK_ROWS]
        block = matrix[start : start + len(part)]
        try:
            if as_float32:
                np.stack(part, out=block)
                checked: npt.NDArray[np.floating[Any]] = block
            else:
                checked = np.asarray(part, dtype=np.float64)
                if checked.shape != block.shape:
                    return None, 0
        except (TypeError, ValueError, OverflowError):
            return None, 0
        # max and min carry NaN through, and NaN fails every comparison: one test per row for NaN,
        # infinity, the storage's range and (cosine) the zero vector.
        high, low = checked.max(axis=1), checked.min(axis=1)
        good = (high <= limit) & (low >= -limit)
        if metric is Metric.COSINE:
            good &= (high != 0) | (low != 0)
        if not good.all():
            return matrix, start + int(np.argmin(good))
        if not as_float32:
            block[...] = checked  # within float32's range, checked above
    return matrix, len(values)


def _check_text(value: object, where: str, settings: Settings) -> str:
    if not isinstance(value, str):
        raise InvalidRecord(f"{where}: content must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidRecord(f"{where}: content is empty; give text to embed, or a vector")
    if len(value) > settings.max_content_chars:
        raise InvalidRecord(
            f"{where}: content has {len(value):,} characters, more than the limit of "
            f"{settings.max_content_chars:,} (PGSIMILAR_MAX_CONTENT_CHARS); split it into chunks"
        )
    if "\x00" in value:
        raise InvalidRecord(f"{where}: content contains a NUL character, which PostgreSQL text cannot store")
    return value


_JSON = json.JSONEncoder(allow_nan=False)  # json.dumps(..., allow_nan=False) builds an encoder per call


def check_metadata(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"{where}: metadata must be a JSON object, got {type(value).__name__}")
    try:
        encoded = _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(
            f"{where}: metadata is not valid JSON ({exc}); NaN and infinity are not JSON"
        ) from exc
    if "\\u0000" in encoded:
        raise InvalidRecord(
            f"{where}: metadata contains a NUL character, which PostgreSQL jsonb cannot store"
        )
    return dict(value)


def _all_json(values: list[Any]) -> bool:
    """Whether every value encodes as jsonb would store it: one encoder call for all, the usual case;
    False sends the caller to :func:`check_metadata` one by one, to name the first culprit."""
    try:
        return "\\u0000" not in _JSON.encode(values)
    except (TypeError, ValueError, RecursionError):
        return False


@dataclass
class CheckedRecord:
    """A record that passed every check; ``vector`` is the caller's, or None when it must be embedded
    (from the image if there is one, else from the content)."""

    id: str
    content: str | None
    metadata: dict[str, Any]
    vector: npt.NDArray[np.float32] | None
    image: CheckedImage | None = None

    @property
    def content_hash(self) -> str | None:
        # Only what the embedder turns into the vector is hashed: a record carrying its own vector has
        # no hash, so a later write of it without a vector is embedded.
        if self.vector is not None:
            return None
        if self.image is not None:
            return "image:" + self.image.sha256
        return content_hash(self.content) if self.content is not None else None


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
    matrix, good_vectors = _vector_matrix(given, dimensions, metric, storage)
    metadata_is_json = _all_json([record.metadata for record in items])
    checked: list[CheckedRecord] = []
    seen: set[str] = set()
    vectors_seen = 0
    for position, record in enumerate(items):
        where = f"record {position}" + (f" (id {record.id!r})" if isinstance(record.id, str) else "")
        content = None if record.content is None else _check_text(record.content, where, settings)
        vector = None
        if record.vector is not None:
            if matrix is not None and vectors_seen < good_vectors:
                vector = matrix[vectors_seen]
            else:
                vector = _check_record_vector(record.vector, where, dimensions, metric, storage)
            vectors_seen += 1
        image = None
        if record.image is not None:
            image = load_image(
                record.image,
                max_bytes=settings.max_image_bytes,
                max_pixels=settings.max_image_pixels,
                name=where,
            )
        if content is None and vector is None and image is None:
            raise InvalidRecord(f"{where}: a record needs content or an image to embed, or a vector")
        record_id = record.id if record.id is not None else _derived_id(content, image, where)
        _check_id(record_id, where, settings)
        if record_id in seen:
            raise InvalidRecord(f"{where}: id {record_id!r} appears twice in one write")
        seen.add(record_id)
        if metadata_is_json and type(record.metadata) is dict:
            # The caller's dict itself: written before the call returns, and one object fewer per record
            # for the garbage collector to go through in a large write.
            metadata = record.metadata
        else:
            metadata = check_metadata(record.metadata, where)
        checked.append(CheckedRecord(record_id, content, metadata, vector, image))
    if unreadable is not None:
        raise unreadable[0] from unreadable[1]
    return checked


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


def _check_record_vector(
    value: VectorLike, where: str, dimensions: int, metric: Metric, storage: Storage
) -> npt.NDArray[np.float32]:
    try:
        return check_vector(value, dimensions, metric, storage)
    except InvalidVector as exc:
        raise type(exc)(f"{where}: {exc}") from exc


def _as_mapping(item: object, position: int) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidRecord(f"expected a Record or a mapping, got {type(item).__name__}")
    return item


def _derived_id(content: str | None, image: CheckedImage | None, where: str) -> str:
    # Derived from the image or the text, so loading the same items twice does not duplicate them.
    if image is not None:
        return image.sha256[:32]
    if content is None:
        raise InvalidRecord(f"{where}: a record with only a vector needs an id")
    return content_hash(content)[:32]


def _check_id(record_id: object, where: str, settings: Settings) -> None:
    if not isinstance(record_id, str) or not record_id:
        raise InvalidRecord(f"{where}: id must be a non-empty string")
    if len(record_id) > settings.max_id_chars:
        raise InvalidRecord(f"{where}: id is longer than {settings.max_id_chars} characters")
    if "\x00" in record_id:
        raise InvalidRecord(f"{where}: id contains a NUL character")
