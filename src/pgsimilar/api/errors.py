"""Every error leaves the API as ``{"error": {"code", "message"}}`` with a fitting status, never a trace."""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    AlreadyExists,
    DatabaseUnavailable,
    EmbedderError,
    EmbedderUnavailable,
    FetchFailed,
    IndexBuildRunning,
    InvalidInput,
    JobFinished,
    NotFound,
    PgsimilarError,
)

logger = logging.getLogger("pgsimilar.api")

# Most specific first.
_STATUS: tuple[tuple[type[PgsimilarError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (JobFinished, 409),
    (IndexBuildRunning, 409),
    (FetchFailed, 502),
    (InvalidInput, 400),
    (DatabaseUnavailable, 503),
    (EmbedderUnavailable, 503),
    (EmbedderError, 502),
)


class ApiError(Exception):
    """An HTTP error of the API's own (authentication, permissions, size limits)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def too_large_message(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes:,} bytes"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _code(exc: Exception) -> str:
    """``CollectionNotFound`` -> ``collection_not_found``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


async def _pgsimilar_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    if status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body(_code(exc), str(exc)), status_code=status)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"location": [str(part) for part in error.get("loc", ())], "message": error.get("msg", "")}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(d['location'])}: {d['message']}" for d in details[:5])
    return JSONResponse(
        error_body("validation_error", f"invalid request: {summary}", details=details), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    message = str(exc.detail)  # a 413 from the body limit carries the limit of its route in its detail
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), message),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # Input PostgreSQL refused (e.g. a NUL character) that no check caught first: the caller's fault.
    logger.info("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        error_body("invalid_input", f"the database refused the input: {exc}"), status_code=400
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error in %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "internal error; see the server log"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PgsimilarError, _pgsimilar_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
