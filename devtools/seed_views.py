"""``streammesh seed-views``: demo viewing history, recorded through the mesh's public API.

For each of ``--viewers`` synthetic viewers (numbered from 1):

1. the users service: CreateAccount (``viewer-<n>-<seed>@seed.streammesh.dev``,
   :data:`DEMO_PASSWORD`, a country drawn from :data:`COUNTRIES`; an account
   that already exists is signed in instead and its country read back with
   GetAccount), Login for a token, ListProfiles for its primary profile;
2. the catalog: the titles that profile may watch in that country
   (ListTitles by country and the profile's maturity limit, newest first,
   ``--catalog-pages`` pages of 100; read once per country and limit, shared
   by the viewers who need them);
3. the history, with the viewer's token: ListHistory, to find the views a
   previous run recorded, then one RecordView per view not there yet.

The views follow a latent taste: each viewer draws a taste over the genres
of its titles from a Dirichlet distribution of total concentration
:data:`TASTE_CONCENTRATION` (so most of it falls on 2 or 3 genres), then for
each view a genre by taste and a title of that genre, the catalog's newest
more often (a popular head, so trending has titles many viewers watched).
Some views are finished (at least 95 % of the duration), the others stopped
part-way (continue watching). Watch times spread over the last
:data:`DAYS` UTC days, :data:`TODAY_SHARE` of them today, so trending's day
and week windows both have data at once. Views carry no country: the
history counts each in its account's.

Deterministic: every draw comes from ``random.Random`` seeded by ``--seed``
and the viewer's number (never from the run's order), so one seed over one
catalog always plans the same views; only the watch times move with the
clock (they are relative to now). Idempotent: a view's id is
``uuid5(VIEW_NAMESPACE, "<seed>:<viewer>:<n>")`` and RecordView records an
id once, so a second run with the same seed records nothing new (and,
having found the views with ListHistory, does not even send them).

Bounded: at most ``--concurrency`` viewers are worked on at once, each
call has a deadline (``--timeout``), and the channels are the mesh's own
(services/kit/clients.py: its retries, within their budget, and its
deadlines). About ``viewers * (3 + views)`` calls, plus the catalog pages
and one ListHistory page per 100 earlier views. Ctrl-C stops taking new
work, lets the calls in flight finish, and still writes the report (and the
truth file, with what was done). ``--write-truth PATH`` writes every view of
the plan as the history stores it, one JSON object a line (see
:func:`truth_row`), for tests and the recommendations work to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import grpc
import grpc.aio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from interceptors import retry as chain_retry
from services import ratings, registry
from services.kit import clients
from services.runtime.config import ServerConfig
from streammesh.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from streammesh.history.v1 import history_pb2, history_pb2_grpc
from streammesh.users.v1 import users_pb2, users_pb2_grpc

T = TypeVar("T")

# Every demo viewer's password (the accounts are demo data, nothing else).
DEMO_PASSWORD: Final = "streammesh-demo-viewer"
EMAIL_DOMAIN: Final = "seed.streammesh.dev"
# View ids are uuid5(VIEW_NAMESPACE, "<seed>:<viewer>:<n>").
VIEW_NAMESPACE: Final = uuid.UUID("0d5c8a52-7a3e-5b1f-9c64-2e8f41d7b3a9")
# Countries of the viewers, with their weights, and their accounts' language.
COUNTRIES: Final[tuple[tuple[str, int, str], ...]] = (
    ("US", 6, "en-US"),
    ("GB", 2, "en-GB"),
    ("IN", 2, "en-IN"),
    ("CA", 1, "en-CA"),
    ("FR", 1, "fr-FR"),
    ("DE", 1, "de-DE"),
    ("BR", 1, "pt-BR"),
    ("JP", 1, "ja-JP"),
)
DEVICES: Final = ("tv", "tv", "mobile", "web", "tablet")
# Total concentration of the taste Dirichlet: about 2.5 genres carry a taste.
TASTE_CONCENTRATION: Final = 1.5
# Within a genre, the title at (0-based) rank r is picked with weight 1/(r+1)**this.
POPULARITY_EXPONENT: Final = 0.8
# Watch times: the last DAYS UTC days, today included, TODAY_SHARE of them today.
DAYS: Final = 14
TODAY_SHARE: Final = 0.3
# Share of views watched to the end (>= 95 % of the duration).
FINISHED_SHARE: Final = 0.4
# Episode lengths (minutes) for shows, whose catalog entry has seasons only.
EPISODE_MINUTES: Final = (22, 25, 30, 42, 45, 50, 55, 60)
CATALOG_PAGE_SIZE: Final = 100
HISTORY_PAGE_SIZE: Final = 100
# Bounds of the flags.
MAX_VIEWERS: Final = 100_000
MAX_VIEWS_PER_VIEWER: Final = 1_000
MAX_CONCURRENCY: Final = 64
MAX_CATALOG_PAGES: Final = 50
# Attempts of a call here, over the channel's own retries: the users service's
# CreateAccount and Login are not retry-safe for the channel (a repeated
# CreateAccount answers ALREADY_EXISTS, which is handled here).
ATTEMPTS: Final = 3
RETRY_BACKOFF_SECONDS: Final = 0.2
_RETRYABLE: Final = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Viewer:
    """A synthetic viewer: who it is, before any call."""

    number: int
    email: str
    country: str
    language: str


@dataclass(frozen=True)
class PoolTitle:
    """A title a viewer may watch, as the plan needs it."""

    title_id: str
    genres: tuple[str, ...]
    maturity_rating: str
    # The title's length, or 0 for a show (whose episodes vary).
    duration_seconds: int


@dataclass(frozen=True)
class Pool:
    """The titles of one (country, maturity limit), newest first, and by genre."""

    titles: tuple[PoolTitle, ...]

    def by_genre(self) -> dict[str, list[PoolTitle]]:
        genres: dict[str, list[PoolTitle]] = {}
        for title in self.titles:
            for genre in title.genres:
                genres.setdefault(genre, []).append(title)
        return dict(sorted(genres.items()))


@dataclass(frozen=True)
class PlannedView:
    number: int
    view_id: str
    title: PoolTitle
    # The genre the view was drawn for (the viewer's taste at work).
    genre: str
    watch_time: datetime
    position_seconds: int
    duration_seconds: int
    device_type: str


def viewer(seed: int, number: int) -> Viewer:
    """Viewer ``number`` of ``seed``."""
    rng = random.Random(f"streammesh-seed-views:{seed}:{number}:identity")
    country, _, language = rng.choices(COUNTRIES, weights=[w for _, w, _ in COUNTRIES])[0]
    return Viewer(number, f"viewer-{number}-{seed}@{EMAIL_DOMAIN}", country, language)


def view_id(seed: int, number: int, index: int) -> str:
    return str(uuid.uuid5(VIEW_NAMESPACE, f"{seed}:{number}:{index}"))


def taste(rng: random.Random, genres: Sequence[str]) -> dict[str, float]:
    """A Dirichlet draw over ``genres`` of total concentration TASTE_CONCENTRATION."""
    if not genres:
        return {}
    alpha = TASTE_CONCENTRATION / len(genres)
    weights = [rng.gammavariate(alpha, 1.0) for _ in genres]
    total = sum(weights)
    if total <= 0:  # every draw underflowed: one genre takes it all
        weights = [1.0 if i == rng.randrange(len(genres)) else 0.0 for i in range(len(genres))]
        total = 1.0
    return {genre: weight / total for genre, weight in zip(genres, weights, strict=True)}


def plan(seed: int, number: int, pool: Pool, views: int, now: datetime) -> list[PlannedView]:
    """The views of viewer ``number``: the same for the same seed, pool and day."""
    rng = random.Random(f"streammesh-seed-views:{seed}:{number}:views")
    by_genre = pool.by_genre()
    if not by_genre:
        return []
    genres = list(by_genre)
    tastes = taste(rng, genres)
    weights = [tastes[g] for g in genres]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    seen: set[str] = set()
    planned: list[PlannedView] = []
    for index in range(views):
        genre = rng.choices(genres, weights=weights)[0]
        # A title of that genre not watched yet; else any not watched yet; else
        # (a pool smaller than the plan) a rewatch.
        title = (
            _pick(rng, by_genre[genre], seen)
            or _pick(rng, pool.titles, seen)
            or _pick(rng, pool.titles, set())
        )
        assert title is not None  # the pool is not empty
        seen.add(title.title_id)
        duration = title.duration_seconds or 60 * rng.choice(EPISODE_MINUTES)
        if rng.random() < FINISHED_SHARE:
            position = min(duration, math.ceil(duration * rng.uniform(0.95, 1.0)))
        else:
            position = int(duration * rng.uniform(0.05, 0.9))
        if rng.random() < TODAY_SHARE:
            moment = midnight + (now - midnight) * rng.random()
        else:
            moment = (
                midnight
                - timedelta(days=rng.randrange(1, DAYS))
                + timedelta(seconds=rng.uniform(0, 86_399))
            )
        planned.append(
            PlannedView(
                number=index,
                view_id=view_id(seed, number, index),
                title=title,
                genre=genre if genre in title.genres else title.genres[0],
                watch_time=moment.replace(microsecond=moment.microsecond // 1000 * 1000),
                position_seconds=position,
                duration_seconds=duration,
                device_type=rng.choice(DEVICES),
            )
        )
    return planned


def _pick(rng: random.Random, titles: Sequence[PoolTitle], seen: set[str]) -> PoolTitle | None:
    """A title not in ``seen``, the newest more often; None when there is none."""
    fresh = [t for t in titles if t.title_id not in seen]
    if not fresh:
        return None
    weights = [1.0 / (rank + 1) ** POPULARITY_EXPONENT for rank in range(len(fresh))]
    return rng.choices(fresh, weights=weights)[0]


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    viewers: int = 50
    views_per_viewer: int = 20
    seed: int = 1
    concurrency: int = 8
    users_addr: str = ""
    catalog_addr: str = ""
    history_addr: str = ""
    timeout_seconds: float = 10.0
    catalog_pages: int = 3
    write_truth: Path | None = None


@dataclass
class Report:
    viewers: int = 0
    accounts_created: int = 0
    views_recorded: int = 0
    views_already_there: int = 0
    views_refused: int = 0
    retries: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    error: str = ""
    truth: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        state = "interrupted" if self.interrupted else ("failed" if self.error else "done")
        return (
            f"seed-views {state}: {self.viewers} viewers ({self.accounts_created} accounts "
            f"created), {self.views_recorded} views recorded, {self.views_already_there} "
            f"already there, {self.views_refused} refused, {self.retries} retries, "
            f"{self.seconds:.1f}s"
        )


class SeedError(RuntimeError):
    """The run cannot go on; the message says which call failed and why."""


@dataclass(frozen=True)
class SignedIn:
    viewer: Viewer
    account_id: str
    country: str
    caller: tuple[tuple[str, str], ...]
    profile_id: str
    limit: str


class Seeder:
    def __init__(
        self,
        options: Options,
        users: users_pb2_grpc.UserServiceStub,
        catalog: catalog_pb2_grpc.CatalogServiceStub,
        history: history_pb2_grpc.HistoryServiceStub,
        *,
        stop: asyncio.Event,
        on_view: Callable[[], None] = lambda: None,
        on_viewer: Callable[[], None] = lambda: None,
    ) -> None:
        self._options = options
        self._users = users
        self._catalog = catalog
        self._history = history
        self._stop = stop
        self._on_view = on_view
        self._on_viewer = on_viewer
        self._pools: dict[tuple[str, str], asyncio.Task[Pool]] = {}
        self._now = datetime.now(UTC)
        self._jitter = random.Random()  # backoff only: not part of the plan
        self.report = Report()

    async def run(self) -> Report:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(1, self._options.viewers + 1):
            queue.put_nowait(number)

        async def work() -> None:
            while not self._stop.is_set():
                try:
                    number = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self._viewer(viewer(self._options.seed, number))

        workers = [
            asyncio.create_task(work())
            for _ in range(min(self._options.concurrency, self._options.viewers))
        ]
        try:
            await asyncio.gather(*workers)
        except SeedError as err:
            self.report.error = str(err)
            self._stop.set()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for pool in self._pools.values():
                pool.cancel()
            await asyncio.gather(*self._pools.values(), return_exceptions=True)
        self.report.truth.sort(key=lambda row: (row["viewer"], row["n"]))
        return self.report

    # ------------------------------------------------------------ one viewer
    async def _viewer(self, who: Viewer) -> None:
        signed = await self._sign_in(who)
        if self._stop.is_set():
            return
        pool = await self._pool(signed.country, signed.limit)
        planned = plan(
            self._options.seed, who.number, pool, self._options.views_per_viewer, self._now
        )
        wanted = {p.view_id for p in planned}
        there = await self._recorded(signed, wanted)
        async with self._watching(signed, wanted - set(there)) as keep_alive:
            for view in planned:
                if self._stop.is_set():
                    return
                await self._view(signed, view, there, keep_alive)
        # Views the plan could not fill (a pool smaller than asked) still count as handled.
        for _ in range(self._options.views_per_viewer - len(planned)):
            self._on_view()
        self.report.viewers += 1
        self._on_viewer()

    async def _view(
        self,
        signed: SignedIn,
        view: PlannedView,
        there: dict[str, history_pb2.View],
        keep_alive: Callable[[], Awaitable[None]],
    ) -> None:
        stored = there.get(view.view_id)
        new = False
        if stored is None:
            await keep_alive()
            stored = await self._record(signed, view)
            if stored is None:
                self.report.views_refused += 1
                self._on_view()
                return
            new = _same(stored, view)
        if new:
            self.report.views_recorded += 1
        else:
            self.report.views_already_there += 1
        self.report.truth.append(truth_row(signed, view, stored, new=new))
        self._on_view()

    @contextlib.asynccontextmanager
    async def _watching(
        self, signed: SignedIn, to_record: set[str]
    ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """A stream slot of the viewer's device session while its views are recorded
        (the history records a view only from a device that is playing), and a
        function that heartbeats it when half its interval has passed; stopped
        after. Nothing is taken when nothing is to be recorded."""

        async def nothing() -> None:
            return None

        if not to_record:
            yield nothing
            return
        playback = await self._call(
            "users StartPlayback",
            lambda timeout: self._users.StartPlayback(
                users_pb2.StartPlaybackRequest(profile_id=signed.profile_id),
                metadata=signed.caller,
                timeout=timeout,
            ),
        )
        interval = max(1.0, playback.heartbeat_interval_seconds / 2)
        beaten = time.monotonic()

        async def keep_alive() -> None:
            nonlocal beaten
            if time.monotonic() - beaten < interval:
                return
            await self._call(
                "users HeartbeatPlayback",
                lambda timeout: self._users.HeartbeatPlayback(
                    users_pb2.HeartbeatPlaybackRequest(playback_id=playback.playback_id),
                    metadata=signed.caller,
                    timeout=timeout,
                ),
            )
            beaten = time.monotonic()

        try:
            yield keep_alive
        finally:
            with contextlib.suppress(grpc.aio.AioRpcError, SeedError):
                # The slot would lapse anyway: a stop that fails only frees it later.
                await self._call(
                    "users StopPlayback",
                    lambda timeout: self._users.StopPlayback(
                        users_pb2.StopPlaybackRequest(playback_id=playback.playback_id),
                        metadata=signed.caller,
                        timeout=timeout,
                    ),
                )

    async def _sign_in(self, who: Viewer) -> SignedIn:
        created: users_pb2.Account | None = None
        try:
            created = await self._call(
                "users CreateAccount",
                lambda timeout: self._users.CreateAccount(
                    users_pb2.CreateAccountRequest(
                        email=who.email,
                        password=DEMO_PASSWORD,
                        first_name="Viewer",
                        last_name=str(who.number),
                        country_code=who.country,
                        language_code=who.language,
                    ),
                    timeout=timeout,
                ),
                tolerate=(grpc.StatusCode.ALREADY_EXISTS,),
            )
        except _Tolerated:
            created = None  # a previous run's (or a retried attempt's) account
        else:
            self.report.accounts_created += 1
        login = await self._call(
            "users Login",
            lambda timeout: self._users.Login(
                users_pb2.LoginRequest(email=who.email, password=DEMO_PASSWORD), timeout=timeout
            ),
        )
        caller = (("authorization", f"Bearer {login.access_token}"),)
        country = created.country_code if created is not None else ""
        if not country:
            account = await self._call(
                "users GetAccount",
                lambda timeout: self._users.GetAccount(
                    users_pb2.GetAccountRequest(account_id=login.account_id),
                    metadata=caller,
                    timeout=timeout,
                ),
            )
            country = account.country_code
        profiles = await self._call(
            "users ListProfiles",
            lambda timeout: self._users.ListProfiles(
                users_pb2.ListProfilesRequest(account_id=login.account_id),
                metadata=caller,
                timeout=timeout,
            ),
        )
        if not profiles.profiles:
            raise SeedError(f"account {who.email} has no profile")
        primary = min(profiles.profiles, key=lambda p: int(p.profile_id))
        return SignedIn(who, login.account_id, country, caller, primary.profile_id, _limit(primary))

    async def _pool(self, country: str, limit: str) -> Pool:
        key = (country, limit)
        task = self._pools.get(key)
        if task is None:
            task = asyncio.create_task(self._read_pool(country, limit))
            self._pools[key] = task
        return await asyncio.shield(task)

    async def _read_pool(self, country: str, limit: str) -> Pool:
        titles: list[PoolTitle] = []
        token = ""
        for _ in range(self._options.catalog_pages):
            request = catalog_pb2.ListTitlesRequest(
                country=country, max_maturity=limit, page_size=CATALOG_PAGE_SIZE, page_token=token
            )
            page = await self._call(
                "catalog ListTitles",
                functools.partial(self._catalog.ListTitles, request),
            )
            titles.extend(_pool_title(t) for t in page.titles if t.genres)
            token = page.next_page_token
            if not token:
                break
        return Pool(tuple(titles))

    async def _recorded(self, signed: SignedIn, wanted: set[str]) -> dict[str, history_pb2.View]:
        """The planned views a previous run recorded (ListHistory, newest first, until
        all are found or the history ends; pages bounded by what the plan could fill)."""
        found: dict[str, history_pb2.View] = {}
        token = ""
        pages = 0
        # Generous: the profile may hold views other than the plan's.
        max_pages = 10 * math.ceil(max(len(wanted), 1) / HISTORY_PAGE_SIZE)
        while len(found) < len(wanted) and pages < max_pages and not self._stop.is_set():
            request = history_pb2.ListHistoryRequest(
                profile_id=signed.profile_id, page_size=HISTORY_PAGE_SIZE, page_token=token
            )
            page = await self._call(
                "history ListHistory",
                functools.partial(self._history.ListHistory, request, metadata=signed.caller),
            )
            pages += 1
            found.update((v.view_id, v) for v in page.views if v.view_id in wanted)
            token = page.next_page_token
            if not token:
                break
        return found

    async def _record(self, signed: SignedIn, view: PlannedView) -> history_pb2.View | None:
        """The view as the history stores it; None when the history refuses the title
        (gone from the catalog, or re-rated above the profile's limit since the pool
        was read)."""
        message = history_pb2.View(
            view_id=view.view_id,
            title_id=view.title.title_id,
            position_seconds=view.position_seconds,
            duration_seconds=view.duration_seconds,
            device_type=view.device_type,
        )
        message.watch_time.FromDatetime(view.watch_time.replace(tzinfo=None))
        request = history_pb2.RecordViewRequest(profile_id=signed.profile_id, view=message)
        try:
            return await self._call(
                "history RecordView",
                lambda timeout: self._history.RecordView(
                    request, metadata=signed.caller, timeout=timeout
                ),
                tolerate=(grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED),
            )
        except _Tolerated:
            return None

    # ------------------------------------------------------------ calls
    async def _call(
        self,
        what: str,
        call: Callable[..., Awaitable[T]],
        *,
        tolerate: Sequence[grpc.StatusCode] = (),
    ) -> T:
        """``call(timeout=...)``, attempted up to ATTEMPTS times on UNAVAILABLE or
        DEADLINE_EXCEEDED; a ``tolerate``d code raises _Tolerated, any other
        failure ends the run (SeedError)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await call(timeout=self._options.timeout_seconds)
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code in tolerate:
                    raise _Tolerated(code) from err
                if code not in _RETRYABLE or attempt == ATTEMPTS or self._stop.is_set():
                    raise SeedError(f"{what} failed: {code.name}: {err.details()}") from err
            self.report.retries += 1
            backoff = RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
            await asyncio.sleep(self._jitter.uniform(0, backoff))
        raise AssertionError("unreachable")


