import { useEffect, useId, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import type { components } from "../api/schema";
import { ErrorMessage, Loading } from "../components";
import { useFocusOnMount, useLoad } from "../hooks";
import { go, href } from "../router";
import type { Profile } from "../session";

type Suggestion = components["schemas"]["v1Suggestion"];
type Facet = components["schemas"]["v1Facet"];

const SUGGESTION_DELAY_MS = 150;
const SUGGESTION_COUNT = 8;
const RESULTS_PER_PAGE = 24;
// Facets that narrow the search, by the facet's field, with the query parameter they set.
const FILTERS: Record<string, { label: string; param: string }> = {
  genre: { label: "Genre", param: "genre" },
  content_type: { label: "Type", param: "type" },
  decade: { label: "Decade", param: "decade" },
};

// Content types as the catalog spells them, in words.
const CONTENT_TYPES: Record<string, string> = { MOVIE: "Films", TV_SHOW: "TV shows" };

/** "1990s" to the release years it spans. */
function decadeYears(decade: string | null): { releaseYearMin?: number; releaseYearMax?: number } {
  const start = Number.parseInt(decade ?? "", 10);
  return Number.isFinite(start) ? { releaseYearMin: start, releaseYearMax: start + 9 } : {};
}

/** The search box: suggestions as you type, in an ARIA combobox. */
function SearchBox({ profile, initial }: { profile: Profile; initial: string }) {
  const [text, setText] = useState(initial);
  const [suggestions, setSuggestions] = useState<Suggestion[]>([]);
  const [active, setActive] = useState(-1);
  const [open, setOpen] = useState(false);
  const listId = useId();
  const input = useFocusOnMount<HTMLInputElement>();
  const typed = useRef(false);

  useEffect(() => setText(initial), [initial]);

  useEffect(() => {
    const prefix = text.trim();
    if (!typed.current || !prefix) {
      setSuggestions([]);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api
        .get("/v1/search/suggestions", {
          query: { prefix, pageSize: SUGGESTION_COUNT, profileId: profile.profileId },
          signal: controller.signal,
        })
        .then((reply) => {
          setSuggestions(reply.suggestions ?? []);
          setActive(-1);
          setOpen(true);
        })
        // Suggestions are a convenience: a failed one leaves the box as it is.
        .catch(() => setSuggestions([]));
    }, SUGGESTION_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text, profile.profileId]);

  const submit = (query: string) => {
    setOpen(false);
    if (query.trim()) go("search", { q: query.trim() });
  };
  const pick = (suggestion: Suggestion) => {
    setOpen(false);
    if (suggestion.titleId) go(`title/${suggestion.titleId}`);
    else submit(suggestion.text ?? "");
  };
  const showing = open && suggestions.length > 0;
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === "ArrowDown" && suggestions.length) {
      event.preventDefault();
      setOpen(true);
      setActive((index) => (index + 1) % suggestions.length);
    } else if (event.key === "ArrowUp" && suggestions.length) {
      event.preventDefault();
      setActive((index) => (index <= 0 ? suggestions.length - 1 : index - 1));
    } else if (event.key === "Escape" && showing) {
      // The first Escape closes the list; the next clears the box (the browser's own).
      event.preventDefault();
      setOpen(false);
    } else if (event.key === "Enter" && showing && active >= 0) {
      event.preventDefault();
      pick(suggestions[active]!);
    }
  };
  return (
    <form
      role="search"
      class="search-box"
      onSubmit={(event) => {
        event.preventDefault();
        submit(text);
      }}
    >
      <label for="search-input">Search titles, people and genres</label>
      <div class="combo">
        <input
          id="search-input"
          ref={input}
          type="search"
          role="combobox"
          autoComplete="off"
          aria-autocomplete="list"
          aria-expanded={showing}
          aria-controls={listId}
          aria-activedescendant={showing && active >= 0 ? `${listId}-${active}` : undefined}
          value={text}
          onInput={(event) => {
            typed.current = true;
            setText(event.currentTarget.value);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => setTimeout(() => setOpen(false), 150)}
        />
        <button type="submit">Search</button>
        <ul id={listId} role="listbox" aria-label="Suggestions" class="suggestions" hidden={!showing}>
          {suggestions.map((suggestion, index) => (
            <li
              key={`${suggestion.kind}-${suggestion.text}-${suggestion.titleId}`}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === active}
              class={index === active ? "active" : ""}
              onMouseDown={(event) => {
                event.preventDefault();
                pick(suggestion);
              }}
            >
              {suggestion.text}
              {suggestion.kind === "SUGGESTION_KIND_PERSON" && <span class="kind"> · person</span>}
            </li>
          ))}
        </ul>
      </div>
    </form>
  );
}

