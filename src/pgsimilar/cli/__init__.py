"""The ``pgsimilar`` command line: a thin face over the library (Typer + Rich)."""

from __future__ import annotations

import typer

from . import collections, db, jobs, keys
from .demo import demo
from .evaluate import evaluate_command
from .records import add
from .search import search
from .serve import serve

app = typer.Typer(
    name="pgsimilar",
    help="Semantic similarity search for text and images on PostgreSQL + pgvector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(collections.app, name="collections")
app.add_typer(keys.app, name="keys")
app.add_typer(jobs.app, name="jobs")
app.command()(serve)
app.command()(add)
app.command()(search)
app.command()(demo)
app.command("eval")(evaluate_command)
app.command()(jobs.worker)


def main() -> None:
    app()