class _Tolerated(Exception):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self.code = code


def _limit(profile: users_pb2.Profile) -> str:
    """The profile's maturity limit; its kind's default when it has none (fail closed)."""
    if ratings.is_known(profile.maturity_rating):
        return str(profile.maturity_rating)
    return ratings.KIDS_LIMIT if profile.kids_profile else ratings.DEFAULT_LIMIT


def _pool_title(title: catalog_pb2.Title) -> PoolTitle:
    minutes = title.duration_minutes if title.WhichOneof("length") == "duration_minutes" else 0
    return PoolTitle(
        title_id=title.title_id,
        genres=tuple(title.genres),
        maturity_rating=title.maturity_rating,
        duration_seconds=60 * minutes,
    )


def _same(stored: history_pb2.View, view: PlannedView) -> bool:
    """Whether the history stored what was sent (False: the id was recorded before)."""
    return (
        stored.title_id == view.title.title_id
        and stored.position_seconds == view.position_seconds
        and stored.watch_time.ToMilliseconds() == _epoch_ms(view.watch_time)
    )


def _epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def truth_row(
    signed: SignedIn, view: PlannedView, stored: history_pb2.View, *, new: bool
) -> dict[str, Any]:
    """One line of ``--write-truth``: the view as stored, who watched it and why.

    ``watch_seconds`` is what the view adds to a title's watch time in
    trending: the position, at most the duration when known. ``genre`` is
    the genre of the viewer's taste the view was drawn for; ``new`` says
    whether this run recorded it (False: a previous run did).
    """
    watch_time = stored.watch_time.ToDatetime(tzinfo=UTC)
    duration = stored.duration_seconds
    watched = min(stored.position_seconds, duration) if duration > 0 else stored.position_seconds
    return {
        "view_id": stored.view_id,
        "viewer": signed.viewer.number,
        "n": view.number,
        "email": signed.viewer.email,
        "account_id": signed.account_id,
        "profile_id": stored.profile_id or signed.profile_id,
        "title_id": stored.title_id,
        "genre": view.genre if stored.title_id == view.title.title_id else "",
        "maturity_rating": (
            view.title.maturity_rating if stored.title_id == view.title.title_id else ""
        ),
        "country_code": stored.country_code,
        "watch_time": watch_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "day": watch_time.date().isoformat(),
        "position_seconds": stored.position_seconds,
        "duration_seconds": duration,
        "watch_seconds": watched,
        "completed": stored.completed,
        "device_type": stored.device_type,
        "new": new,
    }


