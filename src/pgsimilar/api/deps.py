"""Dependencies of the routes: the client, the caller's key, namespace access, and the worker threads."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, Path, Request

from ..core.client import Client
from ..core.keys import ApiKey, Scope
from ..errors import NamespaceNotFound
from .errors import ApiError

P = ParamSpec("P")
R = TypeVar("R")


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


ClientDep = Annotated[Client, Depends(get_client)]


async def run_blocking(request: Request, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run database and model work on the API's worker threads, never on the event loop."""
    limiter = request.app.state.limiter
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs), limiter=limiter)


async def get_caller(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="The API key (instead of Authorization)")] = None,
) -> ApiKey | None:
    """The caller's key; None when authentication is off."""
    if not request.app.state.auth_enabled:
        return None
    secret = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            secret = value.strip()
    if not secret:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    key = await run_blocking(request, get_client(request).keys.authenticate, secret)
    if key is None:
        raise ApiError(
            401, "unauthorized", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
        )
    return key


CallerDep = Annotated[ApiKey | None, Depends(get_caller)]


def require_admin(caller: CallerDep) -> None:
    if caller is not None and caller.scope is not Scope.ADMIN:
        raise ApiError(403, "forbidden", "this needs an admin key")


AdminDep = Depends(require_admin)


def readable_namespace(ns: Annotated[str, Path(description="Namespace")], caller: CallerDep) -> str:
    """The namespace, if the caller may see it; otherwise 404, exactly as for one that does not exist."""
    if caller is not None and not caller.can_read(ns):
        raise NamespaceNotFound.named(ns)
    return ns


def writable_namespace(ns: Annotated[str, Depends(readable_namespace)], caller: CallerDep) -> str:
    if caller is not None and not caller.can_write(ns):
        raise ApiError(403, "forbidden", f"this key may only read namespace {ns!r}")
    return ns


ReadNamespace = Annotated[str, Depends(readable_namespace)]
WriteNamespace = Annotated[str, Depends(writable_namespace)]
