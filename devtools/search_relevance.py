"""``streammesh search evaluate``: the search adapters' relevance on the whole catalog.

Loads services/catalog/data/netflix_titles.csv (parsed by the catalog's
importer, which is why this command lives in devtools: services.search may not
import services.catalog) into each adapter and prints the figures of
services/search/relevance/evaluate.py: nDCG@10, MRR@10 and the 5 worst queries.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from devtools.infra import endpoints
from services.catalog.importer import parse_file
from services.search.relevance import evaluate
from services.search.store import TitleDoc

CATALOG = (
    Path(__file__).resolve().parents[1] / "services" / "catalog" / "data" / "netflix_titles.csv"
)


def catalog_docs(path: Path = CATALOG) -> list[TitleDoc]:
    """Every title the importer accepts, as the search index keeps it."""
    return [
        TitleDoc(
            title_id=title.title_id,
            title=title.title,
            description=title.description,
            release_year=title.release_year,
            content_type=title.content_type,
            genres=tuple(title.genres),
            maturity_rating=title.maturity_rating,
            country_codes=tuple(title.country_codes),
            cast=tuple(title.cast),
            directors=tuple(title.directors),
        )
        for title in (row.title for row in parse_file(path).accepted)
    ]


def _search_subparsers(subparsers: Any) -> Any:
    """The subcommands of ``streammesh search``, made here unless another module
    (services.search.cli) registered ``search`` first."""
    parser = subparsers.choices.get("search")
    if parser is None:
        parser = subparsers.add_parser("search", help="the search index")
    if parser._subparsers is not None:  # argparse keeps the action in its group
        for action in parser._subparsers._group_actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
    return parser.add_subparsers(dest="search_command", metavar="SEARCH_COMMAND")


def register(subparsers: Any) -> None:
    parser = _search_subparsers(subparsers).add_parser(
        "evaluate",
        help="measure the search adapters' relevance (nDCG@10, MRR) on the judged queries",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "--adapter",
        choices=(*evaluate.ADAPTERS, "both"),
        default="both",
        help="which adapter to evaluate (default: both)",
    )
    parser.add_argument(
        "--rank-eval",
        action="store_true",
        help="also compute the OpenSearch figures with OpenSearch's _rank_eval API "
        "(needs the rank-eval module)",
    )
    parser.add_argument(
        "--opensearch-url",
        default=None,
        help=f"the OpenSearch node (default {endpoints.opensearch_url()})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    adapters = evaluate.ADAPTERS if args.adapter == "both" else (args.adapter,)
    url = args.opensearch_url or endpoints.opensearch_url()
    docs = catalog_docs()
    evaluations = asyncio.run(evaluate.run(adapters, docs, opensearch_url=url))
    qrels = evaluate.load_qrels()
    print(f"{len(docs)} titles, {len(evaluate.load_queries())} judged queries")
    for evaluation in evaluations:
        print(evaluate.report(evaluation, qrels))
    if args.rank_eval:
        figures = asyncio.run(evaluate.rank_eval(url, docs))
        print(
            f"opensearch _rank_eval: nDCG@{evaluate.DEPTH} {figures['ndcg']:.3f}, "
            f"MRR@{evaluate.DEPTH} {figures['mrr']:.3f}"
        )
    return 0