# ---------------------------------------------------------------- the command


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 300, not {value}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "seed-views",
        help="record demo viewing history for synthetic viewers, through the mesh's API",
        description=(
            "Creates (or signs in) synthetic viewers and records their views through the "
            "users, catalog and history services. Deterministic for a --seed, and "
            "idempotent: a second run with the same seed records nothing new."
        ),
    )
    parser.add_argument(
        "--viewers", type=_bounded(1, MAX_VIEWERS), default=50, help="viewers (default 50)"
    )
    parser.add_argument("--views-per-viewer", type=_bounded(1, MAX_VIEWS_PER_VIEWER), default=20)
    parser.add_argument(
        "--seed",
        type=_bounded(0, 2**31 - 1),
        default=1,
        help="the plan's seed: same seed, same viewers and views (default 1)",
    )
    parser.add_argument(
        "--concurrency",
        type=_bounded(1, MAX_CONCURRENCY),
        default=8,
        help="viewers worked on at once (default 8)",
    )
    for name in ("users", "catalog", "history"):
        parser.add_argument(
            f"--{name}-addr",
            default=registry.service(name).address(),
            help=f"the {name} service (default: {registry.service(name).addr_env} or loopback)",
        )
    parser.add_argument(
        "--timeout", type=_seconds, default=10.0, help="deadline of each call, seconds"
    )
    parser.add_argument(
        "--catalog-pages",
        type=_bounded(1, MAX_CATALOG_PAGES),
        default=3,
        help=f"pages of {CATALOG_PAGE_SIZE} titles read per country and maturity limit",
    )
    parser.add_argument(
        "--write-truth", type=Path, help="write the plan's views, as stored, as JSON lines"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = Options(
        viewers=args.viewers,
        views_per_viewer=args.views_per_viewer,
        seed=args.seed,
        concurrency=args.concurrency,
        users_addr=args.users_addr,
        catalog_addr=args.catalog_addr,
        history_addr=args.history_addr,
        timeout_seconds=args.timeout,
        catalog_pages=args.catalog_pages,
        write_truth=args.write_truth,
    )
    report = asyncio.run(seed(options))
    if report.error:
        Console(stderr=True).print(f"[red]seed-views failed:[/] {report.error}", soft_wrap=True)
    print(report.line(), flush=True)
    if report.error:
        return 1
    return 130 if report.interrupted else 0


async def seed(options: Options, console: Console | None = None) -> Report:
    """Runs the seeding with a progress bar; Ctrl-C (SIGINT) or SIGTERM stops it cleanly."""
    console = console or Console(stderr=True)
    started = time.monotonic()
    retries_before = _chain_retries()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = ServerConfig(service="seed-views")
    channels = [
        clients.channel(address, config)
        for address in (options.users_addr, options.catalog_addr, options.history_addr)
    ]
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            viewers = progress.add_task("viewers", total=options.viewers)
            views = progress.add_task("views", total=options.viewers * options.views_per_viewer)
            seeder = Seeder(
                options,
                users_pb2_grpc.UserServiceStub(channels[0]),
                catalog_pb2_grpc.CatalogServiceStub(channels[1]),
                history_pb2_grpc.HistoryServiceStub(channels[2]),
                stop=stop,
                on_view=lambda: progress.advance(views),
                on_viewer=lambda: progress.advance(viewers),
            )
            report = await seeder.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for channel in channels:
            await channel.close()
    report.interrupted = stop.is_set() and not report.error
    report.retries += _chain_retries() - retries_before
    report.seconds = time.monotonic() - started
    if options.write_truth is not None:
        write_truth(options.write_truth, report.truth)
    return report


def write_truth(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")


def _chain_retries() -> int:
    """Retries the channels' retry layer made in this process (grpc_client_attempts_total)."""
    total = 0.0
    with contextlib.suppress(Exception):  # a metric's shape is not worth failing a run over
        for metric in chain_retry.ATTEMPTS.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels.get("retry") == "true":
                    total += sample.value
    return int(total)
