"""The search form's fields, as they travel in a URL, and the metadata filter they make."""

from __future__ import annotations

import pytest

from pgsimilar import InvalidFilter, SearchMode
from pgsimilar.web.forms import parse_search_form


def test_fields_make_one_filter() -> None:
    form, problems = parse_search_form(
        [
            ("q", "guitar"),
            ("k", "5"),
            ("exact", "true"),
            ("mode", "hybrid"),
            ("f.category", "music"),
            ("f.artist", ""),  # "Any"
            ("b.on_sale", "true"),
            ("min.price", "10"),
            ("max.price", "99.5"),
            ("filter", '{"year": {"$gte": 2000}}'),
        ]
    )
    assert problems == []
    assert (form.q, form.k, form.exact, form.mode) == ("guitar", 5, True, SearchMode.HYBRID)
    assert form.metadata_filter() == {
        "$and": [
            {"category": "music", "on_sale": True, "price": {"$gte": 10, "$lte": 99.5}},
            {"year": {"$gte": 2000}},
        ]
    }
    assert form.similar_params("r1") == [
        ("similar", "r1"),
        ("k", "5"),
        ("exact", "true"),
        ("f.category", "music"),
        ("b.on_sale", "true"),
        ("min.price", "10"),
        ("max.price", "99.5"),
        ("filter", '{"year": {"$gte": 2000}}'),
    ]


def test_an_empty_form_has_no_filter_and_no_search() -> None:
    form, problems = parse_search_form([])
    assert problems == [] and not form.submitted and form.metadata_filter() is None and form.k is None
    similar, _ = parse_search_form([("similar", "r1"), ("mode", "keyword")])
    assert similar.submitted and similar.mode is SearchMode.VECTOR  # "more like this" is a vector search


def test_malformed_fields_are_reported_and_keep_their_defaults() -> None:
    form, problems = parse_search_form([("q", "x"), ("k", "many"), ("mode", "fuzzy")])
    assert form.k is None and form.mode is SearchMode.VECTOR
    assert problems == [
        "the number of results must be a whole number, not 'many'",
        "unknown search mode 'fuzzy'; choose vector, keyword or hybrid",
    ]
    assert parse_search_form([("k", "1000")])[1] == ["the number of results must be from 1 to 100"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("filter", "{", "not valid JSON"),
        ("filter", '"music"', "must be a JSON object"),
        ("min.price", "cheap", "the minimum of price must be a number"),
        ("max.price", "inf", "the maximum of price must be a finite number"),
        ("b.on_sale", "maybe", "on_sale must be true or false"),
    ],
)
def test_a_bad_filter_field_says_what_is_wrong(field: str, value: str, message: str) -> None:
    form, _ = parse_search_form([(field, value)])
    with pytest.raises(InvalidFilter, match=message):
        form.metadata_filter()
