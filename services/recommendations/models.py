"""The three recommendation models, how they are blended, filtered and explained.

Pure and synchronous (numpy, scipy sparse, scikit-learn): the engine runs
them on the event loop between awaits (services/recommendations/engine.py),
so scoring is kept cheap: the co-occurrence rows, each title's total weight
and the popularity are also kept as arrays over catalog positions, updated
with each view, and a profile is scored with numpy over the rows of the
titles it watched (tens of milliseconds on the full catalog) rather than
Python loops over every neighbour. Nothing here does I/O.

- **Co-occurrence** (item to item, from viewing history): every profile adds,
  for each pair of titles it watched, the product of the two views' weights,
  where a view's weight grows with its completion
  (:func:`completion_weight`: a finished view counts 1, a view abandoned at
  the start 0.25). The similarity of two titles is their co-occurrence
  divided by the geometric mean of their total weights (a cosine), so a title
  everybody watches is not "like" everything.
- **Content** (TF-IDF): one document per title made of its genres, cast,
  directors and countries as whole tokens (``genre:dramas``) and its
  description's words; scikit-learn's ``TfidfVectorizer`` with sublinear term
  frequencies and L2-normalised rows, so a dot product is a cosine.
- **Popularity** per country: the summed view weights of each title among
  views recorded in that country, plus a tenth of its weight everywhere (so a
  country with few views still ranks something); a new profile's fallback.

**Blend.** Each source's scores are divided by their maximum over the
candidates (each source's best is 1), then mixed with weights set by how
much history the profile has: with ``n`` distinct titles watched, the
personal share is ``n / (n + history_half_weight)`` (half at 3 titles by
default), split between co-occurrence and content (``co_share``), and
popularity keeps the rest. A profile with no history gets popularity only.

**Filtering**, before ranking, on every path: a title above the profile's
maturity limit (services/ratings.py, unknown ratings fail closed), a title
not available in the account's country (an empty country list means
everywhere), and every title the profile already watched (finished ones are
done; started ones are in "Continue watching") are never candidates.

**Explanations.** Each item names the source that gave it the largest share
of its blended score: co-occurrence -> "Because you watched <title>" (the
watched title that contributed most), content -> "More like <genre>" (the
item's genre the profile watched most), popularity -> "Popular in <country>".
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
    ENGLISH_STOP_WORDS,
    TfidfVectorizer,
)

from services import ratings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BECAUSE_YOU_WATCHED: Final = "because_you_watched"
POPULAR_IN_COUNTRY: Final = "popular_in_country"
MORE_LIKE_GENRE: Final = "more_like_genre"
SOURCES: Final = (BECAUSE_YOU_WATCHED, MORE_LIKE_GENRE, POPULAR_IN_COUNTRY)
# A view's weight at completion 0 (started) and 1 (finished).
MIN_VIEW_WEIGHT: Final = 0.25
# Popularity: share of a title's weight everywhere added to its country's.
GLOBAL_POPULARITY_SHARE: Final = 0.1
_WORD: Final = re.compile(r"[a-z][a-z']{2,}")


def completion_weight(completion: float) -> float:
    """How much a view says about taste: 0.25 when just started, 1 when finished."""
    return MIN_VIEW_WEIGHT + (1.0 - MIN_VIEW_WEIGHT) * min(max(completion, 0.0), 1.0)


@dataclass(frozen=True)
class CatalogTitle:
    """What the models need of a catalog title."""

    title_id: str
    title: str
    genres: tuple[str, ...] = ()
    maturity_rating: str = ""
    country_codes: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Interaction:
    """What a profile did with a title: its furthest completion and latest view."""

    profile_id: str
    title_id: str
    # Share of the title watched, 0..1 (the furthest position reached).
    completion: float
    watch_time_ms: int
    country_code: str

    @property
    def weight(self) -> float:
        return completion_weight(self.completion)


@dataclass(frozen=True)
class Context:
    """Who the list is for: the profile's maturity limit and its account's country."""

    max_maturity: str
    country_code: str


@dataclass(frozen=True)
class Scored:
    """One recommended title and why."""

    title_id: str
    score: float
    kind: str
    # The watched title behind "Because you watched"; empty otherwise.
    source_title_id: str = ""
    # The country or the genre the reason names.
    subject: str = ""
    reason: str = ""


@dataclass(frozen=True)
class BlendWeights:
    """How the sources are mixed (services/recommendations/config.py)."""

    # Distinct titles watched at which the personal models weigh half.
    history_half_weight: float = 3.0
    # The co-occurrence share of the personal weight (content has the rest).
    co_share: float = 0.5

    def of(self, history_size: int) -> dict[str, float]:
        personal = history_size / (history_size + self.history_half_weight)
        return {
            BECAUSE_YOU_WATCHED: personal * self.co_share,
            MORE_LIKE_GENRE: personal * (1.0 - self.co_share),
            POPULAR_IN_COUNTRY: 1.0 - personal,
        }


def _document(title: CatalogTitle) -> list[str]:
    tokens = [f"genre:{g.lower()}" for g in title.genres]
    tokens += [f"cast:{c.lower()}" for c in title.cast]
    tokens += [f"director:{d.lower()}" for d in title.directors]
    tokens += [f"country:{c}" for c in title.country_codes]
    tokens += [
        word for word in _WORD.findall(title.description.lower()) if word not in ENGLISH_STOP_WORDS
    ]
    return tokens


class CatalogIndex:
    """The catalog as arrays: positions, ratings, availability, and the TF-IDF matrix."""

    def __init__(self, titles: Sequence[CatalogTitle]) -> None:
        self.titles = list(titles)
        self.position = {t.title_id: i for i, t in enumerate(self.titles)}
        self.size = len(self.titles)
        self._rating_rank = np.array(
            [ratings.rank(t.maturity_rating) for t in self.titles], dtype=np.int64
        )
        self._everywhere = np.array([not t.country_codes for t in self.titles], dtype=bool)
        by_country: dict[str, list[int]] = defaultdict(list)
        for i, title in enumerate(self.titles):
            for country in title.country_codes:
                by_country[country].append(i)
        self._by_country = {c: np.array(p, dtype=np.int64) for c, p in by_country.items()}
        self.tfidf: sparse.csr_matrix = _tfidf(self.titles)

    def allowed(self, context: Context) -> npt.NDArray[np.bool_]:
        """Titles within the limit and available in the country."""
        if not ratings.is_known(context.max_maturity):
            raise ValueError(f"unknown maturity limit {context.max_maturity!r}")
        mask = self._everywhere.copy()
        there = self._by_country.get(context.country_code)
        if there is not None:
            mask[there] = True
        return mask & (self._rating_rank <= ratings.rank(context.max_maturity))

    def title(self, title_id: str) -> CatalogTitle | None:
        position = self.position.get(title_id)
        return None if position is None else self.titles[position]


def _tfidf(titles: Sequence[CatalogTitle]) -> sparse.csr_matrix:
    if not titles:
        return sparse.csr_matrix((0, 0))
    vectorizer = TfidfVectorizer(analyzer=_document, sublinear_tf=True, min_df=2)
    try:
        matrix = vectorizer.fit_transform(titles)
    except ValueError:  # no token appears twice (a tiny catalog)
        matrix = TfidfVectorizer(analyzer=_document, sublinear_tf=True).fit_transform(titles)
    return sparse.csr_matrix(matrix)


@dataclass
class CoOccurrence:
    """Completion-weighted co-occurrence of titles over profiles, kept incrementally."""

    pairs: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    mass: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, items: Mapping[str, float], sign: float = 1.0) -> None:
        """Adds (or with ``sign`` -1 removes) one profile's weighted titles."""
        ids = list(items)
        for a in ids:
            wa = items[a]
            self.mass[a] += sign * wa
            row = self.pairs[a]
            for b in ids:
                if b != a:
                    row[b] = row.get(b, 0.0) + sign * wa * items[b]

    def replace(self, before: Mapping[str, float], after: Mapping[str, float]) -> None:
        """One profile's titles changed from ``before`` to ``after``."""
        self.add(before, -1.0)
        self.add(after)

    def similarity(self, a: str, b: str) -> float:
        together = self.pairs.get(a, {}).get(b, 0.0)
        if together <= 0:
            return 0.0
        return together / math.sqrt(self.mass[a] * self.mass[b])

    def neighbours(self, a: str) -> Iterable[tuple[str, float]]:
        mass_a = self.mass.get(a, 0.0)
        if mass_a <= 0:
            return
        for b, together in self.pairs.get(a, {}).items():
            if together > 1e-12:
                yield b, together / math.sqrt(mass_a * self.mass[b])


