// A typed client over the public REST API. Every path, parameter, body and
// reply type comes from schema.d.ts, generated from gen/openapi/ (the
// contracts): a contract change the app does not follow fails `tsc`.
import type { paths } from "./schema";
import { ApiError, type RpcStatus } from "./errors";

type Method = "get" | "post" | "put" | "patch" | "delete";
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
/** The paths that have an operation for method M. */
export type PathOf<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];
type Parameters<O> = O extends { parameters: infer X } ? X : never;
type PathParams<O> = Parameters<O> extends { path: infer X } ? X : never;
type QueryParams<O> = Parameters<O> extends { query?: infer X }
  ? [NonNullable<X>] extends [never]
    ? Record<never, never>
    : NonNullable<X>
  : Record<never, never>;
type Body<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
export type Reply<O> = O extends { responses: { 200: { content: { "application/json": infer R } } } }
  ? R
  : never;

export interface RequestOptions<O> {
  path?: PathParams<O>;
  // update_mask: the transcoder takes a FieldMask from the query string; the
  // OpenAPI document leaves it out of PATCH operations whose body is the resource.
  query?: QueryParams<O> & { update_mask?: string };
  body?: Body<O>;
  signal?: AbortSignal;
}

/** Where the access token comes from, and how a lapsed one is renewed. */
export interface Credentials {
  accessToken(): string | null;
  /** Renews the access token once; false when the session is over. */
  refresh(): Promise<boolean>;
}

let credentials: Credentials | null = null;

export function useCredentials(source: Credentials | null): void {
  credentials = source;
}

function fill(template: string, values: Record<string, unknown> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values?.[name];
    if (value === undefined || value === "") throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}

function search(query: Record<string, unknown> | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function send(method: Method, url: string, body: unknown, signal?: AbortSignal) {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = credentials?.accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(url, {
    method: method.toUpperCase(),
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    // Never from or into the HTTP cache: a reply belongs to the profile that
    // asked, and a kids profile must not be shown another profile's page.
    cache: "no-store",
    credentials: "omit",
  });
}

async function failure(response: Response): Promise<ApiError> {
  let status: RpcStatus = { code: 2, message: response.statusText || "unknown error" };
  try {
    const parsed = (await response.json()) as RpcStatus;
    if (typeof parsed === "object" && parsed && typeof parsed.code === "number") status = parsed;
  } catch {
    // Not JSON (a proxy's page): the HTTP status is all there is.
  }
  return new ApiError(response.status, status);
}

export async function call<P extends keyof paths, M extends Method>(
  method: M,
  path: P,
  options: RequestOptions<Operation<P, M>> = {},
): Promise<Reply<Operation<P, M>>> {
  const url =
    fill(String(path), options.path as Record<string, unknown> | undefined) +
    search(options.query as Record<string, unknown> | undefined);
  let response = await send(method, url, options.body, options.signal);
  // An access token lives minutes: renew it once with the refresh token, then retry.
  if (response.status === 401 && credentials?.accessToken() && (await credentials.refresh())) {
    response = await send(method, url, options.body, options.signal);
  }
  if (!response.ok) throw await failure(response);
  return (await response.json()) as Reply<Operation<P, M>>;
}

export const api = {
  get: <P extends PathOf<"get">>(path: P, options?: RequestOptions<Operation<P, "get">>) =>
    call("get", path, options),
  post: <P extends PathOf<"post">>(path: P, options?: RequestOptions<Operation<P, "post">>) =>
    call("post", path, options),
  put: <P extends PathOf<"put">>(path: P, options?: RequestOptions<Operation<P, "put">>) =>
    call("put", path, options),
  patch: <P extends PathOf<"patch">>(path: P, options?: RequestOptions<Operation<P, "patch">>) =>
    call("patch", path, options),
  delete: <P extends PathOf<"delete">>(path: P, options?: RequestOptions<Operation<P, "delete">>) =>
    call("delete", path, options),
};
