"""Demo data written for pgsimilar: a small product catalogue."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..core.loaders import records_from_jsonl
from ..core.types import Record


def sample_products() -> list[Record]:
    """Two dozen products (name, category, price in metadata; name and description as content)."""
    resource = files(__package__).joinpath("products.jsonl")
    return list(records_from_jsonl(Path(str(resource))))
