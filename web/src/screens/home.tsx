import { api } from "../api/client";
import { ErrorMessage, Loading, Row } from "../components";
import { useFocusOnMount, useLoad } from "../hooks";
import type { Profile } from "../session";

const CARDS_PER_ROW = 20;

export function HomeScreen({ profile }: { profile: Profile }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const home = useLoad(
    (signal) =>
      api.get("/v1/profiles/{profileId}/home", {
        path: { profileId: profile.profileId ?? "" },
        query: { cardsPerRow: CARDS_PER_ROW },
        signal,
      }),
    [profile.profileId],
  );
  const rows = (home.data?.rows ?? []).filter((row) => (row.cards ?? []).length > 0);
  const failed = home.data?.failedRows ?? [];
  return (
    <main id="main" class="home">
      <h1 tabIndex={-1} ref={heading} class="visually-hidden">
        Home for {profile.profileName}
      </h1>
      <ErrorMessage error={home.error} onRetry={home.reload} />
      {home.loading && !home.data && <Loading what="your home screen" />}
      {rows.map((row) => (
        <Row key={row.rowId} rowId={row.rowId ?? ""} heading={row.heading ?? ""} cards={row.cards ?? []} />
      ))}
      {home.data && rows.length === 0 && <p>Nothing to show yet.</p>}
      {failed.length > 0 && (
        <p class="note" role="status">
          {failed.length === 1 ? "One row" : `${failed.length} rows`} could not be loaded right now
          ({failed.map((row) => row.rowId).join(", ")}).{" "}
          <button type="button" class="link" onClick={home.reload}>
            Reload
          </button>
        </p>
      )}
    </main>
  );
}
