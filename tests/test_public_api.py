"""The curated public API in ``pgsimilar.__init__``: complete, consistent and documented."""

from __future__ import annotations

import dataclasses
import inspect
from importlib.metadata import version
from types import ModuleType
from typing import Any

import pytest

import pgsimilar
from pgsimilar import errors
from pgsimilar.core import types

# What a user of the library needs by name; every exception class is added below.
NEEDED = {
    "Client",
    "Collection",
    "Record",
    "Hit",
    "SearchResults",
    "Settings",
    "Embedder",
    "DEFAULT_NAMESPACE",
    "__version__",
}


def _classes_defined_in(module: ModuleType) -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }


EXCEPTIONS = {
    name: cls for name, cls in _classes_defined_in(errors).items() if issubclass(cls, BaseException)
}

# Public classes and functions exported by the package (constants and __version__ left out).
EXPORTED_CALLABLES = {
    name: obj
    for name in pgsimilar.__all__
    if inspect.isclass(obj := getattr(pgsimilar, name, None)) or inspect.isfunction(obj)
}


def _public_methods() -> list[str]:
    """``Class.method`` for every public function defined on an exported class (properties left out)."""
    found = []
    for class_name, obj in EXPORTED_CALLABLES.items():
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            if not attr.startswith("_") and inspect.isfunction(function):
                found.append(f"{class_name}.{attr}")
    return sorted(found)


def _own_docstring(obj: Any) -> str | None:
    # Not inspect.getdoc: it falls back to a base class's docstring (StrEnum's, for an undocumented enum).
    doc = obj.__doc__
    if inspect.isclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        return None  # the signature that @dataclass writes when a class has no docstring
    return doc.strip() if doc else None


def test_every_name_in_all_exists() -> None:
    missing = [name for name in pgsimilar.__all__ if not hasattr(pgsimilar, name)]
    assert missing == []


def test_all_has_no_duplicates() -> None:
    assert len(pgsimilar.__all__) == len(set(pgsimilar.__all__))


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from pgsimilar import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(pgsimilar.__all__)


def test_what_users_need_is_exported() -> None:
    assert NEEDED - set(pgsimilar.__all__) == set()


def test_every_exception_class_is_exported() -> None:
    assert EXCEPTIONS, "pgsimilar.errors defines no exceptions?"
    assert set(EXCEPTIONS) - set(pgsimilar.__all__) == set()
    for name, cls in EXCEPTIONS.items():
        assert getattr(pgsimilar, name) is cls


def test_every_public_type_of_the_data_model_is_exported() -> None:
    public_types = _classes_defined_in(types)
    assert {"Record", "Hit", "SearchResults", "CollectionInfo", "UpsertResult"} <= set(public_types)
    assert set(public_types) - set(pgsimilar.__all__) == set()


def test_exported_objects_are_the_ones_defined_in_the_modules() -> None:
    from pgsimilar.config import Settings
    from pgsimilar.core.client import Client
    from pgsimilar.core.collection import Collection

    assert pgsimilar.Client is Client
    assert pgsimilar.Collection is Collection
    assert pgsimilar.Settings is Settings
    assert pgsimilar.Record is types.Record
    assert pgsimilar.Hit is types.Hit
    assert pgsimilar.SearchResults is types.SearchResults


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_derives_from_pgsimilar_error(name: str) -> None:
    assert issubclass(EXCEPTIONS[name], errors.PgsimilarError)


def test_exception_families_are_also_builtin_exceptions() -> None:
    assert issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.InvalidInput, ValueError)
    assert issubclass(errors.MissingDependency, ImportError)
    assert issubclass(errors.DimensionMismatch, errors.InvalidVector)
    assert issubclass(errors.EmbedderUnavailable, errors.EmbedderError)


def test_the_exception_tree_in_the_errors_docstring_names_every_exception() -> None:
    assert errors.__doc__ is not None
    drawn = set(errors.__doc__.split())
    assert set(EXCEPTIONS) - drawn == set()


def test_version_matches_the_installed_distribution() -> None:
    assert pgsimilar.__version__ == version("pgsimilar")


@pytest.mark.parametrize("name", sorted(EXPORTED_CALLABLES))
def test_exported_classes_and_functions_have_docstrings(name: str) -> None:
    assert _own_docstring(EXPORTED_CALLABLES[name]), f"pgsimilar.{name} has no docstring"


@pytest.mark.parametrize("qualified", _public_methods())
def test_public_methods_of_exported_classes_have_docstrings(qualified: str) -> None:
    class_name, attr = qualified.split(".")
    member = vars(EXPORTED_CALLABLES[class_name])[attr]
    function = member.__func__ if isinstance(member, staticmethod | classmethod) else member
    assert _own_docstring(function), f"pgsimilar.{qualified} has no docstring"


def test_hit_of_makes_what_the_constructor_makes() -> None:
    """``Hit.of`` is the searches' quick way to make a Hit: the same object, every field set, and as
    frozen as one made by ``Hit(...)``."""
    values = {
        "id": "a",
        "score": 0.5,
        "distance": 0.25,
        "metadata": {"k": 1},
        "content": "text",
        "has_image": True,
    }
    assert list(values) == [field.name for field in dataclasses.fields(types.Hit)]
    quick = types.Hit.of(*values.values())
    assert quick == types.Hit(**values)
    assert vars(quick) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.score = 1.0  # type: ignore[misc]
