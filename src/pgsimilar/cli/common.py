"""What every command shares: options, the client, JSON and error output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..config import Settings
from ..core.client import DEFAULT_NAMESPACE, Client
from ..errors import AlreadyExists, InvalidInput, NotFound, PgsimilarError

console = Console()

NamespaceOption = Annotated[
    str, typer.Option("--namespace", "-n", help="Namespace of the collection.", show_default=True)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
DEFAULT_NS = DEFAULT_NAMESPACE

# Exit codes: 1 any pgsimilar error, 2 invalid input (as for usage errors), 3 not found, 4 already exists.
_EXIT_CODES: tuple[tuple[type[PgsimilarError], int], ...] = (
    (InvalidInput, 2),
    (NotFound, 3),
    (AlreadyExists, 4),
)

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print pgsimilar errors as one readable line (no traceback) and exit with a code per kind."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PgsimilarError as exc:
            code = next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), 1)
            # Plain text: a message may hold brackets (Rich markup) and must stay on one line for scripts.
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code) from None

    return wrapper


@contextmanager
def open_client() -> Iterator[Client]:
    with Client(settings=Settings()) as client:
        yield client


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_fields(data: Mapping[str, Any], as_json: bool) -> None:
    """A flat mapping as JSON, or as ``key: value`` lines for people."""
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(Text.assemble((f"{key}: ", "bold"), str(value)))


def parse_json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option} is not valid JSON: {exc.msg} (at character {exc.pos})") from exc


def progress_bar(label: str, *, quiet: bool = False) -> Progress:
    """A bar with the count done, items per second (a task field ``rate`` the caller updates) and time left."""
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
