"""Looking around a collection without a query: its records page by page, and the fields of its
metadata with their common values (what a search form offers as filters).

>>> [record.id for record in list_records(collection, limit=20)]
>>> [(facet.field, facet.kind, facet.values) for facet in metadata_facets(collection).fields]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..storage import browse as browse_sql
from .search import positive_int

if TYPE_CHECKING:
    from .collection import Collection

MAX_PAGE = 1000
DEFAULT_FACET_SAMPLE = 10_000
"""Records read to find metadata fields: enough for any form, bounded on collections of millions."""
DEFAULT_FACET_VALUES = 50


@dataclass(frozen=True)
class ListedRecord:
    """A stored record as a listing shows it (no vector, no image bytes)."""

    id: str
    content: str | None
    metadata: dict[str, Any]
    has_image: bool
    created_at: datetime
    updated_at: datetime


def list_records(collection: Collection, *, limit: int = 100, after: str | None = None) -> list[ListedRecord]:
    """Up to ``limit`` records of ``collection`` in id order; pass the last id seen as ``after`` for
    the next page."""
    positive_int(limit, "limit", MAX_PAGE)
    with collection._client.database.connection() as conn:
        rows = browse_sql.list_records(conn, collection.info, limit=limit, after=after)
    return [ListedRecord(**row) for row in rows]


class FacetKind(StrEnum):
    """The JSON type of a metadata field's values (a field holding several types has a facet each)."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"


_KINDS = frozenset(kind.value for kind in FacetKind)


@dataclass(frozen=True)
class FacetValue:
    value: str | bool
    count: int


@dataclass(frozen=True)
class Facet:
    """A top-level metadata field of one JSON type: how many records hold it, how many distinct
    values it takes, its most common values (strings and booleans, most common first) and the range
    of its numbers."""

    field: str
    kind: FacetKind
    records: int
    distinct: int
    values: list[FacetValue]
    minimum: float | None = None
    maximum: float | None = None

    @property
    def complete(self) -> bool:
        """Whether ``values`` lists every value the field takes (in the records read)."""
        return self.kind is FacetKind.NUMBER or self.distinct <= len(self.values)


@dataclass(frozen=True)
class Facets:
    """The metadata fields of a collection, read from its first ``sampled`` records."""

    fields: list[Facet]
    sampled: int
    sample_limit: int

    @property
    def partial(self) -> bool:
        """True when the collection may hold more records than were read."""
        return self.sampled >= self.sample_limit

    def get(self, field: str, kind: FacetKind) -> Facet | None:
        return next((f for f in self.fields if f.field == field and f.kind is kind), None)


def metadata_facets(
    collection: Collection, *, sample: int = DEFAULT_FACET_SAMPLE, max_values: int = DEFAULT_FACET_VALUES
) -> Facets:
    """The top-level metadata fields of ``collection`` that a filter can address, with their common
    values, read from at most ``sample`` records.

    Arrays, objects and nulls are left out, and so are keys that the filter language cannot name (a
    key containing a dot is read as a path, a key starting with ``$`` as an operator).
    """
    positive_int(sample, "sample", 1_000_000)
    positive_int(max_values, "max_values", 1000)
    with collection._client.database.connection() as conn:
        rows = browse_sql.metadata_fields(conn, collection.info, sample=sample, max_values=max_values)
    fields = [
        _facet(row)
        for row in rows
        if row["kind"] in _KINDS and "." not in row["key"] and not row["key"].startswith("$")
    ]
    return Facets(fields=fields, sampled=int(rows[0]["sampled"]) if rows else 0, sample_limit=sample)


def _facet(row: dict[str, Any]) -> Facet:
    kind = FacetKind(row["kind"])
    return Facet(
        field=row["key"],
        kind=kind,
        records=int(row["records"]),
        distinct=int(row["distinct_values"]),
        values=[FacetValue(value, int(count)) for value, count in row["top_values"] or []],
        minimum=None if row["low"] is None else float(row["low"]),
        maximum=None if row["high"] is None else float(row["high"]),
    )
