"""``pgsimilar serve``: the REST API (uvicorn) on the embedded database or PGSIMILAR_DATABASE_URL."""

from __future__ import annotations

from typing import Annotated

import typer

from ..api.app import auth_required, create_app, is_loopback
from ..config import Settings
from ..core.client import Client
from ..demo import IMAGES_COLLECTION, PRODUCTS_COLLECTION, load_demo_images, load_demo_products
from .common import console, reports_errors


@reports_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback turns API keys on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo products and pictures first.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the web UI (at /), the REST API (OpenAPI docs at /docs) and upload-job workers."""
    import uvicorn

    settings = Settings()
    client = Client(settings=settings)
    try:
        if demo:
            console.print("loading the demo collections (the first time embeds them: about a minute)")
            products, images = load_demo_products(client), load_demo_images(client)
            console.print(
                f"demo: {products} products in default/{PRODUCTS_COLLECTION}, "
                f"{images} pictures in default/{IMAGES_COLLECTION}",
                highlight=False,
            )
        auth = "on" if auth_required(settings, host) else "off"
        if auth == "off" and not is_loopback(host):
            console.print(
                f"[bold red]warning:[/] PGSIMILAR_AUTH=off: anyone who reaches {host}:{port} has full access"
            )
        console.print(
            f"pgsimilar on http://{host}:{port}: web UI at /, API docs at /docs; API keys {auth}",
            highlight=False,
            soft_wrap=True,  # one line, however narrow the terminal: scripts and logs grep it
        )
        uvicorn.run(create_app(settings, client=client, host=host), host=host, port=port, log_level=log_level)
    finally:
        client.close()
