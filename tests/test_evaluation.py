"""Retrieval evaluation: the trec_eval measures by hand, the BEIR readers, and evaluating a collection."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgsimilar import Client, Collection
from pgsimilar.core.evaluation import (
    beir_collection_name,
    evaluate,
    load_beir_collection,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    read_beir,
    read_qrels,
    read_queries,
    recall_at_k,
    score_run,
)
from pgsimilar.core.types import UpsertResult
from pgsimilar.errors import InvalidInput

LOG2_3 = math.log2(3)  # the discount of rank 2: 1.5849625


# ---- nDCG ---------------------------------------------------------------------------------------------


def test_ndcg_uses_the_grades_as_gains() -> None:
    # DCG  = 1/log2(2) [b, grade 1] + 0/log2(3) [x, unjudged] + 2/log2(4) [a, grade 2] = 1 + 0 + 1 = 2
    # IDCG = 2/log2(2) + 1/log2(3) = 2 + 0.6309298 = 2.6309298;  nDCG = 2 / 2.6309298 = 0.7601875
    assert ndcg_at_k(["b", "x", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(2 / (2 + 1 / LOG2_3))
    assert ndcg_at_k(["b", "x", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(0.7601875)
    assert ndcg_at_k(["a", "b"], {"a": 2, "b": 1}, 10) == pytest.approx(1.0)


def test_ndcg_order_among_equal_grades_does_not_matter() -> None:
    # Both orders give DCG = 1 + 1/log2(3) = IDCG.
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)


def test_ndcg_cuts_both_the_ranking_and_the_ideal_at_k() -> None:
    judged = {"a": 2, "b": 1}
    assert ndcg_at_k(["x", "a", "b"], judged, 1) == 0.0  # only x (gain 0) is in the top 1
    # k=2: DCG = 0 + 2/log2(3) = 1.2618595; IDCG@2 = 2 + 1/log2(3) = 2.6309298 -> 0.4796249
    assert ndcg_at_k(["x", "a", "b"], judged, 2) == pytest.approx((2 / LOG2_3) / (2 + 1 / LOG2_3))
    # The ideal is cut at k too: IDCG@1 = 2 (grade 2 first), so finding a at rank 1 scores 1, not
    # 2 / (2 + 1/log2(3) + 1/2), although c and b were not retrieved.
    assert ndcg_at_k(["a"], {"a": 2, "b": 1, "c": 1}, 1) == pytest.approx(1.0)


def test_ndcg_zero_and_negative_grades_are_not_relevant() -> None:
    # z (grade 0) and u (unjudged) gain nothing; a at rank 3: DCG = 1/log2(4) = 0.5. IDCG = 1 (z is
    # not in the ideal ranking either).
    assert ndcg_at_k(["z", "u", "a"], {"a": 1, "z": 0}, 10) == pytest.approx(0.5)
    # A negative grade gains 0 too (not -1): DCG = 1/log2(3) = 0.6309298, IDCG = 1.
    assert ndcg_at_k(["n", "a"], {"a": 1, "n": -1}, 10) == pytest.approx(1 / LOG2_3)


def test_measures_are_zero_when_nothing_relevant_is_retrieved() -> None:
    judged = {"a": 1, "b": 2}
    for measure in (ndcg_at_k, map_at_k, mrr_at_k, recall_at_k):
        assert measure(["x", "y"], judged, 10) == 0.0
        assert measure([], judged, 10) == 0.0
        assert measure(["x"], {"x": 0}, 10) == 0.0  # no relevant document at all


# ---- MAP, MRR and recall ------------------------------------------------------------------------------


def test_map_divides_by_every_relevant_document() -> None:
    judged = {"a": 1, "b": 1, "c": 1, "d": 1}  # R = 4
    # Relevant at ranks 1 and 3: precisions 1/1 and 2/3; (1 + 0.6666667) / 4 = 0.4166667
    assert map_at_k(["a", "x", "b", "y"], judged, 10) == pytest.approx((1 + 2 / 3) / 4)
    assert map_at_k(["x", "a"], judged, 1) == 0.0  # a is beyond the cut-off
    # A grade of 2 is as relevant as 1 for MAP: (1/1) / 1
    assert map_at_k(["a"], {"a": 2}, 10) == pytest.approx(1.0)


def test_map_with_more_relevant_documents_than_k_stays_below_one() -> None:
    judged = {doc: 1 for doc in "abcde"}  # R = 5 > k = 3
    # Ranks 1-3 all relevant: precisions 1 + 1 + 1 = 3; trec_eval's map_cut divides by R = 5 -> 0.6
    # (dividing by min(R, k) = 3 would give 1.0).
    assert map_at_k(["a", "b", "c", "d", "e"], judged, 3) == pytest.approx(0.6)


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_document() -> None:
    assert mrr_at_k(["x", "y", "a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], {"a": 1}, 2) == 0.0  # first relevant at rank 3 > k
    assert mrr_at_k(["z", "a"], {"z": 0, "a": 1}, 10) == pytest.approx(0.5)  # z (grade 0) does not count


def test_recall_counts_relevant_documents_in_the_top_k() -> None:
    judged = {"a": 1, "b": 1, "c": 1, "d": 1}
    assert recall_at_k(["a", "x", "b"], judged, 10) == pytest.approx(2 / 4)
    assert recall_at_k(["a", "x", "b"], judged, 1) == pytest.approx(1 / 4)
    # R = 5 > k = 3, all three retrieved are relevant: 3 / 5 = 0.6
    assert recall_at_k(list("abcde"), {doc: 1 for doc in "abcde"}, 3) == pytest.approx(0.6)


def test_a_repeated_document_counts_once_at_its_first_rank() -> None:
    # Counted twice, a would give DCG = 1 + 1/log2(3) > IDCG = 1 (nDCG 1.63) and AP = (1 + 2/2) / 1 = 2.
    assert ndcg_at_k(["a", "a"], {"a": 1}, 10) == pytest.approx(1.0)
    assert map_at_k(["a", "a"], {"a": 1}, 10) == pytest.approx(1.0)
    assert recall_at_k(["a", "a", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(0.5)
    # Repeats are dropped before the cut-off, as in the {doc: score} run pytrec_eval takes: the top 2
    # of x, x, a is [x, a], so a is at rank 2.
    assert mrr_at_k(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(0.5)
    assert recall_at_k(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_must_be_a_positive_integer(k: object) -> None:
    with pytest.raises(InvalidInput, match="k must be a positive integer"):
        ndcg_at_k(["a"], {"a": 1}, k)  # type: ignore[arg-type]


# ---- score_run ----------------------------------------------------------------------------------------

FILLERS = [f"f{n}" for n in range(3, 12)]  # unjudged documents at ranks 3..11

QRELS = {
    "q1": {"d1": 2, "d2": 1},
    "q2": {"d3": 1, "d4": 1, "d5": 1},
    "q3": {"d6": 1},
    "q0": {"d7": 0},  # judged, but nothing relevant: left out of every average
}
RUN = {
    "q1": ["d2", "d9", "d1"],
    "q2": ["d8", "d3", *FILLERS, "d4"],  # d3 at rank 2, d4 at rank 12 (beyond 10, within 100)
    "q3": ["d8", "d9"],
    "q0": ["d7"],
    "qx": ["d1"],  # not judged: ignored
}


def test_score_run_averages_over_the_queries_with_relevant_judgements() -> None:
    # q1: DCG = 1/1 (d2) + 2/log2(4) (d1) = 2; IDCG = 2 + 1/log2(3) -> nDCG 0.7601875
    #     AP = (1/1 + 2/3) / 2 = 0.8333333; RR = 1; recall@10 = recall@100 = 2/2 = 1
    # q2: DCG = 1/log2(3) = 0.6309298; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309298 -> nDCG 0.2960819
    #     AP@10 = (1/2) / 3 = 0.1666667; RR = 1/2; recall@10 = 1/3; recall@100 = 2/3 (d4 at rank 12)
    # q3: nothing relevant retrieved: 0 everywhere.   q0 and qx: not scored.
    ndcg_q1 = 2 / (2 + 1 / LOG2_3)
    ndcg_q2 = (1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5)
    scores = score_run(RUN, QRELS)
    assert scores == pytest.approx(
        {
            "ndcg@10": (ndcg_q1 + ndcg_q2 + 0) / 3,  # (0.7601875 + 0.2960819) / 3 = 0.3520898
            "map@10": (5 / 6 + 1 / 6 + 0) / 3,  # 1/3
            "mrr@10": (1 + 1 / 2 + 0) / 3,  # 0.5
            "recall@10": (1 + 1 / 3 + 0) / 3,  # 4/9 = 0.4444444
            "recall@100": (1 + 2 / 3 + 0) / 3,  # 5/9 = 0.5555556
        }
    )
    assert scores["ndcg@10"] == pytest.approx(0.3520898)
    assert list(scores) == ["ndcg@10", "map@10", "mrr@10", "recall@10", "recall@100"]


def test_a_judged_query_missing_from_the_run_scores_zero() -> None:
    # q1 alone: recall@10 = 1. With q3 judged but not run: (1 + 0) / 2.
    scores = score_run({"q1": RUN["q1"]}, {"q1": QRELS["q1"], "q3": QRELS["q3"]})
    assert scores["recall@10"] == pytest.approx(0.5)
    assert scores["mrr@10"] == pytest.approx(0.5)


def test_score_run_needs_a_relevant_judgement() -> None:
    with pytest.raises(InvalidInput, match="no query has a relevant judgement"):
        score_run({"q0": ["d7"]}, {"q0": {"d7": 0}})
    with pytest.raises(InvalidInput):
        score_run({}, {})


# ---- readers ------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_read_queries_takes_id_or_underscore_id(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "queries.jsonl",
        '\ufeff{"_id": "1", "text": "first", "metadata": {}}\n\n{"id": 2, "text": "second"}\n',
    )
    assert read_queries(path) == {"1": "first", "2": "second"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"_id": "1", "text": ', "not valid JSON"),
        ('["1", "text"]', "expected a JSON object"),
        ('{"text": "no id"}', "needs an '_id'"),
        ('{"_id": "2"}', "needs a non-empty 'text'"),
        ('{"_id": "2", "text": "  "}', "needs a non-empty 'text'"),
        ('{"_id": "1", "text": "again"}', "appears twice"),
    ],
)
def test_read_queries_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "queries.jsonl", '{"_id": "1", "text": "fine"}\n' + line + "\n")
    with pytest.raises(InvalidInput, match=message) as raised:
        read_queries(path)
    assert f"{path}:2" in str(raised.value)


def test_read_qrels_with_and_without_a_header(tmp_path: Path) -> None:
    rows = "1\t31715818\t1\n1\t14717500\t2\n3\td0\t0\n"
    expected = {"1": {"31715818": 1, "14717500": 2}, "3": {"d0": 0}}
    assert read_qrels(_write(tmp_path / "plain.tsv", rows)) == expected
    assert read_qrels(_write(tmp_path / "header.tsv", "query-id\tcorpus-id\tscore\n" + rows)) == expected
    assert read_qrels(_write(tmp_path / "crlf.tsv", rows.replace("\n", "\r\n"))) == expected


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("q1\td1\n", 1, "expected 3 tab-separated columns"),  # a missing column
        ("q1\td1\t1\nq2\td2\n", 2, "expected 3 tab-separated columns"),
        ("q1\td1\t1\textra\n", 1, "got 4"),
        ("q1 d1 1\n", 1, "got 1"),  # spaces, not tabs
        ("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", 2, "must be an integer"),
        ("q1\td1\t1\nq1\td2\t0.5\n", 2, "must be an integer"),  # only the first line may be a header
        ("q1\t\t1\n", 1, "empty query-id or corpus-id"),
        ("q1\td1\t1\nq1\td1\t2\n", 2, "judges document 'd1' twice"),
    ],
)
def test_read_qrels_names_the_bad_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "qrels.tsv", text)
    with pytest.raises(InvalidInput, match=message) as raised:
        read_qrels(path)
    assert f"{path}:{line}:" in str(raised.value)


def test_missing_or_undecodable_files_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_qrels(tmp_path / "absent.tsv")
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"_id": "1", "text": "café"}\n'.encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_queries(latin1)


def _beir_folder(folder: Path, documents: list[dict[str, str]]) -> Path:
    _write(folder / "corpus.jsonl", "".join(json.dumps(doc) + "\n" for doc in documents))
    _write(
        folder / "queries.jsonl",
        '{"_id": "q1", "text": "how do cats sleep"}\n{"_id": "q2", "text": "rust compiler errors"}\n',
    )
    _write(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\tc1\t1\nq2\tc3\t2\n")
    return folder


TINY_CORPUS = [
    {"_id": "c1", "title": "Cats", "text": "Cats sleep sixteen hours a day, curled up in warm places."},
    {"_id": "c2", "title": "Bread", "text": "Sourdough bread rises slowly with a wild yeast starter."},
    {"_id": "c3", "title": "Rust", "text": "The Rust compiler explains borrow checker errors at length."},
]


def test_read_beir_reads_queries_and_test_qrels(tmp_path: Path) -> None:
    folder = _beir_folder(tmp_path / "tiny", TINY_CORPUS)
    data = read_beir(folder)
    assert data.corpus == folder / "corpus.jsonl"
    assert data.queries == {"q1": "how do cats sleep", "q2": "rust compiler errors"}
    assert data.qrels == {"q1": {"c1": 1}, "q2": {"c3": 2}}
    with pytest.raises(InvalidInput, match=r"dev\.tsv: no such file"):
        read_beir(folder, split="dev")
    with pytest.raises(InvalidInput, match="not a folder"):
        read_beir(tmp_path / "absent")


# ---- evaluate and load_beir_collection (the real minilm model) ---------------------------------------

DOCUMENTS = {
    "cat": "Cats are small domestic felines that purr and hunt mice.",
    "dog": "Dogs are loyal companions that bark and love long walks.",
    "rust": "Rust is a systems programming language with a borrow checker.",
    "python": "Python is a popular interpreted programming language for scripting.",
    "paris": "Paris is the capital of France, famous for the Eiffel Tower.",
    "tokyo": "Tokyo is the capital of Japan and its largest city.",
    "bread": "Sourdough bread is leavened with a starter of wild yeast.",
    "coffee": "Espresso coffee is brewed by forcing hot water through ground beans.",
}
QUERIES = {
    "pets": "which animals make good pets?",
    "code": "programming languages for software",
    "capital": "capital city of France",
    "unjudged": "how is bread baked?",  # no judgements: skipped
}
JUDGEMENTS = {
    "pets": {"cat": 1, "dog": 2, "bread": 0},
    "code": {"rust": 1, "python": 1},
    "capital": {"paris": 2, "tokyo": 0},
    "missing": {"coffee": 1},  # not among the queries: ignored
}


@pytest.fixture
def small_collection(client: Client, unique_name: str) -> Iterator[Collection]:
    collection = client.create_collection(unique_name, embedder="minilm")
    collection.upsert([{"id": key, "text": text} for key, text in DOCUMENTS.items()])
    yield collection
    client.drop_collection(unique_name, missing_ok=True)


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_evaluate_scores_the_rankings_search_returns(small_collection: Collection, mode: str) -> None:
    calls: list[tuple[int, int]] = []
    report = evaluate(
        small_collection,
        QUERIES,
        JUDGEMENTS,
        mode=mode,
        exact=True,
        depth=5,
        progress=lambda *call: calls.append(call),
    )
    judged = ["pets", "code", "capital"]
    run = {key: small_collection.search(QUERIES[key], k=5, exact=True, mode=mode).ids for key in judged}
    assert report.metrics == pytest.approx(score_run(run, {key: JUDGEMENTS[key] for key in judged}))
    if mode == "vector":
        assert report.metrics["ndcg@10"] > 0.8  # the topics are far apart
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert (report.queries, report.mode, report.exact, report.ef_search) == (3, mode, True, None)
    assert report.seconds > 0
    assert report.to_dict() == {
        "metrics": report.metrics,
        "queries": 3,
        "mode": mode,
        "exact": True,
        "ef_search": None,
        "seconds": report.seconds,
    }


def test_evaluate_refuses_what_it_cannot_run(small_collection: Collection) -> None:
    with pytest.raises(InvalidInput, match="unknown search mode 'fuzzy'"):
        evaluate(small_collection, QUERIES, JUDGEMENTS, mode="fuzzy")
    with pytest.raises(InvalidInput, match="nothing to evaluate"):
        evaluate(small_collection, {"unjudged": "bread"}, JUDGEMENTS)


def test_beir_collection_name_is_a_valid_name() -> None:
    assert beir_collection_name(Path("/data/SciFact")) == "beir-scifact"
    assert beir_collection_name(Path("/data/My Data.v2")) == "beir-my-data-v2"
    assert beir_collection_name(Path("x" * 100)) == "beir-" + "x" * 58


def test_load_beir_collection_embeds_each_document_once(
    client: Client, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _beir_folder(tmp_path / f"{unique_name}.Tiny", TINY_CORPUS)
    monkeypatch.setattr(client, "settings", client.settings.model_copy(update={"upsert_batch_size": 2}))
    name = f"beir-{unique_name}-tiny"  # "." is not allowed in names
    try:
        calls: list[tuple[int, int]] = []
        collection, first = load_beir_collection(client, folder, progress=lambda *c: calls.append(c))
        assert collection.name == name
        assert first == UpsertResult(inserted=3, updated=0, unchanged=0, embedded=3)
        assert calls == [(2, 3), (3, 3)]  # batches of 2
        assert collection.count() == 3
        assert collection.get("c1").content == "Cats " + TINY_CORPUS[0]["text"]

        # Loading again finds the collection and every document unchanged: nothing is embedded.
        again, second = load_beir_collection(client, folder)
        assert again.name == name
        assert second == UpsertResult(inserted=0, updated=0, unchanged=3, embedded=0)
        assert again.count() == 3

        # A changed document is embedded again, and only it.
        changed = [dict(TINY_CORPUS[0], text="Cats nap in the sun."), *TINY_CORPUS[1:]]
        _beir_folder(folder, changed)
        _, third = load_beir_collection(client, folder)
        assert third == UpsertResult(inserted=0, updated=1, unchanged=2, embedded=1)

        data = read_beir(folder)
        report = evaluate(collection, data.queries, data.qrels, exact=True)
        assert report.queries == 2
        assert report.metrics["mrr@10"] == pytest.approx(1.0)  # each answer is the top hit
    finally:
        client.drop_collection(name, missing_ok=True)


def test_load_beir_collection_takes_a_name_and_checks_the_corpus(
    client: Client, unique_name: str, tmp_path: Path
) -> None:
    folder = _beir_folder(tmp_path / "tiny", TINY_CORPUS)
    try:
        collection, result = load_beir_collection(client, folder, name=unique_name)
        assert (collection.name, result.inserted) == (unique_name, 3)
    finally:
        client.drop_collection(unique_name, missing_ok=True)
    _write(folder / "corpus.jsonl", '{"_id": "c1", "text": "fine"}\n{"_id": "c2", "text": \n')
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl:2"):
        load_beir_collection(client, folder, name=unique_name)
    with pytest.raises(InvalidInput, match="no such file"):
        load_beir_collection(client, tmp_path / "absent", name=unique_name)
    assert unique_name not in {info.name for info in client.list_collections()}
