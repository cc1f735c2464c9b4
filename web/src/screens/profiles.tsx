import { useState } from "preact/hooks";
import { api } from "../api/client";
import { asApiError, fieldError, type ApiError } from "../api/errors";
import { ErrorMessage, Field, Loading } from "../components";
import { useFocusOnMount, useLoad } from "../hooks";
import { ADULT_DEFAULT_LIMIT, KIDS_LIMIT, limitsFor } from "../ratings";
import { go, href } from "../router";
import { selectProfile, type Profile, type SignedIn } from "../session";

function AddProfile({ accountId, onAdded }: { accountId: string; onAdded: () => void }) {
  const [name, setName] = useState("");
  const [kids, setKids] = useState(false);
  const [limit, setLimit] = useState(ADULT_DEFAULT_LIMIT);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const limits = limitsFor(kids);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post("/v1/accounts/{accountId}/profiles", {
        path: { accountId },
        body: { profileName: name, kidsProfile: kids, maturityRating: limit },
      });
      setName("");
      onAdded();
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="add-profile" onSubmit={submit} noValidate>
      <h2>Add a profile</h2>
      <ErrorMessage error={error} />
      <Field label="Profile name" error={fieldError(error, "profile_name")}>
        {(props) => (
          <input {...props} value={name} onInput={(event) => setName(event.currentTarget.value)} />
        )}
      </Field>
      <div class="field checkbox">
        <input
          id="kids-profile"
          type="checkbox"
          checked={kids}
          onChange={(event) => {
            const checked = event.currentTarget.checked;
            setKids(checked);
            setLimit(checked ? KIDS_LIMIT : ADULT_DEFAULT_LIMIT);
          }}
        />
        <label for="kids-profile">Kids profile (titles up to {KIDS_LIMIT} only, a simpler look)</label>
      </div>
      <Field label="Maturity limit" error={fieldError(error, "maturity_rating")}>
        {(props) => (
          <select {...props} value={limit} onChange={(event) => setLimit(event.currentTarget.value)}>
            {limits.map((rating) => (
              <option key={rating} value={rating}>
                {rating}
              </option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" disabled={busy}>
        {busy ? "Adding…" : "Add profile"}
      </button>
    </form>
  );
}

export function ProfilesScreen({ session }: { session: SignedIn }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const profiles = useLoad(
    (signal) =>
      api.get("/v1/accounts/{accountId}/profiles", {
        path: { accountId: session.accountId },
        query: { pageSize: 20 },
        signal,
      }),
    [session.accountId],
  );
  const choose = (profile: Profile) => {
    selectProfile(profile);
    go("home");
  };
  return (
    <main id="main" class="profiles-screen">
      <h1 tabIndex={-1} ref={heading}>
        Who's watching?
      </h1>
      <ErrorMessage error={profiles.error} onRetry={profiles.reload} />
      {profiles.loading && !profiles.data && <Loading what="profiles" />}
      <ul class="profile-list">
        {(profiles.data?.profiles ?? []).map((profile) => (
          <li key={profile.profileId}>
            <button
              type="button"
              class={`profile-choice${profile.kidsProfile ? " kids-choice" : ""}`}
              onClick={() => choose(profile)}
            >
              <span class="avatar" aria-hidden="true">
                {(profile.profileName ?? "?").slice(0, 1).toUpperCase()}
              </span>
              <span class="profile-name">{profile.profileName}</span>
              {profile.kidsProfile && <span class="badge">Kids</span>}
            </button>
          </li>
        ))}
      </ul>
      <AddProfile accountId={session.accountId} onAdded={profiles.reload} />
      <p class="account-link">
        <a href={href("account")}>Account and sign out</a>
      </p>
    </main>
  );
}
