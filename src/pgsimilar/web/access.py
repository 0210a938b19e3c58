"""Who is looking at a page. With API keys on, the browser holds a key in an HTTP-only cookie, checked
on every request by the same key store and the same namespace rules as the API (``ApiKey.can_read``,
``ApiKey.can_write``); with keys off, everyone may do everything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..api.deps import get_client, run_blocking
from ..core.keys import ApiKey, Scope
from ..errors import NamespaceNotFound
from .routing import LoginRequired, Redirect
from .session import KEY_COOKIE


@dataclass(frozen=True)
class Viewer:
    """The signed-in key, or None when keys are off."""

    key: ApiKey | None

    @property
    def is_admin(self) -> bool:
        """Keys off, or an admin key: every namespace."""
        return self.key is None or self.key.scope is Scope.ADMIN

    def can_read(self, namespace: str) -> bool:
        return self.key is None or self.key.can_read(namespace)

    def can_write(self, namespace: str) -> bool:
        return self.key is None or self.key.can_write(namespace)

    def require_read(self, namespace: str) -> None:
        """404 for a namespace the key may not see, worded as for one that does not exist (as the API)."""
        if not self.can_read(namespace):
            raise NamespaceNotFound.named(namespace)

    def require_write(self, namespace: str, back_url: str, action: str) -> None:
        """Back to ``back_url`` with a flash saying why, unless the key may change ``namespace``."""
        if not self.can_read(namespace):
            raise Redirect.error(back_url, f"Could not {action}: {NamespaceNotFound.named(namespace)}.")
        if not self.can_write(namespace):
            raise Redirect.error(
                back_url,
                f"Not allowed: this key may only read namespace {namespace!r}, so it cannot {action}. "
                "Sign in with a read_write or admin key to do that.",
            )


def local_path(url: str | None) -> str:
    """``url`` if it is a path of this site, else ``/`` (a login must never send the browser elsewhere)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


async def get_viewer(request: Request) -> Viewer:
    """The viewer of this request; the login page when keys are on and the cookie holds no valid key."""
    if not request.app.state.auth_enabled:
        viewer = Viewer(key=None)
    else:
        secret = request.cookies.get(KEY_COOKIE)
        key = await run_blocking(request, get_client(request).keys.authenticate, secret) if secret else None
        if key is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target if request.method == "GET" else "/")
        viewer = Viewer(key=key)
    request.state.viewer = viewer  # error pages show who is signed in, too
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
