"""``streammesh recs train`` and ``streammesh recs evaluate`` (also ``streammesh recommendations``).

``train`` rebuilds every precomputed list in batch: it reads the catalog from
the catalog service (STREAMMESH_CATALOG_ADDR, else loopback), learns every
interaction in the recommendations store the environment names (``streammesh
config recommendations``), then recomputes and stores each profile's list
(for the context stored with its last list, else the adult default limit and
its latest view's country) and the similar titles of every watched title,
with a progress bar; the whole run is bounded by ``--timeout``.

``evaluate`` measures the models offline (services/recommendations/evaluation.py):
leave the last view of each profile out, rank the full catalog, HR@10, NDCG@10
and coverage per source and for the blend against popularity. The history is
the store's (what the freshness consumer recorded, e.g. after ``streammesh
seed-views``) or ``--views FILE``, the JSON lines ``streammesh seed-views
--write-truth FILE`` writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.recommendations.config import Config

DEFAULT_TIMEOUT_SECONDS: Final = 1800.0
# Lists written at once by the training.
WRITE_CONCURRENCY: Final = 32


def register(subparsers: Any) -> None:
    for name in ("recs", "recommendations"):
        parser = subparsers.add_parser(
            name, help="train and evaluate the recommendations", description=__doc__
        )
        commands = parser.add_subparsers(dest="recs_command", required=True)
        train = commands.add_parser("train", help="rebuild every precomputed list")
        train.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
        train.set_defaults(handler=run_train)
        evaluate = commands.add_parser("evaluate", help="offline HR@10, NDCG@10, coverage")
        evaluate.add_argument("--views", type=Path, help="seed-views --write-truth file")
        evaluate.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
        evaluate.set_defaults(handler=run_evaluate)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_train(args: argparse.Namespace) -> int:
    console = Console()
    try:
        profiles, titles, seconds = asyncio.run(
            asyncio.wait_for(train(Config.from_env(), console), args.timeout)
        )
    except TimeoutError:
        console.print(f"[red]training did not finish within {args.timeout:.0f} s[/]")
        return 1
    except Exception as err:  # noqa: BLE001 - a CLI reports and exits non-zero
        console.print(f"[red]training failed: {err}[/]")
        return 1
    console.print(
        f"trained: {profiles} profile lists and {titles} similar-title lists in {seconds:.1f} s"
    )
    return 0


async def _engine(config: Config, console: Console) -> Any:
    from services.kit.clients import channel
    from services.recommendations.catalog import read_catalog
    from services.recommendations.engine import Engine
    from services.recommendations.models import BlendWeights
    from services.recommendations.stores import open_store
    from streammesh.catalog.v1 import catalog_pb2_grpc

    async with channel("catalog", config.server) as catalog_channel:
        with _progress(console) as progress:
            task = progress.add_task("catalog titles", total=None)
            titles = await read_catalog(
                catalog_pb2_grpc.CatalogServiceStub(catalog_channel),
                timeout_seconds=config.catalog_load_timeout_seconds,
                on_page=lambda n: progress.update(task, completed=n),
            )
    store = await open_store(config, migrate=False)
    return Engine(
        store,
        titles,
        weights=BlendWeights(config.history_half_weight, config.co_share),
        list_size=config.list_size,
    )


async def train(config: Config, console: Console) -> tuple[int, int, float]:
    """Rebuilds every list; returns (profiles, titles, seconds)."""
    started = time.monotonic()
    engine = await _engine(config, console)
    try:
        with _progress(console) as progress:
            learn = progress.add_task("profiles learned", total=None)
            await engine.load(lambda n: progress.update(learn, completed=n))
            profiles = engine.recommender.profile_ids
            lists = progress.add_task("profile lists", total=len(profiles))
            for start in range(0, len(profiles), WRITE_CONCURRENCY):
                chunk = profiles[start : start + WRITE_CONCURRENCY]
                stored = await asyncio.gather(*(engine.store.get_list(p) for p in chunk))
                await asyncio.gather(
                    *(
                        engine.refresh(p, s.context if s is not None else engine.default_context(p))
                        for p, s in zip(chunk, stored, strict=True)
                    )
                )
                progress.update(lists, advance=len(chunk))
            watched = sorted({i.title_id for p in profiles for i in engine.recommender.history(p)})
            similar = progress.add_task("similar titles", total=len(watched))
            for start in range(0, len(watched), WRITE_CONCURRENCY):
                chunk = watched[start : start + WRITE_CONCURRENCY]
                await asyncio.gather(
                    *(
                        engine.store.save_similar(
                            t, engine.recommender.similar(t, engine.list_size)
                        )
                        for t in chunk
                    )
                )
                progress.update(similar, advance=len(chunk))
    finally:
        await engine.store.close()
    return len(profiles), len(watched), time.monotonic() - started


def run_evaluate(args: argparse.Namespace) -> int:
    console = Console()
    try:
        text = asyncio.run(
            asyncio.wait_for(evaluate(Config.from_env(), console, args.views), args.timeout)
        )
    except TimeoutError:
        console.print(f"[red]evaluation did not finish within {args.timeout:.0f} s[/]")
        return 1
    except Exception as err:  # noqa: BLE001 - a CLI reports and exits non-zero
        console.print(f"[red]evaluation failed: {err}[/]")
        return 1
    console.print(text)
    return 0


def read_truth(path: Path) -> list[Any]:
    """Interactions from ``seed-views --write-truth`` lines (merged per profile and title)."""
    from services.recommendations.models import Interaction
    from services.recommendations.store import merged

    kept: dict[tuple[str, str], Interaction] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            duration = int(row["duration_seconds"])
            completion = min(int(row["position_seconds"]) / duration, 1.0) if duration else 0.0
            moment = datetime.fromisoformat(row["watch_time"].replace("Z", "+00:00"))
            interaction = Interaction(
                str(row["profile_id"]),
                row["title_id"],
                completion,
                int(moment.timestamp() * 1000),
                row["country_code"],
            )
            key = (interaction.profile_id, interaction.title_id)
            kept[key] = merged(kept.get(key), interaction)
    return list(kept.values())


async def evaluate(config: Config, console: Console, views: Path | None) -> str:
    from services.recommendations import evaluation

    engine = await _engine(config, console)
    try:
        if views is not None:
            interactions = read_truth(views)
        else:
            await engine.load()
            interactions = [
                i for p in engine.recommender.profile_ids for i in engine.recommender.history(p)
            ]
    finally:
        await engine.store.close()
    with _progress(console) as progress:
        task = progress.add_task("profiles ranked", total=None)
        metrics = evaluation.evaluate(
            engine.catalog,
            interactions,
            weights=engine.recommender.weights,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    profiles = metrics[0].profiles if metrics else 0
    return (
        f"{len(interactions)} interactions, {profiles} profiles evaluated "
        f"(last view held out, full catalog of {engine.catalog.size} ranked)\n"
        + evaluation.table(metrics)
    )
