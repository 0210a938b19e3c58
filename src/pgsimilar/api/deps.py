"""Dependencies of the routes: the client, the caller's key, namespace access, and the worker threads.

The dependencies are ``async def`` even where they do not await: FastAPI runs a plain ``def``
dependency on a worker thread, and that hop (there and back through the event loop) costs more than
the check itself, on every request.
"""

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


async def _client(request: Request) -> Client:
    return get_client(request)


ClientDep = Annotated[Client, Depends(_client)]


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


async def require_admin(caller: CallerDep) -> None:
    if caller is not None and caller.scope is not Scope.ADMIN:
        raise ApiError(403, "forbidden", "this needs an admin key")


AdminDep = Depends(require_admin)


def check_readable(ns: str, caller: ApiKey | None) -> str:
    """The namespace, if the caller may see it; otherwise 404, exactly as for one that does not exist."""
    if caller is not None and not caller.can_read(ns):
        raise NamespaceNotFound.named(ns)
    return ns


def check_writable(ns: str, caller: ApiKey | None) -> str:
    """The namespace, if the caller may write to it (it must be readable: check that first)."""
    if caller is not None and not caller.can_write(ns):
        raise ApiError(403, "forbidden", f"this key may only read namespace {ns!r}")
    return ns


async def readable_namespace(ns: Annotated[str, Path(description="Namespace")], caller: CallerDep) -> str:
    return check_readable(ns, caller)


async def writable_namespace(ns: Annotated[str, Depends(readable_namespace)], caller: CallerDep) -> str:
    return check_writable(ns, caller)


ReadNamespace = Annotated[str, Depends(readable_namespace)]
WriteNamespace = Annotated[str, Depends(writable_namespace)]
