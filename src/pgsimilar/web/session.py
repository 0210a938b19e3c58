"""The web UI's cookies: the API key of a signed-in session, a CSRF token, and one-shot flash messages.

Every cookie is HTTP-only and ``SameSite=Strict`` (and ``Secure`` when the page came over https), so
scripts cannot read them and other sites cannot make a browser send them. Flash messages are signed
with a per-process secret, so a cookie planted by something else cannot put words in the UI's mouth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request, Response

KEY_COOKIE = "pgsimilar_key"
CSRF_COOKIE = "pgsimilar_csrf"
FLASH_COOKIE = "pgsimilar_flash"
_FLASH_MAX_AGE = 120  # seconds: a flash is meant for the very next page
_FLASH_MAX_CHARS = 600  # keeps the cookie far below the 4 KB browsers allow


class Level(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    INFO = "info"


@dataclass(frozen=True)
class Flash:
    """A message for the next page: what happened to the form just sent."""

    level: Level
    text: str


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None = None
) -> None:
    """Set a cookie with the flags every cookie of the UI carries."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def _signature(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).hexdigest()


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.web_secret
    return secret


def set_flash(request: Request, response: Response, flash: Flash) -> None:
    """Leave ``flash`` for the next page the browser shows."""
    text = flash.text if len(flash.text) <= _FLASH_MAX_CHARS else flash.text[: _FLASH_MAX_CHARS - 1] + "…"
    data = json.dumps([flash.level.value, text]).encode("utf-8")
    payload = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    signed = f"{payload}.{_signature(_secret(request), payload)}"
    set_cookie(request, response, FLASH_COOKIE, signed, max_age=_FLASH_MAX_AGE)


def read_flash(request: Request) -> Flash | None:
    """The flash left by the previous response, if its signature holds (the caller clears the cookie)."""
    signed = request.cookies.get(FLASH_COOKIE)
    if not signed or "." not in signed:
        return None
    payload, signature = signed.rsplit(".", 1)
    if not hmac.compare_digest(signature, _signature(_secret(request), payload)):
        return None
    try:
        level, text = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Flash(Level(level), str(text))
    except ValueError:
        return None


def csrf_token(request: Request) -> tuple[str, bool]:
    """The session's CSRF token, and whether it is new (then the response must set the cookie)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token, False
    return secrets.token_urlsafe(32), True


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """Whether a form carries the token of this browser's cookie: a form posted from another site
    cannot, since the SameSite=Strict cookie does not travel with it and the page that holds the
    token cannot be read across origins."""
    token = request.cookies.get(CSRF_COOKIE)
    return bool(token and submitted) and hmac.compare_digest(str(token), str(submitted))
