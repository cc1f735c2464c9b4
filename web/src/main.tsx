import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { href, useRoute, type Route } from "./router";
import { current, subscribe } from "./session";
import { AccountScreen } from "./screens/account";
import { SignInScreen, SignUpScreen } from "./screens/auth";
import { HomeScreen } from "./screens/home";
import { ProfilesScreen } from "./screens/profiles";
import { SearchScreen } from "./screens/search";
import { SettingsScreen } from "./screens/settings";
import { TitleScreen } from "./screens/title";
import { WatchScreen } from "./screens/player";

function useSession() {
  const [state, setState] = useState(current);
  useEffect(() => subscribe(() => setState(current())), []);
  return state;
}

const TITLES: Record<Route["name"], string> = {
  signin: "Sign in",
  signup: "Create your account",
  profiles: "Who's watching?",
  home: "Home",
  title: "Title",
  watch: "Watching",
  search: "Search",
  settings: "Profile settings",
  account: "Account",
  missing: "Not found",
};

/** Skips the navigation; not a hash link, which the router would take for a route. */
function SkipLink() {
  return (
    <a
      class="skip-link"
      href="#main"
      onClick={(event) => {
        event.preventDefault();
        const main = document.getElementById("main");
        main?.setAttribute("tabindex", "-1");
        main?.focus();
      }}
    >
      Skip to content
    </a>
  );
}

function Header({ profileName, kids }: { profileName?: string; kids: boolean }) {
  return (
    <header class="top">
      <SkipLink />
      <a class="brand" href={href("home")}>
        StreamMesh{kids && <span class="badge">Kids</span>}
      </a>
      <nav aria-label="Main">
        <ul>
          <li><a href={href("home")}>Home</a></li>
          <li><a href={href("search")}>Search</a></li>
          <li><a href={href("settings")}>Settings</a></li>
          {!kids && <li><a href={href("account")}>Account</a></li>}
          <li>
            <a href={href("profiles")} class="switch-profile">
              <span class="visually-hidden">Switch profile (now </span>
              {profileName}
              <span class="visually-hidden">)</span>
            </a>
          </li>
        </ul>
      </nav>
    </header>
  );
}

function App() {
  const route = useRoute();
  const { session, profile } = useSession();
  const kids = Boolean(profile?.kidsProfile);

  useEffect(() => {
    document.title = `${TITLES[route.name]} · StreamMesh`;
  }, [route.name]);
  useEffect(() => {
    document.body.classList.toggle("kids", kids);
  }, [kids]);

  // Signed out: only the sign-in and sign-up screens.
  if (!session) {
    return route.name === "signup" ? <SignUpScreen /> : <SignInScreen />;
  }
  // Signed in without a profile: choose one (the account page stays reachable).
  if (!profile?.profileId || route.name === "profiles" || route.name === "signin" || route.name === "signup") {
    if (route.name === "account") return <AccountScreen session={session} />;
    return <ProfilesScreen session={session} />;
  }
  // Every screen below is keyed by the profile: switching profile discards
  // the previous profile's screens and everything they loaded.
  const key = profile.profileId;
  let screen;
  switch (route.name) {
    case "home":
      screen = <HomeScreen key={key} profile={profile} />;
      break;
    case "title":
      screen = <TitleScreen key={`${key}-${route.titleId}`} profile={profile} titleId={route.titleId} />;
      break;
    case "watch":
      screen = <WatchScreen key={`${key}-${route.titleId}`} profile={profile} titleId={route.titleId} />;
      break;
    case "search":
      screen = <SearchScreen key={key} profile={profile} params={route.params} />;
      break;
    case "settings":
      screen = <SettingsScreen key={key} profile={profile} />;
      break;
    case "account":
      // The account belongs to its holder, not to a kids profile.
      screen = kids ? <ProfilesScreen session={session} /> : <AccountScreen session={session} />;
      break;
    default:
      screen = (
        <main id="main" class="narrow">
          <h1>Page not found</h1>
          <p><a href={href("home")}>Go home</a></p>
        </main>
      );
  }
  return (
    <>
      <Header profileName={profile.profileName} kids={kids} />
      {screen}
    </>
  );
}

render(<App />, document.getElementById("app")!);