function Facets({ facets, params }: { facets: Facet[]; params: URLSearchParams }) {
  const link = (param: string, value: string | undefined) => {
    const next: Record<string, string | undefined> = Object.fromEntries(params.entries());
    next[param] = value;
    return href("search", next);
  };
  return (
    <nav class="facets" aria-label="Narrow the results">
      {facets
        .filter((facet) => FILTERS[facet.field ?? ""] && (facet.buckets ?? []).length > 0)
        .map((facet) => {
          const filter = FILTERS[facet.field ?? ""]!;
          const chosen = params.get(filter.param);
          return (
            <section key={facet.field} class="facet">
              <h2>{filter.label}</h2>
              <ul>
                {chosen && (
                  <li>
                    <a href={link(filter.param, undefined)}>Any {filter.label.toLowerCase()}</a>
                  </li>
                )}
                {(facet.buckets ?? []).slice(0, 8).map((bucket) => (
                  <li key={bucket.value}>
                    <a
                      href={link(filter.param, bucket.value)}
                      aria-current={chosen === bucket.value ? "true" : undefined}
                    >
                      {CONTENT_TYPES[bucket.value ?? ""] ?? bucket.value}{" "}
                      <span class="count">({bucket.count})</span>
                    </a>
                  </li>
                ))}
              </ul>
            </section>
          );
        })}
    </nav>
  );
}

export function SearchScreen({ profile, params }: { profile: Profile; params: URLSearchParams }) {
  const query = params.get("q") ?? "";
  const key = params.toString();
  const results = useLoad(
    async (signal) => {
      if (!query) return null;
      return api.get("/v1/search", {
        query: {
          q: query,
          profileId: profile.profileId,
          genre: params.get("genre") ?? undefined,
          contentType: params.get("type") ?? undefined,
          ...decadeYears(params.get("decade")),
          pageSize: RESULTS_PER_PAGE,
        },
        signal,
      });
    },
    [key, profile.profileId],
  );
  const data = results.data;
  return (
    <main id="main" class="search-page">
      <h1 class="visually-hidden">Search</h1>
      <SearchBox profile={profile} initial={query} />
      <ErrorMessage error={results.error} onRetry={results.reload} />
      {query && results.loading && <Loading what="results" />}
      {data && (
        <div class="search-results">
          <Facets facets={data.facets ?? []} params={params} />
          <section aria-labelledby="results-heading">
            <h2 id="results-heading" aria-live="polite">
              {data.totalSize ?? 0} result{data.totalSize === 1 ? "" : "s"} for “{query}”
            </h2>
            <ol class="results">
              {(data.results ?? []).map((result) => (
                <li key={result.titleId}>
                  <a href={href(`title/${result.titleId}`)} class="result-link">
                    <span class="result-title">{result.title}</span>
                    <span class="result-meta">
                      {[result.releaseYear, result.maturityRating, CONTENT_TYPES[result.contentType ?? ""]]
                        .filter(Boolean)
                        .join(" · ")}
                    </span>
                  </a>
                </li>
              ))}
            </ol>
          </section>
        </div>
      )}
    </main>
  );
}
