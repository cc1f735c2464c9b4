"""Relevance of a search adapter, measured on the judged query set of this folder.

``queries.tsv`` (query id, kind, text) and ``qrels.tsv`` (TREC qrels: query id,
0, title id, grade 0-3) judge the whole catalog (see README.md here for how the
judgments were made). Every query is sent as a text-only :class:`SearchQuery`
(no filter, no rating cap, the top :data:`DEPTH`), and the answer is scored:

- **nDCG@10**: DCG = sum over ranks i = 1..10 of (2^grade - 1) / log2(i + 1)
  (the exponential gain OpenSearch's ``_rank_eval`` ``dcg`` metric uses; a title
  not judged has grade 0), divided by the DCG of the ideal ranking, the
  query's judged titles sorted by grade, best 10;
- **MRR@10**: 1 / rank of the first title with grade >= 2 (the meant title or
  one of its franchise or person) in the top 10, 0 when there is none.

Both are averaged over the queries. The catalog is loaded by the caller (the
``streammesh search evaluate`` command in devtools/search_relevance.py and the
test read it with the catalog's importer, which this package may not import).
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from services.search.store import SearchIndex, SearchQuery, TitleDoc

HERE: Final = Path(__file__).resolve().parent
QUERIES_PATH: Final = HERE / "queries.tsv"
QRELS_PATH: Final = HERE / "qrels.tsv"
DEPTH: Final = 10
# A title of this grade or above counts for MRR.
MRR_THRESHOLD: Final = 2
ADAPTERS: Final = ("sqlite", "opensearch")


@dataclass(frozen=True)
class Query:
    query_id: str
    kind: str
    text: str


@dataclass(frozen=True)
class QueryResult:
    query: Query
    ranked: tuple[str, ...]  # title ids, best first
    ndcg: float
    reciprocal_rank: float


@dataclass(frozen=True)
class Evaluation:
    adapter: str
    results: tuple[QueryResult, ...]
    load_seconds: float

    @property
    def ndcg(self) -> float:
        return sum(result.ndcg for result in self.results) / len(self.results)

    @property
    def mrr(self) -> float:
        return sum(result.reciprocal_rank for result in self.results) / len(self.results)

    def worst(self, count: int = 5) -> list[QueryResult]:
        return sorted(self.results, key=lambda r: (r.ndcg, r.reciprocal_rank, r.query.query_id))[
            :count
        ]


def _rows(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def load_queries(path: Path = QUERIES_PATH) -> list[Query]:
    return [Query(query_id, kind, text) for query_id, kind, text in _rows(path)]


def load_qrels(path: Path = QRELS_PATH) -> dict[str, dict[str, int]]:
    """Query id -> title id -> grade (a trailing ``# comment`` column is ignored)."""
    qrels: dict[str, dict[str, int]] = {}
    for query_id, _iteration, title_id, grade, *_comment in _rows(path):
        qrels.setdefault(query_id, {})[title_id] = int(grade)
    return qrels


def dcg(grades: Sequence[int]) -> float:
    return sum((2**grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(grades, 1))


def ndcg_at(ranked: Sequence[str], judged: dict[str, int], depth: int = DEPTH) -> float:
    ideal = dcg(sorted(judged.values(), reverse=True)[:depth])
    if ideal == 0:
        return 0.0
    return dcg([judged.get(title_id, 0) for title_id in ranked[:depth]]) / ideal


def reciprocal_rank(ranked: Sequence[str], judged: dict[str, int], depth: int = DEPTH) -> float:
    for rank, title_id in enumerate(ranked[:depth], 1):
        if judged.get(title_id, 0) >= MRR_THRESHOLD:
            return 1 / rank
    return 0.0


async def evaluate(
    index: SearchIndex,
    queries: Sequence[Query],
    qrels: dict[str, dict[str, int]],
    *,
    adapter: str,
    load_seconds: float = 0.0,
) -> Evaluation:
    """Runs every query on the (loaded) index and scores its top :data:`DEPTH`."""
    results = []
    for query in queries:
        page = await index.search(SearchQuery(text=query.text, limit=DEPTH))
        ranked = tuple(hit.title_id for hit in page.hits)
        judged = qrels.get(query.query_id, {})
        results.append(
            QueryResult(query, ranked, ndcg_at(ranked, judged), reciprocal_rank(ranked, judged))
        )
    return Evaluation(adapter, tuple(results), load_seconds)


@asynccontextmanager
async def loaded_index(
    adapter: str, docs: Sequence[TitleDoc], *, opensearch_url: str = "", prefix: str = ""
) -> AsyncIterator[tuple[SearchIndex, float]]:
    """A fresh index of ``adapter`` loaded with ``docs``, and the seconds the load took.

    SQLite: a file in a temporary folder, removed after. OpenSearch: indices under a
    prefix of their own (``<prefix>relevance-<random>-``), deleted after."""
    if adapter == "sqlite":
        from services.search.stores.sqlite import SqliteSearchIndex

        with tempfile.TemporaryDirectory(prefix="relevance-") as folder:
            sqlite_index = await SqliteSearchIndex.open(Path(folder) / "search.db")
            try:
                started = time.perf_counter()
                await sqlite_index.upsert(docs)
                yield sqlite_index, time.perf_counter() - started
            finally:
                await sqlite_index.close()
    elif adapter == "opensearch":
        from opensearchpy import AsyncOpenSearch

        from services.search.stores.opensearch import OpenSearchIndex

        prefix = f"{prefix}relevance-{secrets.token_hex(4)}-"
        client = AsyncOpenSearch(hosts=[opensearch_url], timeout=60)
        try:
            os_index = await OpenSearchIndex.on_client(client, prefix=prefix)
            try:
                started = time.perf_counter()
                await os_index.upsert(docs)
                yield os_index, time.perf_counter() - started
            finally:
                await client.indices.delete(
                    index=f"{prefix}*", ignore_unavailable=True, expand_wildcards="all"
                )
        finally:
            await client.close()
    else:
        raise ValueError(f"unknown adapter {adapter!r}")


async def run(
    adapters: Sequence[str], docs: Sequence[TitleDoc], *, opensearch_url: str = ""
) -> list[Evaluation]:
    """Loads ``docs`` into each adapter and evaluates the judged query set on it."""
    queries, qrels = load_queries(), load_qrels()
    evaluations = []
    for adapter in adapters:
        async with loaded_index(adapter, docs, opensearch_url=opensearch_url) as (index, took):
            evaluations.append(
                await evaluate(index, queries, qrels, adapter=adapter, load_seconds=took)
            )
    return evaluations


def report(evaluation: Evaluation, qrels: dict[str, dict[str, int]] | None = None) -> str:
    """The adapter's figures and its 5 worst queries, as printed by the command."""
    qrels = load_qrels() if qrels is None else qrels
    lines = [
        f"{evaluation.adapter}: {len(evaluation.results)} queries, "
        f"nDCG@{DEPTH} {evaluation.ndcg:.3f}, MRR@{DEPTH} {evaluation.mrr:.3f} "
        f"(loaded in {evaluation.load_seconds:.1f} s)"
    ]
    kinds: dict[str, list[QueryResult]] = {}
    for result in evaluation.results:
        kinds.setdefault(result.query.kind, []).append(result)
    for kind, results in kinds.items():
        ndcg = sum(r.ndcg for r in results) / len(results)
        mrr = sum(r.reciprocal_rank for r in results) / len(results)
        lines.append(f"  {kind:<12} {len(results):>3} queries  nDCG@10 {ndcg:.3f}  MRR {mrr:.3f}")
    lines.append("  worst queries:")
    for result in evaluation.worst():
        judged = qrels.get(result.query.query_id, {})
        grades = "".join(str(judged.get(title_id, 0)) for title_id in result.ranked) or "-"
        lines.append(
            f"    {result.query.query_id} {result.query.text!r}: nDCG@10 {result.ndcg:.3f}, "
            f"RR {result.reciprocal_rank:.3f}, grades of the top {DEPTH}: {grades}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- OpenSearch's _rank_eval


async def rank_eval(
    opensearch_url: str, docs: Sequence[TitleDoc], *, prefix: str = ""
) -> dict[str, float]:
    """nDCG@10 and MRR@10 of the judged queries as OpenSearch's ``_rank_eval`` API
    computes them (``dcg`` normalized, ``mean_reciprocal_rank`` with
    ``relevant_rating_threshold`` 2), on a fresh index loaded with ``docs``.
    Two known differences from :func:`evaluate`: _rank_eval orders by score alone
    (the adapter breaks ties by title id), and it cuts the ideal DCG at the number
    of hits returned (here the ideal counts the best 10 judged titles however few
    hits come back). Needs the rank-eval module (devtools/infra/backends/opensearch.py
    installs it)."""
    from opensearchpy import AsyncOpenSearch

    from services.search.stores.opensearch import text_query

    queries, qrels = load_queries(), load_qrels()
    async with loaded_index("opensearch", docs, opensearch_url=opensearch_url, prefix=prefix) as (
        index,
        _took,
    ):
        client = AsyncOpenSearch(hosts=[opensearch_url], timeout=120)
        try:
            alias = getattr(index, "alias")  # noqa: B009 (the adapter's, not the port's)
            (concrete,) = (await client.indices.get_alias(name=alias)).keys()
            requests = [
                {
                    "id": query.query_id,
                    "request": {"query": text_query(query.text)},
                    "ratings": [
                        {"_index": concrete, "_id": title_id, "rating": grade}
                        for title_id, grade in qrels.get(query.query_id, {}).items()
                    ],
                }
                for query in queries
            ]
            metrics = {
                "ndcg": {"dcg": {"k": DEPTH, "normalize": True}},
                "mrr": {
                    "mean_reciprocal_rank": {
                        "k": DEPTH,
                        "relevant_rating_threshold": MRR_THRESHOLD,
                    }
                },
            }
            figures = {}
            for name, metric in metrics.items():
                answer = await client.transport.perform_request(
                    "POST",
                    f"/{alias}/_rank_eval",
                    body={"requests": requests, "metric": metric},
                )
                if answer.get("failures"):
                    raise RuntimeError(f"_rank_eval failed: {answer['failures']}")
                figures[name] = float(answer["metric_score"])
        finally:
            await client.close()
    return figures
