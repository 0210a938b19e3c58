"""``pgsimilar collections``: create, list, show and drop collections (``index`` and ``tune`` are in
:mod:`.indexing`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..core.types import CollectionInfo, IndexKind, Metric, Quantization, Storage
from .common import (
    DEFAULT_NS,
    JsonOption,
    NamespaceOption,
    console,
    open_client,
    print_fields,
    print_json,
    reports_errors,
)
from .indexing import index, tune

app = typer.Typer(help="Create, list, show and drop collections; build and tune their indexes.")
app.command()(index)
app.command()(tune)


def collection_dict(info: CollectionInfo, count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "namespace": info.namespace,
        "name": info.name,
        "embedder": info.embedder,
        "embedder_options": info.embedder_options,
        "dimensions": info.dimensions,
        "metric": info.metric.value,
        "storage": info.storage.value,
        "quantization": info.quantization.value,
        "index": {"kind": info.index.kind.value, **info.index.to_options()},
        "search_defaults": dict(info.search_defaults),
        "text_language": info.text_language,
        "table": f"pgsimilar.{info.table_name}",
        "created_at": info.created_at.isoformat(),
    }
    if count is not None:
        data["count"] = count
    return data


@app.command()
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="Collection name: a-z, 0-9, '_' and '-'.")],
    embedder: Annotated[
        str, typer.Option(help="Embedding model: minilm, openai, or none (own vectors).")
    ] = "minilm",
    dimensions: Annotated[
        int | None, typer.Option(help="Vector length; required for --embedder none.")
    ] = None,
    metric: Annotated[Metric, typer.Option(help="Distance metric.")] = Metric.COSINE,
    storage: Annotated[Storage, typer.Option(help="vector (float32) or halfvec (float16).")] = Storage.VECTOR,
    index: Annotated[IndexKind, typer.Option(help="Approximate index.")] = IndexKind.HNSW,
    m: Annotated[int | None, typer.Option(help="HNSW: links per node (default 16).")] = None,
    ef_construction: Annotated[
        int | None, typer.Option(help="HNSW: build candidate list (default 64).")
    ] = None,
    lists: Annotated[int | None, typer.Option(help="IVFFlat: number of lists (default rows/1000).")] = None,
    quantization: Annotated[
        Quantization, typer.Option(help="binary: index one bit per dimension, re-rank at full precision.")
    ] = Quantization.NONE,
    text_language: Annotated[
        str,
        typer.Option(help="PostgreSQL text-search language of keyword search (english, french, simple...)."),
    ] = "english",
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Create a collection (its own table, with the index)."""
    with open_client() as client:
        collection = client.create_collection(
            name,
            namespace=namespace,
            embedder=embedder,
            dimensions=dimensions,
            metric=metric,
            storage=storage,
            index=index,
            m=m,
            ef_construction=ef_construction,
            lists=lists,
            quantization=quantization,
            text_language=text_language,
        )
        if as_json:
            print_json(collection_dict(collection.info, 0))
        else:
            info = collection.info
            console.print(
                f"created {info.qualified_name}: {info.embedder}, {info.dimensions} dimensions, "
                f"{info.metric.value}, {info.index.kind.value} index",
                highlight=False,
            )


@app.command("list")
@reports_errors
def list_(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only this namespace (default: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List collections with their record counts."""
    with open_client() as client:
        infos = client.list_collections(namespace)
        stored = client.record_counts()
    counts = [stored.get((info.namespace, info.name), 0) for info in infos]
    if as_json:
        print_json([collection_dict(info, count) for info, count in zip(infos, counts, strict=True)])
        return
    table = Table("namespace", "name", "records", "embedder", "dims", "metric", "index")
    for info, count in zip(infos, counts, strict=True):
        table.add_row(
            info.namespace,
            info.name,
            f"{count:,}",
            info.embedder,
            str(info.dimensions),
            info.metric.value,
            info.index.kind.value,
        )
    console.print(table if infos else "no collections")


@app.command()
@reports_errors
def show(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Show a collection's settings and record count."""
    with open_client() as client:
        collection = client.get_collection(name, namespace=namespace)
        data = collection_dict(collection.info, collection.count())
    print_fields(data, as_json)


@app.command()
@reports_errors
def drop(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    namespace: NamespaceOption = DEFAULT_NS,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop a collection and all its records."""
    if not yes:
        typer.confirm(f"Drop {namespace}/{name} and all its records?", abort=True)
    with open_client() as client:
        client.drop_collection(name, namespace=namespace)
    console.print(f"dropped {namespace}/{name}", highlight=False)
