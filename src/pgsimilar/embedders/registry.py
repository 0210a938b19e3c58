"""Find embedders by name through the ``pgsimilar.embedders`` entry-point group.

Built-ins register through the same group as third-party plugins (see ``pyproject.toml``). Building
an embedder is cheap: models load lazily, and embedders that hold weights share them process-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from ..config import Settings
from ..errors import InvalidInput
from .base import Embedder

ENTRY_POINT_GROUP = "pgsimilar.embedders"


def available_embedders() -> dict[str, type[Embedder]]:
    """Every registered embedder class by name."""
    found: dict[str, type[Embedder]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, Embedder)):
            raise TypeError(f"entry point {entry.name!r} of {ENTRY_POINT_GROUP} is not an Embedder subclass")
        found[entry.name] = cls
    return found


def embedder_class(name: str) -> type[Embedder]:
    classes = available_embedders()
    if name not in classes:
        known = ", ".join(sorted(classes))
        raise InvalidInput(f"unknown embedder {name!r}; available: {known}")
    return classes[name]


def create_embedder(name: str, settings: Settings, options: Mapping[str, Any] | None = None) -> Embedder:
    """A new embedder ``name`` configured by ``settings`` and the collection's stored ``options``."""
    return embedder_class(name)(settings, dict(options or {}))
