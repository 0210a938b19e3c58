"""``pgsimilar add``: load records from .txt, .jsonl and .csv files, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..core.loaders import input_files, records_from_file
from ..core.types import Record
from ..errors import InvalidInput
from .common import DEFAULT_NS, JsonOption, NamespaceOption, console, open_client, print_json, reports_errors


@reports_errors
def add(
    collection: Annotated[str, typer.Argument(help="Collection to add to.")],
    paths: Annotated[
        list[Path],
        typer.Argument(help=".txt (one record per file), .jsonl or .csv files, or directories of them."),
    ],
    namespace: NamespaceOption = DEFAULT_NS,
    as_json: JsonOption = False,
) -> None:
    """Add (or update) records from files. Every file is read and checked before anything is written.

    JSONL lines are {"id", "text", "metadata"} (BEIR's {"_id", "title", "text"} too); CSV files have
    id, text and metadata (JSON) columns, other columns become metadata. Records are written in
    batches of PGSIMILAR_UPSERT_BATCH_SIZE, each all or nothing; unchanged texts are not embedded again.
    """
    files = [(path, list(records_from_file(path, txt_id=name))) for path, name in input_files(paths)]
    records: list[Record] = [record for _, file_records in files for record in file_records]
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "embedded": 0}
    with open_client() as client:
        target = client.get_collection(collection, namespace=namespace)
        for path, file_records in files:  # every record checked before the first is written
            try:
                target.check(file_records)
            except InvalidInput as exc:
                raise type(exc)(f"{path}: {exc}") from exc
        target.check(records)  # ids repeated across files
        batch_size = client.settings.upsert_batch_size
        with Progress(
            TextColumn("[bold]adding[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            disable=as_json,
            transient=False,
        ) as progress:
            task = progress.add_task("add", total=len(records), rate="")
            for start in range(0, len(records), batch_size):
                result = target.upsert(records[start : start + batch_size])
                for key in totals:
                    totals[key] += getattr(result, key)
                progress.advance(task, min(batch_size, len(records) - start))
                speed = progress.tasks[0].speed
                progress.update(task, rate=f"{speed:,.0f} records/s" if speed else "")
    if as_json:
        print_json({"records": len(records), **totals})
    else:
        console.print(
            f"{len(records):,} records: {totals['inserted']:,} new, {totals['updated']:,} updated, "
            f"{totals['unchanged']:,} unchanged; {totals['embedded']:,} embedded",
            highlight=False,
        )
