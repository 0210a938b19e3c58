"""``pgsimilar search``: nearest neighbours of a text (or of a stored record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..core.types import SearchMode, SearchResults
from ..errors import InvalidFilter, InvalidInput
from .common import (
    DEFAULT_NS,
    JsonOption,
    NamespaceOption,
    console,
    open_client,
    parse_json_option,
    print_json,
    reports_errors,
)


@reports_errors
def search(
    collection: Annotated[str, typer.Argument(help="Collection to search.")],
    query: Annotated[str | None, typer.Argument(help="Text to search for.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of hits.")] = 10,
    filter: Annotated[
        str | None,
        typer.Option("--filter", help='Metadata filter as JSON, e.g. \'{"year": {"$gte": 2020}}\'.'),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option("--image", help="Search by this picture (collections with an image embedder)."),
    ] = None,
    similar_to: Annotated[
        str | None, typer.Option("--similar-to", help="Search by the stored record with this id instead.")
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Compare every record (no index).")] = False,
    ef_search: Annotated[int | None, typer.Option(help="HNSW candidate list for this query.")] = None,
    probes: Annotated[int | None, typer.Option(help="IVFFlat lists to visit for this query.")] = None,
    rerank: Annotated[
        int | None, typer.Option(help="Binary quantization: candidates per hit re-ranked (default 4).")
    ] = None,
    min_score: Annotated[float | None, typer.Option(help="Leave out hits scoring below this.")] = None,
    mode: Annotated[
        SearchMode, typer.Option(help="vector, keyword (full-text) or hybrid (both, fused by rank).")
    ] = SearchMode.VECTOR,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the SQL, settings, timings and plan.")
    ] = False,
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Search a collection by text, by a picture with --image, or by a stored record with --similar-to."""
    if sum(given is not None for given in (query, image, similar_to)) != 1:
        raise InvalidInput("give one of: a query text, --image PATH or --similar-to ID")
    parsed_filter = parse_json_option(filter, "--filter")
    if parsed_filter is not None and not isinstance(parsed_filter, dict):
        raise InvalidFilter("--filter must be a JSON object")
    with open_client() as client:
        results = client.get_collection(collection, namespace=namespace).search(
            text=query,
            image=image,
            id=similar_to,
            k=k,
            filter=parsed_filter,
            exact=exact,
            ef_search=ef_search,
            probes=probes,
            rerank=rerank,
            min_score=min_score,
            mode=mode,
            explain=explain,
        )
    if as_json:
        print_json([hit.to_dict() for hit in results])
        return
    print_results(results)


def print_results(results: SearchResults) -> None:
    # Stored text goes in as Text, never as markup: "[/usr/local]" in content must print as it is.
    table = Table("#", "score", "distance")
    table.add_column("id", overflow="fold")  # ids are never cut: people copy them into --similar-to
    table.add_column("content", ratio=3)
    table.add_column("metadata", ratio=2)
    for rank, hit in enumerate(results, start=1):
        content = (hit.content or "").replace("\n", " ")
        snippet = content if len(content) <= 80 else content[:77] + "..."
        metadata = json.dumps(hit.metadata, ensure_ascii=False)
        table.add_row(
            str(rank),
            f"{hit.score:.4f}",
            "-" if hit.distance is None else f"{hit.distance:.4f}",
            Text(hit.id),
            Text(snippet),
            Text(metadata),
        )
    console.print(table if results else "no hits")
    if results.explain:
        details = results.explain
        timing = f"embed {details.embed_ms:.1f} ms, search {details.search_ms:.1f} ms"
        if details.fell_back_to_exact:
            timing += " (the index found fewer than k matches; ran exactly)"
        for title, body in (
            ("SQL", details.sql),
            ("settings", json.dumps(details.settings)),
            ("time", timing),
            ("plan", details.plan),
        ):
            console.print(Text(title, style="bold"))
            console.print(Text(body))
