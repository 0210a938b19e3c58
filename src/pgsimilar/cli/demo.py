"""``pgsimilar demo``: a product collection on the embedded database, searched by meaning."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .common import DEFAULT_NS, console, open_client, reports_errors
from .search import _print_results
from .serve import DEMO_COLLECTION, load_demo

DEMO_QUERIES = (
    ("something to listen to music on the train", None),
    ("gear for running in the mountains", None),
    ("a machine for my morning brew", {"category": "kitchen"}),
)


@reports_errors
def demo(
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive", help="Ask for queries (default: when run in a terminal)."
        ),
    ] = None,
) -> None:
    """Load a demo product catalogue into the 'demo-products' collection and search it."""
    with open_client() as client:
        count = load_demo(client)
        products = client.get_collection(DEMO_COLLECTION, namespace=DEFAULT_NS)
        console.print(f"{DEMO_COLLECTION}: {count} products on {client.database.url}", highlight=False)
        for text, metadata_filter in DEMO_QUERIES:
            shown = f" with filter {metadata_filter}" if metadata_filter else ""
            console.print(f"\n[bold cyan]search:[/] {text}{shown}", highlight=False)
            _print_results(products.search(text, k=3, filter=metadata_filter))
        if interactive if interactive is not None else sys.stdin.isatty():
            console.print("\nType a query (empty line to quit).")
            while text := console.input("[bold cyan]search>[/] ").strip():
                _print_results(products.search(text, k=5))
