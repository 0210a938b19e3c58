"""pgsimilar: semantic similarity search for text and images on PostgreSQL + pgvector.

>>> import pgsimilar
>>> client = pgsimilar.Client()  # embedded PostgreSQL unless PGSIMILAR_DATABASE_URL is set
>>> docs = client.create_collection("docs", exist_ok=True)
>>> docs.upsert([pgsimilar.Record(id="pg", content="PostgreSQL is a relational database")])
>>> [hit.id for hit in docs.search("which database?", k=3)]
"""

from .config import Settings
from .core.client import DEFAULT_NAMESPACE, Client
from .core.collection import Collection
from .core.jobs import ItemError, Job, JobStatus, UploadedFile, UrlToFetch
from .core.tuning import TunePoint, TuneResult
from .core.types import (
    CollectionInfo,
    Explain,
    Hit,
    IndexBuild,
    IndexKind,
    IndexProgress,
    IndexSettings,
    Metric,
    Quantization,
    Record,
    SearchMode,
    SearchResults,
    Storage,
    UpsertResult,
)
from .embedders.base import Embedder, Modality
from .errors import (
    AlreadyExists,
    CollectionExists,
    CollectionNotFound,
    ConfigurationError,
    DatabaseUnavailable,
    DimensionMismatch,
    EmbedderError,
    EmbedderUnavailable,
    FetchFailed,
    IndexBuildFailed,
    IndexBuildRunning,
    InvalidArchive,
    InvalidFilter,
    InvalidImage,
    InvalidInput,
    InvalidName,
    InvalidRecord,
    InvalidVector,
    JobFinished,
    JobNotFound,
    MissingDependency,
    NamespaceExists,
    NamespaceNotFound,
    NotFound,
    PgsimilarError,
    RecordExists,
    RecordNotFound,
    UnsupportedModality,
    UrlRefused,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_NAMESPACE",
    "AlreadyExists",
    "Client",
    "Collection",
    "CollectionExists",
    "CollectionInfo",
    "CollectionNotFound",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DimensionMismatch",
    "Embedder",
    "EmbedderError",
    "EmbedderUnavailable",
    "Explain",
    "FetchFailed",
    "Hit",
    "IndexBuild",
    "IndexBuildFailed",
    "IndexBuildRunning",
    "IndexKind",
    "IndexProgress",
    "IndexSettings",
    "InvalidArchive",
    "InvalidFilter",
    "InvalidImage",
    "InvalidInput",
    "InvalidName",
    "InvalidRecord",
    "InvalidVector",
    "ItemError",
    "Job",
    "JobFinished",
    "JobNotFound",
    "JobStatus",
    "Metric",
    "MissingDependency",
    "Modality",
    "NamespaceExists",
    "NamespaceNotFound",
    "NotFound",
    "PgsimilarError",
    "Quantization",
    "Record",
    "RecordExists",
    "RecordNotFound",
    "SearchMode",
    "SearchResults",
    "Settings",
    "Storage",
    "TunePoint",
    "TuneResult",
    "UnsupportedModality",
    "UploadedFile",
    "UpsertResult",
    "UrlRefused",
    "UrlToFetch",
    "__version__",
]
