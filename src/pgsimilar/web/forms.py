"""The search form: its fields as they travel in a URL (so a search can be bookmarked and shared), and
the metadata filter they make.

``q`` the text, ``similar`` a record id ("more like this"), ``k``, ``exact``, ``mode``; filters are
``f.FIELD=value`` (a string field equals value), ``b.FIELD=true|false`` (a boolean field),
``min.FIELD`` / ``max.FIELD`` (a number field's range) and ``filter`` (the JSON filter language, for
anything else). All of them are ANDed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.types import SearchMode
from ..errors import InvalidFilter

MAX_K = 100
EQUALS, FLAG, MINIMUM, MAXIMUM = "f.", "b.", "min.", "max."


@dataclass(frozen=True)
class SearchForm:
    """What the search form asks for. ``q`` is None when no text search was submitted."""

    q: str | None = None
    similar: str | None = None
    k: int | None = None  # None: the page's default
    exact: bool = False
    mode: SearchMode = SearchMode.VECTOR
    equals: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)
    minimum: dict[str, str] = field(default_factory=dict)
    maximum: dict[str, str] = field(default_factory=dict)
    filter_json: str = ""

    @property
    def submitted(self) -> bool:
        return self.q is not None or self.similar is not None

    @property
    def has_filter(self) -> bool:
        values = [*self.equals.values(), *self.flags.values(), *self.minimum.values(), *self.maximum.values()]
        return any(values) or bool(self.filter_json.strip())

    def filter_params(self) -> list[tuple[str, str]]:
        """The filter fields as query parameters (kept by the links of a result page)."""
        params = [
            (prefix + name, value) for prefix, values in self._filter_groups() for name, value in values
        ]
        return [*params, ("filter", self.filter_json)] if self.filter_json.strip() else params

    def similar_params(self, record_id: str) -> list[tuple[str, str]]:
        """The query of "more like this" for ``record_id`` with this form's k, exactness and filters."""
        k = [("k", str(self.k))] if self.k else []
        return [("similar", record_id), *k, *self._exact(), *self.filter_params()]

    def _exact(self) -> list[tuple[str, str]]:
        return [("exact", "true")] if self.exact else []

    def _filter_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        groups = [(EQUALS, self.equals), (FLAG, self.flags), (MINIMUM, self.minimum), (MAXIMUM, self.maximum)]
        return [(prefix, [(k, v) for k, v in values.items() if v]) for prefix, values in groups]

    def metadata_filter(self) -> dict[str, Any] | None:
        """The filter for :meth:`Collection.search`; InvalidInput naming the field that is wrong."""
        conditions: dict[str, Any] = {name: value for name, value in self.equals.items() if value}
        for name, value in self.flags.items():
            if value:
                if value not in ("true", "false"):
                    raise InvalidFilter(f"{name} must be true or false, not {value!r}")
                conditions[name] = value == "true"
        for name in dict.fromkeys([*self.minimum, *self.maximum]):
            bounds = {
                op: _number(values[name], f"the {label} of {name}")
                for op, label, values in (
                    ("$gte", "minimum", self.minimum),
                    ("$lte", "maximum", self.maximum),
                )
                if values.get(name)
            }
            if bounds:
                conditions[name] = {**conditions[name], **bounds} if name in conditions else bounds
        extra = _json_filter(self.filter_json)
        if extra and conditions:
            return {"$and": [conditions, extra]}
        return extra or conditions or None


def _number(text: str, what: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidFilter(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise InvalidFilter(f"{what} must be a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _json_filter(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidFilter(f"the filter is not valid JSON ({exc.args[0]})") from None
    if not isinstance(value, dict):
        raise InvalidFilter('the filter must be a JSON object, like {"category": "audio"}')
    return value


def _k(text: str | None, problems: list[str]) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        k = int(text)
    except ValueError:
        problems.append(f"the number of results must be a whole number, not {text!r}")
        return None
    if not 1 <= k <= MAX_K:
        problems.append(f"the number of results must be from 1 to {MAX_K}")
        return None
    return k


def _mode(text: str | None, problems: list[str]) -> SearchMode:
    try:
        return SearchMode(text or SearchMode.VECTOR.value)
    except ValueError:
        problems.append(f"unknown search mode {text!r}; choose vector, keyword or hybrid")
        return SearchMode.VECTOR


def parse_search_form(items: Iterable[tuple[str, Any]]) -> tuple[SearchForm, list[str]]:
    """The form from query (or form) fields, and what was wrong with them (a field that does not parse
    keeps its default, so the form can be shown again with the message)."""
    values: dict[str, str] = {}
    groups: dict[str, dict[str, str]] = {EQUALS: {}, FLAG: {}, MINIMUM: {}, MAXIMUM: {}}
    for name, value in items:
        if not isinstance(value, str):
            continue  # an uploaded file
        prefix = next((p for p in groups if name.startswith(p) and len(name) > len(p)), None)
        if prefix is not None:
            groups[prefix][name[len(prefix) :]] = value.strip()
        else:
            values.setdefault(name, value)
    problems: list[str] = []
    similar = values.get("similar") or None
    form = SearchForm(
        q=values.get("q"),
        similar=similar,
        k=_k(values.get("k"), problems),
        exact=values.get("exact") in ("true", "on", "1"),
        mode=SearchMode.VECTOR if similar else _mode(values.get("mode"), problems),
        equals=groups[EQUALS],
        flags=groups[FLAG],
        minimum=groups[MINIMUM],
        maximum=groups[MAXIMUM],
        filter_json=values.get("filter", ""),
    )
    return form, problems
