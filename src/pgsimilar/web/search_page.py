"""What the search page shows, gathered from the core in one call (run it on a worker thread): the
collection, filter controls built from its metadata, and the hits of the search with how it ran."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..core.browse import Facet, FacetKind, FacetValue, ListedRecord, list_records, metadata_facets
from ..core.client import Client
from ..core.collection import Collection
from ..core.types import CollectionInfo, Hit, IndexKind, Metric, SearchMode, SearchResults
from ..embedders.base import Modality
from ..errors import EmbedderError, InvalidInput, NotFound
from ..media import load_image
from ..storage.tables import OPERATORS
from .forms import SearchForm

DEFAULT_K = {True: 12, False: 10}  # a picture grid fills rows of 3, 4 and 6; a list reads well at 10
BROWSE_COUNT = {True: 24, False: 10}
MAX_CHOICES = 50
MAX_CHOICE_CHARS = 80

METRIC_NOTES = {
    Metric.COSINE: "cosine distance: 1 − cosine similarity (0 = same direction, 2 = opposite)",
    Metric.L2: "Euclidean (L2) distance",
    Metric.INNER_PRODUCT: "negative inner product (pgvector negates it so that smaller is closer)",
}


class ControlKind(StrEnum):
    CHOICE = "choice"
    FLAG = "flag"
    RANGE = "range"


@dataclass(frozen=True)
class FilterControl:
    """A filter the form offers for one metadata field."""

    field: str
    kind: ControlKind
    options: list[FacetValue] = dataclasses.field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def _is_choice(facet: Facet) -> bool:
    """A string field worth a dropdown: a few values, each shared by several records (a field whose
    every value is different, like a title or a file name, is an identifier, not a category)."""
    identifier = facet.distinct == facet.records and facet.records > 5
    short = all(len(str(option.value)) <= MAX_CHOICE_CHARS for option in facet.values)
    return facet.complete and 1 <= facet.distinct <= MAX_CHOICES and not identifier and short


def filter_controls(facets: list[Facet]) -> list[FilterControl]:
    """Dropdowns for categorical strings and booleans, min/max inputs for numbers."""
    controls: list[FilterControl] = []
    for facet in facets:
        if facet.kind is FacetKind.STRING and _is_choice(facet):
            options = sorted(facet.values, key=lambda option: str(option.value).casefold())
            controls.append(FilterControl(facet.field, ControlKind.CHOICE, options))
        elif facet.kind is FacetKind.BOOLEAN:
            controls.append(FilterControl(facet.field, ControlKind.FLAG, facet.values))
        elif facet.kind is FacetKind.NUMBER and facet.distinct > 1:
            controls.append(FilterControl(facet.field, ControlKind.RANGE, [], facet.minimum, facet.maximum))
    return controls


@dataclass
class SearchPage:
    """Everything the search template needs. ``error`` (with ``status``) says why no search ran."""

    info: CollectionInfo
    model: str
    images: bool
    count: int
    index_built: bool
    controls: list[FilterControl]
    facets_partial: bool
    form: SearchForm
    k: int
    operator: str
    metric_note: str
    results: SearchResults | None = None
    image_name: str = ""
    query_preview: str | None = None
    records: list[ListedRecord] = dataclasses.field(default_factory=list)
    mode_used: SearchMode = SearchMode.VECTOR
    filter_used: dict[str, Any] | None = None
    error: str | None = None
    status: int = 200

    @property
    def hits(self) -> list[Hit]:
        return [] if self.results is None else list(self.results)

    @property
    def searched(self) -> bool:
        return self.results is not None

    @property
    def query_kind(self) -> str:
        """What the query vector came from: ``text``, an uploaded ``image`` or a stored ``record``."""
        return "image" if self.query_preview or self.image_name else "record" if self.form.similar else "text"

    @property
    def modes(self) -> list[str]:
        """Keyword and hybrid search read the text content: offered for text collections only."""
        return [SearchMode.VECTOR.value] if self.images else [mode.value for mode in SearchMode]


def _new_page(collection: Collection, form: SearchForm) -> SearchPage:
    info = collection.info
    images = collection.embedder.supports(Modality.IMAGE)
    facets = metadata_facets(collection)
    return SearchPage(
        info=info,
        model=collection.embedder.model_id,
        images=images,
        count=collection.count(),
        index_built=collection.index_built(),
        controls=filter_controls(facets.fields),
        facets_partial=facets.partial,
        form=form,
        k=form.k or DEFAULT_K[images],
        operator=OPERATORS[info.metric],
        metric_note=METRIC_NOTES[info.metric],
    )


def _preview(client: Client, image: bytes) -> str:
    settings = client.settings
    checked = load_image(image, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    return "data:image/webp;base64," + base64.b64encode(checked.thumbnail).decode("ascii")


def _search(client: Client, collection: Collection, page: SearchPage, image: bytes | None) -> None:
    form = page.form
    exact = form.exact or collection.info.index.kind is IndexKind.NONE
    text = None if image is not None or form.similar else (form.q or "")
    page.mode_used = form.mode if text is not None and not page.images else SearchMode.VECTOR
    page.filter_used = form.metadata_filter()
    page.results = collection.search(
        text=text,
        id=None if image is not None else form.similar,
        image=image,
        k=page.k,
        filter=page.filter_used,
        exact=exact,
        mode=page.mode_used,
        explain=True,
    )
    if image is not None:
        page.query_preview = _preview(client, image)


def build_search_page(
    client: Client,
    namespace: str,
    name: str,
    form: SearchForm,
    *,
    problems: list[str],
    image: bytes | None = None,
    image_name: str = "",
) -> SearchPage:
    """The page for ``form`` (and an uploaded ``image``); an unknown collection raises NotFound."""
    collection = client.get_collection(name, namespace=namespace)
    page = _new_page(collection, form)
    page.image_name = image_name
    if problems:
        page.error, page.status = "; ".join(problems), 400
    elif image is not None or form.submitted:
        try:
            _search(client, collection, page, image)
        except (InvalidInput, NotFound, EmbedderError) as exc:
            page.error = str(exc)
            page.status = 404 if isinstance(exc, NotFound) else 502 if isinstance(exc, EmbedderError) else 400
    else:
        page.records = list_records(collection, limit=BROWSE_COUNT[page.images])
    return page
