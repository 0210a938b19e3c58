"""What every form handler does: read the posted form (refusing one without this browser's CSRF token)
and run the core off the event loop, turning its refusal into a flash message on the page the form
came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi import Request
from starlette.datastructures import FormData

from ..api.deps import run_blocking
from ..errors import PgsimilarError
from .routing import Forbidden, Redirect
from .session import csrf_valid

P = ParamSpec("P")
R = TypeVar("R")


async def posted_form(request: Request) -> FormData:
    """The fields of a posted form, after checking its CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_valid(request, token if isinstance(token, str) else None):
        await form.close()
        raise Forbidden(
            "This form has expired or was not sent from this site. Go back, reload the page and send it again."
        )
    return form


def text_field(form: FormData, name: str) -> str:
    """A text field of the form ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def attempt(
    request: Request,
    back_url: str,
    failure: str,
    function: Callable[P, R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``function`` on the worker threads; if the core refuses, back to ``back_url`` saying
    ``failure: why``."""
    try:
        return await run_blocking(request, function, *args, **kwargs)
    except PgsimilarError as exc:
        raise Redirect.error(back_url, f"{failure}: {exc}") from exc
