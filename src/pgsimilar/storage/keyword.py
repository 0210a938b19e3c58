"""SQL of full-text (keyword) search: the GIN index of ``content_tsv`` finds the documents holding a
query word, ranked by BM25 (PostgreSQL's own ``ts_rank`` has no inverse document frequency, so common
words would outweigh rare ones).

Scoring a document is the costly part: it reads the document's whole ``tsvector``. A common word
matches most of a collection, so the statement scores as few documents as gives the exact top k, the
way BM25 engines prune (MaxScore, Turtle and Flood 1995): it first ranks the documents holding the
rarest words, and the k-th of their scores is a bar that every answer must reach. A word adds less
than ``idf * (k1 + 1)`` to any score, so when the least informative words together cannot reach the
bar, documents holding only those are never scored. For "protein w" where "w" is in most documents,
only the documents holding "protein" are.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import Connection, sql

from ..core.filters import CompiledFilter
from ..core.types import CollectionInfo
from .search import KeywordRow, SearchRun, execute
from .tables import HAS_CONTENT, table

# Plain words match any of them (ranked, as BM25-style engines do); a query using web-search syntax
# (quotes, "or", a leading "-") keeps websearch_to_tsquery's meaning.
_WEBSEARCH_SYNTAX = re.compile(r'"|(^|\s)-\S|\sor\s', re.IGNORECASE)

# BM25's usual constants (Robertson and Zaragoza, 2009): term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75


def uses_websearch_syntax(text: str) -> bool:
    """Whether ``text`` is read as a web-search query (phrases, "or", exclusions) rather than as words
    any of which may match."""
    return _WEBSEARCH_SYNTAX.search(text) is not None


def keyword_query(text: str) -> sql.Composable:
    if uses_websearch_syntax(text):
        return sql.SQL("websearch_to_tsquery(%(language)s::regconfig, %(query_text)s)")
    return sql.SQL(
        "(SELECT string_agg(quote_literal(lexeme), ' | ') FROM unnest(tsvector_to_array("
        "to_tsvector(%(language)s::regconfig, %(query_text)s))) AS lexeme)::tsquery"
    )


# The BM25 score of document ``d`` (``c`` is the corpus row, ``w`` the query's words and their idf):
# the query's words are picked out of its tsvector in C (weighted A, then filtered on that weight;
# content_tsv is made by to_tsvector, whose positions all have weight D) before it is unnested, and
# their idf looked up by position in an array. That measured 4x quicker than unnesting every word of
# the document and joining the rows with the query's.
_SCORE = """(
        SELECT sum(w.idfs[array_position(w.lexemes, u.lexeme)] * u.tf * (%(k1)s + 1)
                   / (u.tf + %(k1)s * (1 - %(b)s + %(b)s * length(d.content_tsv) / c.avgdl)))
        FROM (
            SELECT lexeme, coalesce(array_length(positions, 1), 1)::float8 AS tf
            FROM unnest(ts_filter(setweight(d.content_tsv, 'A', w.lexemes), '{a}'))
        ) u
    )"""

# Any of the lexemes of a CTE as a tsquery (NULL, matching nothing, when it has none).
_ANY_OF = "(SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery FROM {})"

_STATEMENT = """WITH q AS (SELECT {query} AS query),
terms AS (
    SELECT DISTINCT lexeme
    FROM unnest(tsvector_to_array(to_tsvector(%(language)s::regconfig, %(query_text)s))) AS lexeme
),
corpus AS (
    SELECT count(*)::float8 AS n, greatest(avg(length(content_tsv)), 1)::float8 AS avgdl
    FROM {table} WHERE {has_content}
),
idf AS (
    SELECT t.lexeme, df.df, ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5)) AS idf
    FROM terms t CROSS JOIN corpus c
    CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS df FROM {table}
        WHERE {has_content} AND content_tsv @@ quote_literal(t.lexeme)::tsquery
    ) df
),
weights AS (SELECT array_agg(lexeme) AS lexemes, array_agg(idf) AS idfs FROM idf),
-- The rarest words, as many as hold k documents between them (or all of them).
first_terms AS (
    SELECT lexeme FROM (
        SELECT lexeme, sum(df) OVER (ORDER BY df, lexeme ROWS UNBOUNDED PRECEDING) - df AS before FROM idf
    ) ranked
    WHERE before < {k}
),
first AS (
    SELECT d.id, {score} AS rank
    FROM {table} d CROSS JOIN corpus c CROSS JOIN weights w
    WHERE {conditions} AND d.content_tsv @@ {first_terms}
    ORDER BY rank DESC, d.id
    LIMIT {k}
),
bar AS (SELECT CASE WHEN count(*) = {k} THEN min(rank) ELSE 0 END AS score FROM first),
-- The words not yet ranked that a top-k document may hold: all but the least informative ones whose
-- bounds add up to less than the bar (with a margin for rounding), which alone cannot reach it.
essential AS (
    SELECT lexeme FROM (
        SELECT lexeme, sum(idf * (%(k1)s + 1)) OVER (ORDER BY idf, lexeme ROWS UNBOUNDED PRECEDING) AS bound
        FROM idf
    ) ranked CROSS JOIN bar
    WHERE NOT ranked.bound * (1 + 1e-9) < bar.score AND lexeme NOT IN (SELECT lexeme FROM first_terms)
),
rest AS (
    SELECT d.id, {score} AS rank
    FROM {table} d CROSS JOIN corpus c CROSS JOIN weights w
    WHERE {conditions} AND d.content_tsv @@ {essential} AND NOT d.content_tsv @@ {first_terms}
    ORDER BY rank DESC, d.id
    LIMIT {k}
),
scored AS (
    SELECT id, rank FROM first
    UNION ALL
    SELECT id, rank FROM rest
    ORDER BY rank DESC, id
    LIMIT {k}
)
SELECT d.id, d.content, d.metadata, d.image IS NOT NULL AS has_image, s.rank
FROM scored s JOIN {table} d ON d.id = s.id
ORDER BY s.rank DESC, d.id"""


def run_keyword_search(
    conn: Connection[Any],
    info: CollectionInfo,
    text: str,
    *,
    k: int,
    where: CompiledFilter,
    exclude_id: str | None,
    explain: bool,
) -> SearchRun[KeywordRow]:
    """The top ``k`` documents by BM25 that match ``text`` and ``where`` (see the module's docstring).
    The corpus is the records with content; a document's length is counted in distinct lexemes and a
    word's frequency in its positions."""
    # HAS_CONTENT is implied by a match, but the planner needs it said to use the (partial) index.
    conditions: list[sql.Composable] = [
        HAS_CONTENT,
        sql.SQL("content_tsv @@ (SELECT query FROM q)"),
        where.sql,
    ]
    if exclude_id is not None:
        conditions.append(sql.SQL("id <> %(exclude_id)s"))
    statement = sql.SQL(_STATEMENT).format(
        query=keyword_query(text),
        table=table(info),
        has_content=HAS_CONTENT,
        conditions=sql.SQL(" AND ").join(conditions),
        score=sql.SQL(_SCORE),
        first_terms=sql.SQL(_ANY_OF).format(sql.Identifier("first_terms")),
        essential=sql.SQL(_ANY_OF).format(sql.Identifier("essential")),
        k=sql.Literal(k),
    )
    params: dict[str, Any] = {
        **where.params,
        "language": info.text_language,
        "query_text": text,
        "k1": BM25_K1,
        "b": BM25_B,
        "exclude_id": exclude_id,
    }
    return execute(conn, KeywordRow, statement, params, {}, explain=explain)
