"""``pgsimilar eval``: how good is search on a collection, by the standard retrieval measures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..core.evaluation import evaluate, load_beir_collection, read_beir, read_qrels, read_queries
from ..core.types import SearchMode
from ..errors import InvalidInput
from .common import DEFAULT_NS, JsonOption, NamespaceOption, console, open_client, print_json, reports_errors


def _progress(disabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disabled,
    )


@reports_errors
def evaluate_command(
    target: Annotated[str, typer.Argument(help="A collection, or 'beir' followed by a BEIR dataset folder.")],
    folder: Annotated[
        Path | None,
        typer.Argument(help="With 'beir': the folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    ] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help='Queries, JSONL {"_id" or "id", "text"}.')
    ] = None,
    qrels: Annotated[
        Path | None, typer.Option("--qrels", help="Judgements, TSV query-id, corpus-id, score.")
    ] = None,
    embedder: Annotated[
        str, typer.Option(help="With 'beir': the embedder of the collection it loads.")
    ] = "minilm",
    mode: Annotated[SearchMode, typer.Option(help="vector, keyword or hybrid.")] = SearchMode.VECTOR,
    exact: Annotated[bool, typer.Option("--exact", help="Exact vector search (no index).")] = False,
    ef_search: Annotated[
        int | None, typer.Option("--ef-search", help="HNSW candidate list per query.")
    ] = None,
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Run every judged query and report nDCG@10, MAP@10, MRR@10, recall@10 and recall@100.

    `pgsimilar eval COLLECTION --queries Q.jsonl --qrels QRELS.tsv`, or `pgsimilar eval beir FOLDER`,
    which loads the corpus into a collection named beir-<folder> first (loading again reuses it).
    """
    with open_client() as client, _progress(as_json) as bar:
        if target == "beir":
            if folder is None:
                raise InvalidInput("give the BEIR folder: pgsimilar eval beir FOLDER")
            data = read_beir(folder)
            loading = bar.add_task("loading corpus", total=None)
            collection, _ = load_beir_collection(
                client,
                folder,
                embedder=embedder,
                namespace=namespace,
                progress=lambda done, total: bar.update(loading, completed=done, total=total),
            )
            query_texts, judgements = data.queries, data.qrels
        else:
            if folder is not None or queries is None or qrels is None:
                raise InvalidInput(
                    "give --queries and --qrels: pgsimilar eval COLLECTION --queries Q --qrels R"
                )
            collection = client.get_collection(target, namespace=namespace)
            query_texts, judgements = read_queries(queries), read_qrels(qrels)
        searching = bar.add_task("searching", total=None)
        report = evaluate(
            collection,
            query_texts,
            judgements,
            mode=mode.value,
            exact=exact,
            ef_search=ef_search,
            progress=lambda done, total: bar.update(searching, completed=done, total=total),
        )
    if as_json:
        print_json({"collection": collection.info.qualified_name, **report.to_dict()})
        return
    table = Table("measure", "value", title=f"{collection.info.qualified_name}: {report.queries} queries")
    for measure, value in report.metrics.items():
        table.add_row(measure, f"{value:.4f}")
    console.print(table)
    how = "exact" if exact else f"approximate (ef_search {ef_search or 'default'})"
    console.print(f"mode {mode.value}, {how}; {report.seconds:.1f} s of searching", highlight=False)
