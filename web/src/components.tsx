import type { ComponentChildren, JSX } from "preact";
import { useId } from "preact/hooks";
import type { components } from "./api/schema";
import type { ApiError } from "./api/errors";
import { href } from "./router";

export type Card = components["schemas"]["v1TitleCard"];

/** An API error in words, announced to screen readers. */
export function ErrorMessage({ error, onRetry }: { error: ApiError | null; onRetry?: () => void }) {
  if (!error) return null;
  const { headline, detail } = error.describe();
  return (
    <div class="error" role="alert">
      <p class="error-headline">{headline}</p>
      {detail && detail !== headline && <p class="error-detail">{detail}</p>}
      {onRetry && (
        <button type="button" class="secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** A labelled form control with its field violation (from the API) beside it. */
export function Field({
  label,
  error,
  hint,
  children,
}: {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (props: {
    id: string;
    "aria-invalid": boolean;
    "aria-describedby"?: string;
  }) => JSX.Element;
}) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": described || undefined })}
      {error && (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

function minutes(seconds: number): string {
  return `${Math.max(1, Math.round(seconds / 60))} min`;
}

export function PosterCard({ card }: { card: Card }) {
  const position = card.positionSeconds ?? 0;
  const duration = card.durationSeconds ?? 0;
  const progress = duration > 0 && position > 0 ? Math.min(100, (100 * position) / duration) : 0;
  return (
    <li class="card">
      <a href={href(`title/${card.titleId}`)} class="card-link" data-title-id={card.titleId}>
        <span class="poster">
          {card.posterUrl ? (
            <img src={card.posterUrl} alt="" loading="lazy" width={180} height={270} />
          ) : (
            <span class="poster-fallback" aria-hidden="true">
              {(card.title ?? "?").slice(0, 1)}
            </span>
          )}
        </span>
        <span class="card-title">{card.title}</span>
        <span class="card-meta">
          {[card.releaseYear, card.maturityRating].filter(Boolean).join(" · ")}
        </span>
        {progress > 0 && (
          <span class="card-progress">
            <span class="visually-hidden">
              {minutes(duration - position)} left of {minutes(duration)}
            </span>
            <span class="bar" aria-hidden="true">
              <span style={{ width: `${progress}%` }} />
            </span>
          </span>
        )}
      </a>
    </li>
  );
}

/**
 * Arrow keys move between cards: left/right along a row, up/down to the
 * row above or below (a TV remote's D-pad sends arrow keys).
 */
function moveFocus(event: JSX.TargetedKeyboardEvent<HTMLElement>): void {
  const keys = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"];
  if (!keys.includes(event.key)) return;
  const link = (event.target as HTMLElement).closest<HTMLElement>(".card-link");
  const row = link?.closest<HTMLElement>(".row");
  if (!link || !row) return;
  const links = Array.from(row.querySelectorAll<HTMLElement>(".card-link"));
  const index = links.indexOf(link);
  let next: HTMLElement | undefined;
  if (event.key === "ArrowLeft") next = links[index - 1];
  if (event.key === "ArrowRight") next = links[index + 1];
  if (event.key === "ArrowUp" || event.key === "ArrowDown") {
    const rows = Array.from(document.querySelectorAll<HTMLElement>(".row"));
    const target = rows[rows.indexOf(row) + (event.key === "ArrowUp" ? -1 : 1)];
    const targetLinks = target ? Array.from(target.querySelectorAll<HTMLElement>(".card-link")) : [];
    next = targetLinks[Math.min(index, targetLinks.length - 1)];
  }
  if (next) {
    event.preventDefault();
    next.focus();
    next.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}

export function Row({
  heading,
  cards,
  rowId,
  children,
}: {
  heading: string;
  cards: Card[];
  rowId: string;
  children?: ComponentChildren;
}) {
  const id = `row-${rowId}`;
  return (
    <section class="row" aria-labelledby={id} data-row={rowId}>
      <h2 id={id}>{heading}</h2>
      {children}
      <ul class="cards" onKeyDown={moveFocus}>
        {cards.map((card) => (
          <PosterCard key={card.titleId} card={card} />
        ))}
      </ul>
    </section>
  );
}
