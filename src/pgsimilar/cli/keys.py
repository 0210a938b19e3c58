"""``pgsimilar keys``: API keys of the service."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..core.keys import ApiKey, Scope
from .common import JsonOption, console, open_client, print_json, reports_errors

app = typer.Typer(help="Create, list and revoke API keys (stored hashed; a secret is shown once).")


def _key_dict(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "namespace": key.namespace,
        "scope": key.scope.value,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked": key.revoked_at is not None,
    }


@app.command()
@reports_errors
def create(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace the key is for (not with --admin).")
    ] = None,
    scope: Annotated[Scope, typer.Option(help="read, read_write, or admin (every namespace).")] = Scope.READ,
    admin: Annotated[bool, typer.Option("--admin", help="Shortcut for --scope admin.")] = False,
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a key and print its secret (it cannot be shown again)."""
    with open_client() as client:
        key, secret = client.keys.create(Scope.ADMIN if admin else scope, namespace=namespace, name=name)
    if as_json:
        print_json({**_key_dict(key), "secret": secret})
        return
    where = "every namespace" if key.namespace is None else f"namespace {key.namespace}"
    console.print(f"key {key.id} ({key.scope.value}, {where}); keep this secret, it is not shown again:")
    typer.echo(secret)


@app.command("list")
@reports_errors
def list_(as_json: JsonOption = False) -> None:
    """List keys (prefixes only, never secrets)."""
    with open_client() as client:
        keys = client.keys.list()
    if as_json:
        print_json([_key_dict(key) for key in keys])
        return
    table = Table("id", "name", "prefix", "namespace", "scope", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix,
            key.namespace or "*",
            key.scope.value,
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "",
            "yes" if key.revoked_at else "",
        )
    console.print(table if keys else "no keys")


@app.command()
@reports_errors
def revoke(key_id: Annotated[int, typer.Argument(help="Id of the key (see keys list).")]) -> None:
    """Revoke a key for good."""
    with open_client() as client:
        client.keys.revoke(key_id)
    console.print(f"revoked key {key_id}")
