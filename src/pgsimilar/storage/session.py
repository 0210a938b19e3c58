"""Search settings kept on each pooled connection, so that a search is one round trip.

Setting ``hnsw.ef_search`` (and the others) per query costs a statement per query, and with
``SET LOCAL`` a transaction around it: four round trips where the search itself needs one. pgvector's
settings only change how its index scans run, so they are set at session level, on the connections
pgsimilar owns, and only when a search needs other values than the connection has: every search states
all of them (:data:`SESSION_DEFAULTS` fills in those it does not care about), so none leaks from one
search into the next. Settings that would change other queries (``enable_indexscan`` for an exact
search) stay local to the search's transaction.

One more is kept: ``plan_cache_mode``, which exact and filtered searches set to ``force_custom_plan``
(see :data:`.search.CUSTOM_PLANS`) and unfiltered approximate ones to ``force_generic_plan``
(:data:`.search.GENERIC_PLANS`). Other statements' plans may depend on their parameters, so a
connection that may hold generic plans forced is set back to ``auto`` before it serves anything but
searches (:func:`other_statements_need_reset`, done by :meth:`.database.Database.connection`).

What each connection holds is remembered here, not asked of the server. Anything that could change it
behind our back forgets it: a failed statement (a setting pipelined with a failing query is rolled
back with it) and ``RESET ALL`` (:func:`forget`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from psycopg import Connection

PLAN_CACHE_MODE = "plan_cache_mode"
FORCE_GENERIC_PLAN = "force_generic_plan"

SESSION_DEFAULTS: Mapping[str, str] = {
    PLAN_CACHE_MODE: "auto",
    "hnsw.ef_search": "40",
    "hnsw.iterative_scan": "off",
    "ivfflat.probes": "1",
    "ivfflat.iterative_scan": "off",
}
"""The settings searches manage at session level: pgvector's, at their own defaults, and the plan cache."""

_held: weakref.WeakKeyDictionary[Connection[Any], dict[str, str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()  # connections are used by one thread at a time, but the mapping is shared


def is_session_setting(name: str) -> bool:
    return name in SESSION_DEFAULTS


def changes(conn: Connection[Any], wanted: Mapping[str, str]) -> dict[str, str]:
    """The session settings ``conn`` must change to run with ``wanted`` (session settings only; the
    ones not in ``wanted`` go back to :data:`SESSION_DEFAULTS`)."""
    full = {**SESSION_DEFAULTS, **{k: v for k, v in wanted.items() if is_session_setting(k)}}
    with _lock:
        held = _held.get(conn)
    if held is None:
        return full  # unknown: set them all once
    return {name: value for name, value in full.items() if held.get(name) != value}


def applied(conn: Connection[Any], settings: Mapping[str, str]) -> None:
    """Remember that ``settings`` are now in effect on ``conn`` for its session."""
    if not settings:
        return
    with _lock:
        _held.setdefault(conn, {}).update(settings)


def forget(conn: Connection[Any]) -> None:
    """``conn``'s settings are unknown (after an error, ``RESET ALL`` or ``DISCARD``)."""
    with _lock:
        _held.pop(conn, None)


def other_statements_need_reset(conn: Connection[Any]) -> bool:
    """Whether ``conn`` may hold generic plans forced (an unfiltered search set them, or what the
    connection holds is unknown), which other statements must not run under: their plans may depend
    on their parameters. (Custom plans, forced by other searches, are right for any statement.)"""
    with _lock:
        held = _held.get(conn)
    value = None if held is None else held.get(PLAN_CACHE_MODE)
    return value is None or value == FORCE_GENERIC_PLAN
