"""`streammesh search reindex` as a process against the mini-mesh: a new generation is
built from the catalog and swapped in while searches keep answering, none failing."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from services.search.stores import open_index
from streammesh.catalog.v1 import catalog_pb2
from streammesh.search.v1 import search_pb2
from tests.search.service.conftest import SAMPLE, SearchMesh, poll
from tests.search.service.test_service import new_title

ROOT = Path(__file__).resolve().parents[3]
REINDEX_TIMEOUT_SECONDS = 120.0


async def test_reindex_swaps_generations_while_searches_keep_working(mesh: SearchMesh) -> None:
    index = await open_index(mesh.config)
    try:
        before = await index.current_generation()
        indexed = await index.count()
    finally:
        await index.close()
    known = SAMPLE[0]
    done = asyncio.Event()
    answers = 0
    failures: list[BaseException | str] = []

    async def keep_searching() -> None:
        nonlocal answers
        while not done.is_set():
            try:
                answer = await mesh.search.Search(
                    search_pb2.SearchRequest(q=known.title, page_size=5), timeout=10
                )
                if known.title_id not in {r.title_id for r in answer.results}:
                    failures.append(f"{known.title!r} missing: {answer}")
                suggested = await mesh.search.Suggest(
                    search_pb2.SuggestRequest(prefix=known.title[:4]), timeout=10
                )
                if not suggested.suggestions:
                    failures.append("no suggestions")
                answers += 1
            except Exception as error:  # noqa: BLE001 - every failure is reported
                failures.append(error)
            await asyncio.sleep(0.01)

    searchers = [asyncio.create_task(keep_searching()) for _ in range(4)]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "search",
            "reindex",
            "--timeout",
            "90",
            cwd=ROOT,
            env=mesh.cli_environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), REINDEX_TIMEOUT_SECONDS)
    finally:
        done.set()
        await asyncio.gather(*searchers)
    text = output.decode()
    assert process.returncode == 0, text
    assert "Reindexed" in text, text
    assert not failures, failures[:5]
    assert answers > 0
    index = await open_index(mesh.config)
    try:
        after = await index.current_generation()
        assert after != before
        assert f"generation {after}" in text
        assert await index.count() == indexed
    finally:
        await index.close()
    # The service answers from the new generation, and the indexer writes to it.
    name = f"Brackenfold Ossuary {uuid.uuid4().hex[:8]}"

    await mesh.catalog.CreateTitle(
        catalog_pb2.CreateTitleRequest(title=new_title(name)), timeout=10
    )

    async def found() -> bool:
        return bool((await mesh.find(name)).results)

    await poll(found, 5.0, "a title created after the reindex")
