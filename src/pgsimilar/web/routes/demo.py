"""The product demo (``/demo/products``): load a small catalogue, find the five products nearest to
one, add products and see them appear among the neighbours."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response

from ...api.deps import ClientDep, run_blocking
from ...core.client import DEFAULT_NAMESPACE, Client
from ...core.types import Explain
from ...demo.product_demo import (
    PRODUCT_DEMO_COLLECTION,
    SIMILAR_COUNT,
    Product,
    add_product,
    list_products,
    load_sample_catalogue,
    products_to_add,
    similar_products,
)
from ...errors import CollectionNotFound, InvalidInput, RecordNotFound
from ..access import ViewerDep
from ..actions import attempt, posted_form, text_field
from ..pages import redirect, render, with_query
from ..routing import Redirect, WebRoute
from ..session import Flash, Level

router = APIRouter(prefix="/demo/products", route_class=WebRoute, include_in_schema=False)
PAGE = "/demo/products"


@dataclass(frozen=True)
class Neighbour:
    product: Product
    distance: float | None


@dataclass
class DemoPage:
    loaded: bool
    products: list[Product] = field(default_factory=list)
    to_add: list[Product] = field(default_factory=list)
    chosen: Product | None = None
    neighbours: list[Neighbour] = field(default_factory=list)
    explain: Explain | None = None
    error: str | None = None

    @property
    def categories(self) -> list[str]:
        return sorted({product.category for product in self.products}, key=str.casefold)


def _demo_page(client: Client, similar: str | None) -> DemoPage:
    try:
        products = list_products(client)
    except CollectionNotFound:
        return DemoPage(loaded=False)
    stored = {product.id for product in products}
    page = DemoPage(
        loaded=True, products=products, to_add=[p for p in products_to_add() if p.id not in stored]
    )
    if similar:
        page.chosen = next((product for product in products if product.id == similar), None)
        try:
            results = similar_products(client, similar, k=SIMILAR_COUNT)
        except RecordNotFound:
            page.error = f"there is no product with id {similar!r} in the demo catalogue"
        else:
            page.neighbours = [Neighbour(Product.from_hit(hit), hit.distance) for hit in results]
            page.explain = results.explain
    return page


def _back(similar: str) -> str:
    return with_query(PAGE, {"similar": similar or None}) + ("#similar" if similar else "")


@router.get("")
async def demo_page(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """The catalogue, the neighbours of ``?similar=<id>``, and the products to add."""
    viewer.require_read(DEFAULT_NAMESPACE)
    similar = request.query_params.get("similar") or None
    page = await run_blocking(request, _demo_page, client, similar)
    context = {
        "page": page,
        "collection": PRODUCT_DEMO_COLLECTION,
        "namespace": DEFAULT_NAMESPACE,
        "writable": viewer.can_write(DEFAULT_NAMESPACE),
        "similar_count": SIMILAR_COUNT,
    }
    flashes = [Flash(Level.ERROR, page.error)] if page.error else []
    return render(request, "demo_products.html", context, status=404 if page.error else 200, flashes=flashes)


@router.post("/load")
async def load_samples(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """Store the sample catalogue (again: an upsert, so nothing changes)."""
    await posted_form(request)
    viewer.require_write(DEFAULT_NAMESPACE, PAGE, "load the sample products")
    result = await attempt(request, PAGE, "Could not load the sample products", load_sample_catalogue, client)
    message = (
        f"Sample products loaded: {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} unchanged ({result.embedded} embedded)."
    )
    return redirect(request, PAGE, Flash(Level.SUCCESS, message))


async def _add(request: Request, client: Client, product: Product, similar: str) -> Response:
    back = _back(similar)
    result = await attempt(request, back, f"Could not add {product.name}", add_product, client, product)
    verb = "Added" if result.inserted else "Updated"
    message = f"{verb} {product.name} ({product.category}, ${product.price:,.2f})."
    return redirect(request, back, Flash(Level.SUCCESS, message))


@router.post("/add")
async def add_offered_product(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """Add one of the products the page offers (the Espresso Machine...)."""
    form = await posted_form(request)
    similar = text_field(form, "similar")
    viewer.require_write(DEFAULT_NAMESPACE, _back(similar), "add products")
    wanted = text_field(form, "product")
    product = next((p for p in products_to_add() if p.id == wanted), None)
    if product is None:
        raise Redirect.error(_back(similar), f"There is no product {wanted!r} to add.")
    return await _add(request, client, product, similar)


@router.post("/custom")
async def add_custom_product(request: Request, viewer: ViewerDep, client: ClientDep) -> Response:
    """Add a product described in the form."""
    form = await posted_form(request)
    similar = text_field(form, "similar")
    viewer.require_write(DEFAULT_NAMESPACE, _back(similar), "add products")
    fields = {name: text_field(form, name) for name in ("name", "category", "price", "description")}
    try:
        product = Product.create(**fields)
    except InvalidInput as exc:
        raise Redirect.error(_back(similar), f"Could not add the product: {exc}.") from exc
    return await _add(request, client, product, similar)