@dataclass
class Popularity:
    """Summed view weights per country and everywhere."""

    by_country: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    everywhere: dict[str, float] = field(default_factory=dict)

    def add(self, interaction: Interaction, weight: float) -> None:
        row = self.by_country[interaction.country_code]
        row[interaction.title_id] = row.get(interaction.title_id, 0.0) + weight
        self.everywhere[interaction.title_id] = (
            self.everywhere.get(interaction.title_id, 0.0) + weight
        )


def profile_items(interactions: Iterable[Interaction]) -> dict[str, float]:
    return {i.title_id: i.weight for i in interactions}


class _Neighbours:
    """One title's co-occurrence row as arrays (catalog positions, summed weights),
    updated in place, so scoring a profile is numpy over its titles' rows instead
    of a Python loop over every neighbour of every title it watched."""

    __slots__ = ("positions", "size", "slots", "together")

    def __init__(self) -> None:
        self.slots: dict[int, int] = {}
        self.positions: IntArray = np.empty(8, dtype=np.int64)
        self.together: FloatArray = np.empty(8)
        self.size = 0

    def set(self, position: int, together: float) -> None:
        slot = self.slots.get(position)
        if slot is None:
            if self.size == len(self.positions):
                self.positions = np.concatenate([self.positions, np.empty_like(self.positions)])
                self.together = np.concatenate([self.together, np.empty_like(self.together)])
            slot = self.slots[position] = self.size
            self.positions[slot] = position
            self.size += 1
        self.together[slot] = together

    def arrays(self) -> tuple[IntArray, FloatArray]:
        """The neighbours with a positive co-occurrence (removals leave zeros)."""
        positions, together = self.positions[: self.size], self.together[: self.size]
        keep = together > 1e-12
        return positions[keep], together[keep]


