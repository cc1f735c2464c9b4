import { api } from "../api/client";
import type { components } from "../api/schema";
import { ErrorMessage, Loading, Row, type Card } from "../components";
import { useFocusOnMount, useLoad } from "../hooks";
import { allows } from "../ratings";
import { href } from "../router";
import type { Profile } from "../session";

type Title = components["schemas"]["v1Title"];
const SIMILAR_COUNT = 12;

export function toCard(title: Title): Card {
  return {
    titleId: title.titleId,
    title: title.title,
    contentType: title.contentType,
    releaseYear: title.releaseYear,
    maturityRating: title.maturityRating,
    genres: title.genres,
    posterUrl: title.artwork?.posterUrl,
  };
}

function Similar({ profile, titleId }: { profile: Profile; titleId: string }) {
  const similar = useLoad(
    async (signal) => {
      const reply = await api.get("/v1/profiles/{profileId}/titles/{titleId}/similar", {
        path: { profileId: profile.profileId ?? "", titleId },
        query: { pageSize: SIMILAR_COUNT },
        signal,
      });
      const titles = await Promise.all(
        (reply.similarTitles ?? []).map((item) =>
          api.get("/v1/titles/{titleId}", { path: { titleId: item.titleId ?? "" }, signal }),
        ),
      );
      // The list is filtered for the profile already; GetTitle is not, so check again.
      return titles.filter((title) => allows(profile.maturityRating, title.maturityRating));
    },
    [profile.profileId, titleId],
  );
  if (similar.loading && !similar.data) return <Loading what="similar titles" />;
  if (similar.error) return <ErrorMessage error={similar.error} onRetry={similar.reload} />;
  const cards = (similar.data ?? []).map(toCard);
  if (cards.length === 0) return null;
  return <Row rowId="similar" heading="More like this" cards={cards} />;
}

function minutes(title: Title): string {
  if (title.seasons) return `${title.seasons} season${title.seasons === 1 ? "" : "s"}`;
  return title.durationMinutes ? `${title.durationMinutes} min` : "";
}

export function TitleScreen({ profile, titleId }: { profile: Profile; titleId: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const title = useLoad(
    (signal) => api.get("/v1/titles/{titleId}", { path: { titleId }, signal }),
    [titleId],
  );
  if (title.loading && !title.data) return <main id="main"><Loading what="the title" /></main>;
  if (title.error || !title.data) {
    return (
      <main id="main">
        <h1 tabIndex={-1} ref={heading}>Title</h1>
        <ErrorMessage error={title.error} onRetry={title.reload} />
      </main>
    );
  }
  const data = title.data;
  // A title page reached by a link, a bookmark or the Back button after a
  // profile switch: the profile's limit decides, not how it got here.
  if (!allows(profile.maturityRating, data.maturityRating)) {
    return (
      <main id="main" class="narrow">
        <h1 tabIndex={-1} ref={heading}>Not available on this profile</h1>
        <p>This title is above {profile.profileName}'s maturity limit.</p>
        <p>
          <a href={href("home")}>Back to home</a>
        </p>
      </main>
    );
  }
  return (
    <main id="main" class="title-page">
      <div class="title-hero">
        {data.artwork?.posterUrl && (
          <img class="title-poster" src={data.artwork.posterUrl} alt={`Poster of ${data.title}`} width={240} height={360} />
        )}
        <div class="title-text">
          <h1 tabIndex={-1} ref={heading}>{data.title}</h1>
          <p class="title-meta">
            {[data.releaseYear, data.maturityRating, minutes(data)].filter(Boolean).join(" · ")}
          </p>
          <p class="title-description">{data.description}</p>
          <a class="button play" href={href(`watch/${data.titleId}`)}>
            ▶ Play
          </a>
          <dl class="title-facts">
            {(data.genres ?? []).length > 0 && (
              <>
                <dt>Genres</dt>
                <dd>{data.genres?.join(", ")}</dd>
              </>
            )}
            {(data.cast ?? []).length > 0 && (
              <>
                <dt>Cast</dt>
                <dd>{data.cast?.slice(0, 6).join(", ")}</dd>
              </>
            )}
            {(data.directors ?? []).length > 0 && (
              <>
                <dt>Directors</dt>
                <dd>{data.directors?.join(", ")}</dd>
              </>
            )}
          </dl>
        </div>
      </div>
      <Similar profile={profile} titleId={titleId} />
    </main>
  );
}
