"""``pgsimilar demo``: the demo products and pictures on the embedded database, searched by meaning."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..demo import IMAGES_COLLECTION, PRODUCTS_COLLECTION, load_demo_images, load_demo_products
from .common import DEFAULT_NS, console, open_client, reports_errors
from .search import print_results

PRODUCT_QUERIES = (
    ("something to listen to music on the train", None),
    ("gear for running in the mountains", None),
    ("a machine for my morning brew", {"category": "kitchen"}),
)
IMAGE_QUERIES = (
    ("a musical instrument", None),
    ("an animal that lives in the sea", None),
    ("something sweet to eat", {"category": "food"}),
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
    """Load the demo products and pictures ('demo-products', 'demo-images') and search them."""
    with open_client() as client:
        console.print(f"database: {client.database.url}", highlight=False)
        for name, load, queries in (
            (PRODUCTS_COLLECTION, load_demo_products, PRODUCT_QUERIES),
            (IMAGES_COLLECTION, load_demo_images, IMAGE_QUERIES),
        ):
            count = load(client)
            console.print(f"\n[bold]{name}[/]: {count} records", highlight=False)
            collection = client.get_collection(name, namespace=DEFAULT_NS)
            for text, metadata_filter in queries:
                shown = f" with filter {metadata_filter}" if metadata_filter else ""
                console.print(f"[bold cyan]search {name}:[/] {text}{shown}", highlight=False)
                print_results(collection.search(text, k=3, filter=metadata_filter))
        products = client.get_collection(PRODUCTS_COLLECTION, namespace=DEFAULT_NS)
        if interactive if interactive is not None else sys.stdin.isatty():
            console.print("\nType a query (empty line to quit).")
            while text := console.input("[bold cyan]search>[/] ").strip():
                print_results(products.search(text, k=5))
