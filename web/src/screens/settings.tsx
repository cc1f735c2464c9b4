// Profile settings: maturity limit and language. Changing either starts the
// profile-update saga on the server (recommendations and search follow the
// new settings); the page follows the saga through GetProfile's
// settings_change until it is applied everywhere or rolled back.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { asApiError, fieldError, type ApiError } from "../api/errors";
import type { components } from "../api/schema";
import { ErrorMessage, Field } from "../components";
import { useFocusOnMount } from "../hooks";
import { limitsFor } from "../ratings";
import { refreshProfile, type Profile } from "../session";
import { LanguageField } from "./auth";

type SagaState = components["schemas"]["v1SagaState"];
type SettingsChange = components["schemas"]["v1ProfileSettingsChange"];

const POLL_MS = 500;
// How long the page follows a saga before saying it is still running.
const FOLLOW_LIMIT_MS = 60_000;
const FINAL: SagaState[] = ["SAGA_STATE_COMPLETED", "SAGA_STATE_COMPENSATED"];

function Outcome({ change, following }: { change: SettingsChange; following: boolean }) {
  switch (change.state) {
    case "SAGA_STATE_COMPLETED":
      return <p class="outcome ok">The change is applied everywhere: home, search and recommendations follow it.</p>;
    case "SAGA_STATE_COMPENSATED":
      return (
        <div class="outcome failed">
          <p>The change could not be applied and was rolled back: the previous settings hold again.</p>
          {change.error?.message && <p class="error-detail">Why: {change.error.message}</p>}
        </div>
      );
    case "SAGA_STATE_COMPENSATING":
      return <p class="outcome">The change failed; undoing it…</p>;
    default:
      return (
        <p class="outcome">
          {following ? "Applying the change to every service…" : "The change is still being applied; check again later."}
        </p>
      );
  }
}

export function SettingsScreen({ profile }: { profile: Profile }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [limit, setLimit] = useState(profile.maturityRating ?? "");
  const [language, setLanguage] = useState(profile.languageCode ?? "");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [change, setChange] = useState<SettingsChange | null>(null);
  const [following, setFollowing] = useState(false);

  // Follows the saga until it ends (bounded), keeping the profile up to date.
  useEffect(() => {
    if (!following) return;
    const controller = new AbortController();
    const deadline = Date.now() + FOLLOW_LIMIT_MS;
    const poll = async () => {
      while (!controller.signal.aborted && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        try {
          const fresh = await api.get("/v1/profiles/{profileId}", {
            path: { profileId: profile.profileId ?? "" },
            signal: controller.signal,
          });
          refreshProfile(fresh);
          setChange(fresh.settingsChange ?? null);
          if (FINAL.includes(fresh.settingsChange?.state ?? "SAGA_STATE_UNSPECIFIED")) {
            setLimit(fresh.maturityRating ?? "");
            setLanguage(fresh.languageCode ?? "");
            break;
          }
        } catch (failure) {
          if (controller.signal.aborted) return;
          setError(asApiError(failure));
          break;
        }
      }
      if (!controller.signal.aborted) setFollowing(false);
    };
    void poll();
    return () => controller.abort();
  }, [following, profile.profileId]);

  const submit = async (event: Event) => {
    event.preventDefault();
    const mask = [
      limit !== profile.maturityRating ? "maturity_rating" : "",
      language !== (profile.languageCode ?? "") ? "language_code" : "",
    ].filter(Boolean);
    if (mask.length === 0) return;
    setBusy(true);
    setError(null);
    setChange(null);
    try {
      const updated = await api.patch("/v1/profiles/{profile.profileId}", {
        path: { "profile.profileId": profile.profileId ?? "" },
        query: { update_mask: mask.join(",") },
        body: { maturityRating: limit, languageCode: language },
      });
      refreshProfile(updated);
      setChange(updated.settingsChange ?? null);
      setFollowing(!FINAL.includes(updated.settingsChange?.state ?? "SAGA_STATE_COMPLETED"));
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="narrow settings">
      <h1 tabIndex={-1} ref={heading}>
        Settings for {profile.profileName}
      </h1>
      <form onSubmit={submit} noValidate>
        <ErrorMessage error={error} />
        <Field
          label="Maturity limit"
          hint={
            profile.kidsProfile
              ? "A kids profile can be limited to PG at most."
              : "Titles rated above this are never shown to this profile."
          }
          error={fieldError(error, "maturity_rating")}
        >
          {(props) => (
            <select {...props} name="maturityRating" value={limit} onChange={(event) => setLimit(event.currentTarget.value)}>
              {limitsFor(Boolean(profile.kidsProfile)).map((rating) => (
                <option key={rating} value={rating}>
                  {rating}
                </option>
              ))}
            </select>
          )}
        </Field>
        <LanguageField
          error={fieldError(error, "language_code")}
          value={language}
          onValue={setLanguage}
          blank="The account's language"
        />
        <button type="submit" disabled={busy || following}>
          {busy ? "Saving…" : "Save"}
        </button>
      </form>
      <div aria-live="polite" class="saga">
        {change && <Outcome change={change} following={following} />}
      </div>
    </main>
  );
}
