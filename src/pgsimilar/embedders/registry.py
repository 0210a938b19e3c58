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


def available_embedders() -> list[str]:
    """Names of every registered embedder (without importing them)."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def embedder_class(name: str) -> type[Embedder]:
    """The class registered as ``name``; only that entry point is imported, so one broken plugin
    cannot break the others."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise InvalidInput(f"unknown embedder {name!r}; available: {', '.join(available_embedders())}")
    cls = next(iter(found)).load()
    if not (isinstance(cls, type) and issubclass(cls, Embedder)):
        raise TypeError(f"entry point {name!r} of {ENTRY_POINT_GROUP} is not an Embedder subclass")
    return cls


def create_embedder(name: str, settings: Settings, options: Mapping[str, Any] | None = None) -> Embedder:
    """A new embedder ``name`` configured by ``settings`` and the collection's stored ``options``."""
    return embedder_class(name)(settings, dict(options or {}))
