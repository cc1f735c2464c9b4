// Hash routes (#/home, #/title/<id>, ...): the edge serves one page at `/`,
// and every screen is a place the Back button and a bookmark can return to.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "signin" }
  | { name: "signup" }
  | { name: "profiles" }
  | { name: "home" }
  | { name: "title"; titleId: string }
  | { name: "watch"; titleId: string }
  | { name: "search"; params: URLSearchParams }
  | { name: "settings" }
  | { name: "account" }
  | { name: "missing"; path: string };

export function parse(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
    case "home":
      return { name: "home" };
    case "signin":
    case "signup":
    case "profiles":
    case "settings":
    case "account":
      return { name: parts[0] };
    case "title":
    case "watch":
      return parts[1] ? { name: parts[0], titleId: parts[1] } : { name: "missing", path };
    case "search":
      return { name: "search", params: new URLSearchParams(query) };
    default:
      return { name: "missing", path };
  }
}

export function href(path: string, params?: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) if (value) query.set(name, value);
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(path: string, params?: Record<string, string | undefined>): void {
  location.hash = href(path, params);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parse(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}
