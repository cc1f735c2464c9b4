// Who is signed in and which profile is watching: kept in localStorage so a
// reload keeps both, announced to the screens through a tiny store.
import { api, useCredentials } from "./api/client";
import type { components } from "./api/schema";

export type Profile = components["schemas"]["v1Profile"];
export type Account = components["schemas"]["v1Account"];

export interface SignedIn {
  accountId: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  countryCode: string;
}

interface State {
  session: SignedIn | null;
  profile: Profile | null;
}

const SESSION_KEY = "streammesh.session";
const PROFILE_KEY = "streammesh.profile";

function load<T>(key: string): T | null {
  try {
    const text = localStorage.getItem(key);
    return text ? (JSON.parse(text) as T) : null;
  } catch {
    return null;
  }
}

function save(key: string, value: unknown): void {
  if (value === null) localStorage.removeItem(key);
  else localStorage.setItem(key, JSON.stringify(value));
}

let state: State = { session: load<SignedIn>(SESSION_KEY), profile: load<Profile>(PROFILE_KEY) };
const listeners = new Set<() => void>();

export function current(): State {
  return state;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function update(next: Partial<State>): void {
  state = { ...state, ...next };
  save(SESSION_KEY, state.session);
  save(PROFILE_KEY, state.profile);
  for (const listener of listeners) listener();
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const session = state.session;
  if (!session) return false;
  // Concurrent 401s share one refresh: a refresh token is single-use, and a
  // second use of it would end the session (REFRESH_TOKEN_REUSED).
  refreshing ??= (async () => {
    try {
      const renewed = await api.post("/v1/sessions:refresh", {
        body: { refreshToken: session.refreshToken },
      });
      update({
        session: {
          ...session,
          accessToken: renewed.accessToken ?? "",
          refreshToken: renewed.refreshToken ?? session.refreshToken,
        },
      });
      return true;
    } catch {
      signOut();
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

useCredentials({ accessToken: () => state.session?.accessToken ?? null, refresh });

export async function signIn(email: string, password: string): Promise<void> {
  const login = await api.post("/v1/sessions", {
    body: { email, password, deviceType: "DEVICE_TYPE_WEB", deviceName: "Web browser" },
  });
  const session: SignedIn = {
    accountId: login.accountId ?? "",
    sessionId: login.sessionId ?? "",
    accessToken: login.accessToken ?? "",
    refreshToken: login.refreshToken ?? "",
    countryCode: "",
  };
  // A new sign-in never inherits the previous account's profile.
  update({ session, profile: null });
  const account = await api.get("/v1/accounts/{accountId}", {
    path: { accountId: session.accountId },
  });
  update({ session: { ...session, countryCode: account.countryCode ?? "" } });
}

export function signOut(): void {
  update({ session: null, profile: null });
}

/**
 * Switches the watching profile. Screens are keyed by the profile id, so
 * every screen of the previous profile is discarded with its data; the app
 * keeps no response cache, and replies are never stored by the browser
 * (api/client.ts: cache "no-store").
 */
export function selectProfile(profile: Profile | null): void {
  update({ profile });
}

/** The profile after a change (settings): same id, new values. */
export function refreshProfile(profile: Profile): void {
  if (state.profile?.profileId === profile.profileId) update({ profile });
}
