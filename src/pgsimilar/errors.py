"""The exceptions pgsimilar raises.

Every error is a :class:`PgsimilarError`, so ``except PgsimilarError`` catches all of them. The tree::

    PgsimilarError
    ├── ConfigurationError          settings that cannot work (bad URL, bad data directory)
    ├── DatabaseUnavailable         the database cannot be reached or started
    ├── MissingDependency           an optional package is not installed (says what to pip install)
    ├── NotFound                    (also a LookupError)
    │   ├── NamespaceNotFound
    │   ├── CollectionNotFound
    │   ├── RecordNotFound
    │   └── JobNotFound
    ├── AlreadyExists
    │   ├── NamespaceExists
    │   ├── CollectionExists
    │   └── RecordExists
    ├── JobFinished                 a finished job cannot be cancelled
    ├── IndexBuildFailed            building an index failed (nothing half-built is left behind)
    │   └── IndexBuildRunning       another index build of the collection is running
    ├── InvalidInput                (also a ValueError)
    │   ├── InvalidName
    │   ├── InvalidFilter
    │   ├── InvalidVector
    │   │   └── DimensionMismatch
    │   ├── InvalidRecord
    │   ├── InvalidImage
    │   ├── InvalidArchive          corrupt, empty, or over a size/ratio limit (bomb)
    │   ├── UrlRefused              a URL that is not fetched (scheme, private address)
    │   └── UnsupportedModality
    ├── FetchFailed                 fetching a URL failed (status, timeout, size)
    └── EmbedderError               the model or the embedding service failed
        └── EmbedderUnavailable     the embedding service cannot be reached

The faces map them to HTTP statuses (404, 409, 400/422, 502/503) and CLI exit codes.
"""

from __future__ import annotations


class PgsimilarError(Exception):
    """Base class of every pgsimilar error."""


class ConfigurationError(PgsimilarError):
    """A setting cannot work as given."""


class DatabaseUnavailable(PgsimilarError):
    """The database cannot be reached, or the embedded one cannot be started."""


class MissingDependency(PgsimilarError, ImportError):
    """An optional package needed for this feature is not installed."""


class NotFound(PgsimilarError, LookupError):
    """Something asked for by name or id does not exist."""


class NamespaceNotFound(NotFound):
    """No namespace of that name (or none the caller may see: the two read the same)."""

    @classmethod
    def named(cls, namespace: str) -> NamespaceNotFound:
        """The error for ``namespace``, worded the same whether it is missing or hidden from the caller."""
        return cls(f"namespace {namespace!r} does not exist")


class CollectionNotFound(NotFound):
    """No collection of that name in the namespace."""


class RecordNotFound(NotFound):
    """No record with that id in the collection."""


class JobNotFound(NotFound):
    """No upload job with that id (or none the caller may see)."""


class AlreadyExists(PgsimilarError):
    """Something to be created exists already."""


class NamespaceExists(AlreadyExists):
    """A namespace of that name exists already."""


class CollectionExists(AlreadyExists):
    """A collection of that name exists already in the namespace."""


class RecordExists(AlreadyExists):
    """``add`` was given ids that are already stored (use ``upsert`` to replace them)."""


class JobFinished(PgsimilarError):
    """The job has finished already (succeeded, failed or cancelled), so it cannot be cancelled."""


class IndexBuildFailed(PgsimilarError):
    """Building an index failed or was cancelled; the invalid index it left was dropped."""


class IndexBuildRunning(IndexBuildFailed):
    """Another index build (create, rebuild or drop) of the same collection is running; try later."""


class InvalidInput(PgsimilarError, ValueError):
    """Input that pgsimilar refuses; the message says what is wrong and what to do."""


class InvalidName(InvalidInput):
    """A namespace or collection name outside the allowed form."""


class InvalidFilter(InvalidInput):
    """A metadata filter that does not follow the filter language."""


class InvalidVector(InvalidInput):
    """A vector that cannot be stored or searched (NaN, infinity, not numbers)."""


class DimensionMismatch(InvalidVector):
    """A vector whose length differs from the collection's dimensions."""


class InvalidRecord(InvalidInput):
    """A record that cannot be stored (no id, empty text, oversized content, bad metadata)."""


class InvalidImage(InvalidInput):
    """An image that cannot be stored: corrupt, empty, of an unsupported format, or over a size limit."""


class InvalidArchive(InvalidInput):
    """An archive that cannot be unpacked: corrupt, empty, or over a size, count or ratio limit."""


class UrlRefused(InvalidInput):
    """A URL that is not fetched: not http(s), or pointing at a loopback, private or metadata address."""


class UnsupportedModality(InvalidInput):
    """The collection's embedder cannot embed this kind of input (e.g. text for ``none``)."""


class FetchFailed(PgsimilarError):
    """Fetching a URL failed: an HTTP error status, a timeout, too many redirects, or a body over the limit."""


class EmbedderError(PgsimilarError):
    """The embedding model or service failed."""


class EmbedderUnavailable(EmbedderError):
    """The embedding service could not be reached, or kept failing after retries."""
