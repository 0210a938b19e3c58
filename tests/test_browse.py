"""Looking around a collection without a query: records page by page, and metadata fields with their
common values (what the web UI's search form offers as filters)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgsimilar import Client, Collection, InvalidInput
from pgsimilar.core.browse import FacetKind, FacetValue, list_records, metadata_facets


@pytest.fixture
def vectors(client: Client, unique_name: str) -> Iterator[Collection]:
    """A collection of your own 3-d vectors (no model needed)."""
    collection = client.create_collection(unique_name, embedder="none", dimensions=3)
    yield collection
    client.drop_collection(unique_name, missing_ok=True)


def add(collection: Collection, *metadata: dict[str, object]) -> None:
    collection.upsert(
        [
            {"id": f"r{index}", "text": f"record {index}", "metadata": meta, "vector": [1.0, index, 0.5]}
            for index, meta in enumerate(metadata)
        ]
    )


def test_records_come_in_id_order_page_by_page(vectors: Collection) -> None:
    add(vectors, *[{"n": n} for n in range(5)])
    first = list_records(vectors, limit=2)
    assert [record.id for record in first] == ["r0", "r1"]
    assert first[0].content == "record 0" and first[0].metadata == {"n": 0} and not first[0].has_image
    second = list_records(vectors, limit=2, after=first[-1].id)
    assert [record.id for record in second] == ["r2", "r3"]
    assert [record.id for record in list_records(vectors, after="r3")] == ["r4"]
    assert list_records(vectors, after="r4") == []
    for limit in (0, 1001, True):
        with pytest.raises(InvalidInput, match="limit"):
            list_records(vectors, limit=limit)


def test_facets_list_fields_by_type_with_common_values_and_ranges(vectors: Collection) -> None:
    add(
        vectors,
        {"category": "audio", "price": 3},
        {"category": "audio", "price": 10.5, "on_sale": True},
        {"category": "kitchen", "on_sale": False},
        {"category": 7},
        {"nested": {"x": 1}, "tags": ["a"], "nothing": None, "a.b": "dotted", "$op": "x", "it's; --": "odd"},
    )
    facets = metadata_facets(vectors)
    assert facets.sampled == 5 and not facets.partial
    found = {(facet.field, facet.kind): facet for facet in facets.fields}
    assert set(found) == {
        ("category", FacetKind.STRING),
        ("category", FacetKind.NUMBER),
        ("price", FacetKind.NUMBER),
        ("on_sale", FacetKind.BOOLEAN),
        ("it's; --", FacetKind.STRING),  # any key is data, bound as such; dotted and $ keys are left out
    }
    category = found[("category", FacetKind.STRING)]
    assert (category.records, category.distinct, category.complete) == (3, 2, True)
    assert category.values == [FacetValue("audio", 2), FacetValue("kitchen", 1)]
    price = found[("price", FacetKind.NUMBER)]
    assert (price.minimum, price.maximum, price.distinct, price.values) == (3.0, 10.5, 2, [])
    assert found[("on_sale", FacetKind.BOOLEAN)].values == [FacetValue(False, 1), FacetValue(True, 1)]
    assert facets.get("category", FacetKind.NUMBER) is not None
    assert facets.get("missing", FacetKind.STRING) is None


def test_facets_are_bounded_by_the_sample_and_the_number_of_values(vectors: Collection) -> None:
    add(vectors, *[{"colour": colour} for colour in ("red", "red", "red", "blue", "green")])
    few = metadata_facets(vectors, max_values=1)
    (colour,) = few.fields
    assert colour.values == [FacetValue("red", 3)] and colour.distinct == 3 and not colour.complete
    sampled = metadata_facets(vectors, sample=2)
    assert sampled.sampled == 2 and sampled.partial
    with pytest.raises(InvalidInput, match="max_values"):
        metadata_facets(vectors, max_values=0)


def test_an_empty_collection_has_no_facets(vectors: Collection) -> None:
    facets = metadata_facets(vectors)
    assert facets.fields == [] and facets.sampled == 0