class Recommender:
    """The trained models over one catalog; updated one view at a time."""

    def __init__(self, catalog: CatalogIndex, weights: BlendWeights | None = None) -> None:
        self.catalog = catalog
        self.weights = weights or BlendWeights()
        self.co = CoOccurrence()
        self.popularity = Popularity()
        self._profiles: dict[str, dict[str, Interaction]] = {}
        # The same figures as arrays over catalog positions, kept in step by
        # observe(): each title's co-occurrence row and total weight, and the
        # popularity per country and everywhere.
        self._neighbours: dict[str, _Neighbours] = {}
        self._mass = np.zeros(catalog.size)
        self._popular_in: dict[str, FloatArray] = {}
        self._popular_everywhere = np.zeros(catalog.size)

    # ------------------------------------------------------------ training
    def fit(self, interactions: Iterable[Interaction]) -> None:
        """Learns from every interaction (one per profile and title)."""
        for interaction in interactions:
            self.observe(interaction)

    def observe(self, interaction: Interaction) -> None:
        """Learns one interaction (a new title, or a further completion of one)."""
        items = self._profiles.setdefault(interaction.profile_id, {})
        before = profile_items(items.values())
        previous = items.get(interaction.title_id)
        if previous is not None and previous.completion >= interaction.completion:
            return
        items[interaction.title_id] = interaction
        after = profile_items(items.values())
        self.co.replace(before, after)
        extra = interaction.weight - (previous.weight if previous is not None else 0.0)
        self.popularity.add(interaction, extra)
        self._arrays_after(after, interaction, extra)

    def _arrays_after(
        self, items: Mapping[str, float], interaction: Interaction, extra: float
    ) -> None:
        """Copies what one profile's change altered into the arrays: the rows and
        totals of the profile's titles (every pair among them changed), and the
        viewed title's popularity."""
        position = self.catalog.position
        placed = [(title_id, position.get(title_id)) for title_id in items]
        for a, ia in placed:
            if ia is not None:
                self._mass[ia] = self.co.mass[a]
            row = self.co.pairs[a]
            neighbours = self._neighbours.setdefault(a, _Neighbours())
            for b, ib in placed:
                if ib is not None and b != a:
                    neighbours.set(ib, row.get(b, 0.0))
        i = position.get(interaction.title_id)
        if i is not None:
            country = self._popular_in.get(interaction.country_code)
            if country is None:
                country = self._popular_in[interaction.country_code] = np.zeros(self.catalog.size)
            country[i] += extra
            self._popular_everywhere[i] += extra

    def history(self, profile_id: str) -> list[Interaction]:
        return list(self._profiles.get(profile_id, {}).values())

    def forget(self, profile_id: str) -> None:
        """Drops the profile's own history (an account deletion). The aggregate
        co-occurrence and popularity keep its anonymous share until the next
        training, as the analytics keep counts without identity."""
        self._profiles.pop(profile_id, None)

    @property
    def profile_ids(self) -> list[str]:
        return list(self._profiles)

    # ------------------------------------------------------------ sources
    def co_scores(self, items: Mapping[str, float]) -> tuple[FloatArray, list[str]]:
        """Each title's co-occurrence score for the profile, and its best anchor."""
        scores = np.zeros(self.catalog.size)
        best = np.zeros(self.catalog.size)
        anchor = np.full(self.catalog.size, -1, dtype=np.int64)
        watched = list(items)
        for k, a in enumerate(watched):
            mass_a = self.co.mass.get(a, 0.0)
            neighbours = self._neighbours.get(a)
            if mass_a <= 0 or neighbours is None:
                continue
            positions, together = neighbours.arrays()
            # The cosine of CoOccurrence.similarity, for the whole row at once.
            contribution = items[a] * (together / np.sqrt(mass_a * self._mass[positions]))
            scores[positions] += contribution  # a row's positions are distinct
            better = contribution > best[positions]
            best[positions[better]] = contribution[better]
            anchor[positions[better]] = k
        anchors = [watched[k] if k >= 0 else "" for k in anchor.tolist()]
        return scores, anchors

    def content_scores(self, items: Mapping[str, float]) -> FloatArray:
        rows = [self.catalog.position[t] for t in items if t in self.catalog.position]
        if not rows or self.catalog.tfidf.shape[1] == 0:
            return np.zeros(self.catalog.size)
        weights = np.array([items[self.catalog.titles[r].title_id] for r in rows])
        profile = sparse.csr_matrix(weights) @ self.catalog.tfidf[rows]
        # A dense profile vector: one sparse matrix-vector product over the catalog.
        return np.asarray(self.catalog.tfidf @ profile.toarray().ravel(), dtype=np.float64)

    def popularity_scores(self, country: str) -> FloatArray:
        scores = np.zeros(self.catalog.size)
        there = self._popular_in.get(country)
        if there is not None:
            scores += there
        scores += GLOBAL_POPULARITY_SHARE * self._popular_everywhere
        return scores

    # ------------------------------------------------------------ ranking
    def recommend(
        self,
        history: Sequence[Interaction],
        context: Context,
        limit: int,
        *,
        only: str = "",
    ) -> list[Scored]:
        """The best ``limit`` titles for a profile with ``history``, filtered and explained.

        ``only`` names one source to rank by alone (the offline evaluation).
        """
        items = profile_items(history)
        mask = self.catalog.allowed(context)
        for title_id in items:
            i = self.catalog.position.get(title_id)
            if i is not None:
                mask[i] = False
        weights = self.weights.of(len(items))
        if only:
            weights = {source: float(source == only) for source in SOURCES}
        co, anchors = self.co_scores(items) if weights[BECAUSE_YOU_WATCHED] else (None, [])
        parts: dict[str, FloatArray] = {}
        if co is not None:
            parts[BECAUSE_YOU_WATCHED] = co
        if weights[MORE_LIKE_GENRE]:
            parts[MORE_LIKE_GENRE] = self.content_scores(items)
        if weights[POPULAR_IN_COUNTRY]:
            parts[POPULAR_IN_COUNTRY] = self.popularity_scores(context.country_code)
        contributions: dict[str, FloatArray] = {}
        for source, scores in parts.items():
            top = float(scores[mask].max()) if mask.any() else 0.0
            if top > 0:
                contributions[source] = weights[source] * scores / top
        total = np.zeros(self.catalog.size)
        for values in contributions.values():
            total += values
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        # Ties (a catalog the models know nothing about) go to catalog order.
        order = candidates[np.argsort(-total[candidates], kind="stable")][:limit]
        genres = _genre_weights(self.catalog, items)
        return [
            self._explain(int(i), float(total[i]), contributions, anchors, genres, context)
            for i in order
        ]

    def _explain(
        self,
        i: int,
        score: float,
        contributions: Mapping[str, FloatArray],
        anchors: Sequence[str],
        genres: Mapping[str, float],
        context: Context,
    ) -> Scored:
        title = self.catalog.titles[i]
        kind = max(
            contributions, key=lambda source: contributions[source][i], default=POPULAR_IN_COUNTRY
        )
        if kind == POPULAR_IN_COUNTRY or contributions[kind][i] <= 0:
            kind = POPULAR_IN_COUNTRY
        if kind == BECAUSE_YOU_WATCHED and anchors[i]:
            anchor = self.catalog.title(anchors[i])
            name = anchor.title if anchor is not None else anchors[i]
            return Scored(
                title.title_id, score, kind, anchors[i], name, f"Because you watched {name}"
            )
        if kind == MORE_LIKE_GENRE and title.genres:
            genre = max(title.genres, key=lambda g: genres.get(g, 0.0))
            return Scored(title.title_id, score, kind, "", genre, f"More like {genre}")
        country = context.country_code or "your country"
        return Scored(
            title.title_id,
            score,
            POPULAR_IN_COUNTRY,
            "",
            context.country_code,
            f"Popular in {country}",
        )

    def similar(self, title_id: str, limit: int, context: Context | None = None) -> list[Scored]:
        """Titles most like ``title_id``: co-occurrence and content, half each, each
        scaled to its best; filtered by ``context`` when given."""
        i = self.catalog.position.get(title_id)
        if i is None:
            return []
        mask = (
            self.catalog.allowed(context)
            if context is not None
            else np.ones(self.catalog.size, dtype=bool)
        )
        mask[i] = False
        co, _ = self.co_scores({title_id: 1.0})
        content = self.content_scores({title_id: 1.0})
        total = np.zeros(self.catalog.size)
        for scores in (co, content):
            top = float(scores[mask].max()) if mask.any() else 0.0
            if top > 0:
                total += scores / top
        candidates = np.flatnonzero(mask & (total > 0))
        order = candidates[np.argsort(-total[candidates], kind="stable")][:limit]
        name = self.catalog.titles[i].title
        return [
            Scored(
                self.catalog.titles[j].title_id,
                float(total[j]),
                BECAUSE_YOU_WATCHED,
                title_id,
                name,
                f"Because you watched {name}",
            )
            for j in order
        ]


def _genre_weights(catalog: CatalogIndex, items: Mapping[str, float]) -> dict[str, float]:
    weights: dict[str, float] = defaultdict(float)
    for title_id, weight in items.items():
        title = catalog.title(title_id)
        if title is not None:
            for genre in title.genres:
                weights[genre] += weight
    return weights
