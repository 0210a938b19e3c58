"""``pgsimilar collections index`` and ``pgsimilar collections tune``: the approximate index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.tuning import TuneResult
from ..core.types import IndexBuild, IndexKind, IndexProgress, IndexSettings
from ..errors import InvalidInput
from .common import DEFAULT_NS, JsonOption, NamespaceOption, console, open_client, print_json, reports_errors


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[IndexProgress], None]]:
    """A bar of the build's current phase, fed by ``on_progress``."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=100)

        def report(update: IndexProgress) -> None:
            progress.update(task, description=update.phase, completed=update.percent or 0)

        yield report


def _build_dict(build: IndexBuild) -> dict[str, Any]:
    return {
        "index": {"kind": build.index.kind.value, **build.index.to_options()},
        "built": build.built,
        "seconds": round(build.seconds, 3),
        "size_bytes": build.size_bytes,
    }


@reports_errors
def index(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    kind: Annotated[
        IndexKind | None, typer.Option(help="Index to build: hnsw (the default) or ivfflat.")
    ] = None,
    m: Annotated[int | None, typer.Option(help="HNSW: links per node (default 16).")] = None,
    ef_construction: Annotated[
        int | None, typer.Option(help="HNSW: build candidate list (default 64).")
    ] = None,
    lists: Annotated[int | None, typer.Option(help="IVFFlat: number of lists (default rows/1000).")] = None,
    drop: Annotated[bool, typer.Option("--drop", help="Drop the index (searches become exact).")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build the index again with its current settings.")
    ] = False,
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Build, rebuild or drop a collection's approximate index, concurrently (writes go on meanwhile)."""
    settings_given = any(value is not None for value in (kind, m, ef_construction, lists))
    if drop and (rebuild or settings_given):
        raise InvalidInput("--drop takes no other index option")
    if rebuild and settings_given:
        raise InvalidInput("--rebuild keeps the index's settings; leave it out to build with new ones")
    with open_client() as client:
        collection = client.get_collection(name, namespace=namespace)
        with _progress(quiet=as_json or drop) as report:
            if drop:
                collection.drop_index()
                build = IndexBuild(IndexSettings(kind=IndexKind.NONE), built=False, seconds=0.0, size_bytes=0)
            elif rebuild:
                build = collection.rebuild_index(on_progress=report)
            else:
                build = collection.create_index(
                    kind or IndexKind.HNSW,
                    m=m,
                    ef_construction=ef_construction,
                    lists=lists,
                    on_progress=report,
                )
    _print_build(build, collection.info.qualified_name, as_json)


def _print_build(build: IndexBuild, qualified_name: str, as_json: bool) -> None:
    if as_json:
        print_json(_build_dict(build))
    elif build.index.kind is IndexKind.NONE:
        console.print(f"dropped the index of {qualified_name}", highlight=False)
    elif not build.built:
        console.print("the IVFFlat index will be built when the first records are added", highlight=False)
    else:
        console.print(
            f"built the {build.index.kind.value} index of {qualified_name} in "
            f"{build.seconds:.1f} s ({build.size_bytes / 1024 / 1024:.1f} MiB)",
            highlight=False,
        )


def _print_tuning(result: TuneResult) -> None:
    table = Table(result.parameter, f"recall@{result.k}", "95% lower bound", "median ms")
    for point in result.curve:
        table.add_row(
            str(point.value), f"{point.recall:.4f}", f"{point.recall_low:.4f}", f"{point.latency_ms:.2f}"
        )
    console.print(table)
    verdict = "reaches" if result.reached else "does not reach (the largest tried is stored)"
    console.print(
        f"{result.parameter} = {result.value} {verdict} recall@{result.k} {result.target_recall} "
        f"over {result.queries} queries; stored as the default",
        highlight=False,
    )


@reports_errors
def tune(
    name: Annotated[str, typer.Argument(help="Collection name.")],
    target_recall: Annotated[float, typer.Option(help="Recall@k to reach, from 0 to 1.")] = 0.95,
    k: Annotated[int, typer.Option("-k", "--k", help="Hits per query the recall is measured on.")] = 10,
    sample: Annotated[int, typer.Option(help="Stored records used as queries.")] = 200,
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Find and store the smallest ef_search / probes / rerank whose recall@k reaches the target."""
    with open_client() as client:
        result = client.get_collection(name, namespace=namespace).tune(target_recall, k=k, sample=sample)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_tuning(result)
